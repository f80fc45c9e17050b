"""A separate process that keeps querying the DuckDB file read-only while others write.

    python tests/reliability/reader.py DB_PATH SECONDS

Prints one JSON line: how many queries got in, and the longest wait for one (seconds),
measured from the first attempt to the answer. DuckDB lets one process at a time open
the file, so a reader only gets in between two writers' transactions.
"""

from __future__ import annotations

import json
import sys
import time

import duckdb


def main(db_path: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    queries, longest, failures = 0, 0.0, 0
    while time.monotonic() < deadline:
        asked = time.monotonic()
        while True:
            try:
                with duckdb.connect(db_path, read_only=True) as con:
                    con.execute("SELECT count(*) FROM users").fetchall()
                break
            except duckdb.Error:
                failures += 1  # the file is held by a writer (or not created yet)
                time.sleep(0.02)
        longest = max(longest, time.monotonic() - asked)
        queries += 1
        time.sleep(0.05)
    print(json.dumps({"queries": queries, "longest_wait_s": longest, "refused": failures}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
