"""A separate process that keeps querying the store read-only while others write.

    python tests/reliability/reader.py DB_PATH SECONDS

With FOLLOWFLOW_DATABASE_URL set it reads that PostgreSQL store instead of DB_PATH.

Prints one JSON line: how many queries got in, and the longest wait for one (seconds),
measured from the first attempt to the answer. DuckDB lets one process at a time open
the file, so a reader only gets in between two writers' transactions.
"""

from __future__ import annotations

import json
import os
import sys
import time

import duckdb
import psycopg


def _ask_duckdb(db_path: str) -> None:
    with duckdb.connect(db_path, read_only=True) as con:
        con.execute("SELECT count(*) FROM users").fetchall()


def _ask_postgres(url: str) -> None:
    with psycopg.connect(url) as con:
        con.execute("SELECT count(*) FROM users").fetchall()


def main(db_path: str, seconds: float) -> None:
    url = os.environ.get("FOLLOWFLOW_DATABASE_URL")
    deadline = time.monotonic() + seconds
    queries, longest, failures = 0, 0.0, 0
    while time.monotonic() < deadline:
        asked = time.monotonic()
        while True:
            try:
                _ask_postgres(url) if url else _ask_duckdb(db_path)
                break
            except (duckdb.Error, psycopg.Error):
                failures += 1  # the file is held by a writer (or not created yet)
                time.sleep(0.02)
        longest = max(longest, time.monotonic() - asked)
        queries += 1
        time.sleep(0.05)
    print(json.dumps({"queries": queries, "longest_wait_s": longest, "refused": failures}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
