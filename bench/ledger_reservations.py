"""Benchmark: 8 processes reserving follows against one app's budget at once, per backend.

    uv run python bench/ledger_reservations.py               # both backends, 3 runs
    uv run python bench/ledger_reservations.py --processes 8 --budget 1000 --runs 5

Each process reserves follows for its own accounts (so the per-user 400 never binds)
until the per-app budget answers "spent", one unit of work per reservation as a campaign
task does (open the store, reserve, let it go). Reported: reservations per second over
the whole race, and the most rows ever granted in one window, which must equal the
budget exactly. PostgreSQL runs on a throwaway cluster (tests/postgres.py: Debian's
binaries, 127.0.0.1), the DuckDB file in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RACER = """
import json, sys, time
from datetime import datetime, UTC
from followflow.campaigns.budgets import Budgets
from followflow.campaigns.ledger import Reservation, reserve
from followflow.settings import get_settings
from followflow.store.connection import connect

worker, budget = int(sys.argv[1]), int(sys.argv[2])
budgets = Budgets(follow_budget_per_user=400, follow_budget_per_app=budget)
now = datetime(2026, 1, 1, tzinfo=UTC)
store, granted, target = get_settings().store, 0, 0
with connect(store):
    pass  # migrated and warm before the start line
start_at = float(sys.argv[3])
time.sleep(max(0.0, start_at - time.time()))
started = time.perf_counter()
while True:
    target += 1
    account = worker * 1000 + target // 300  # a new account every 300: per-user never binds
    with connect(store) as con:
        r = reserve(con, app_id="bench", account_id=account, action="follow",
                    target_id=target, run_id=f"w{worker}", now=now, budgets=budgets)
    if not isinstance(r, Reservation):
        break
    granted += 1
print(json.dumps({"granted": granted, "seconds": time.perf_counter() - started}))
"""


def race(env: dict[str, str], processes: int, budget: int) -> dict[str, float]:
    start_at = time.time() + 3.0
    children = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(i), str(budget), str(start_at)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]
    results = [json.loads(c.communicate(timeout=600)[0]) for c in children]
    granted = sum(r["granted"] for r in results)
    seconds = max(r["seconds"] for r in results)
    return {"granted": granted, "per_s": granted / seconds, "seconds": seconds}


def window_rows(store: object) -> int:
    from followflow.store.connection import connect

    with connect(store) as con:  # type: ignore[arg-type]
        rows = con.execute(
            "SELECT count(*) FROM actions WHERE app_id = 'bench' AND reserved_at > ?",
            [datetime(2025, 12, 31, tzinfo=UTC)],
        ).fetchall()
    return int(rows[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="duckdb,postgres")
    args = parser.parse_args()

    from pydantic import SecretStr

    from followflow.store.location import PostgresUrl
    from followflow.store.postgres import close_pools
    from tests.postgres import PostgresCluster, postgres_bin_dir

    base = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWFLOW_")}
    base["PYTHONPATH"] = str(ROOT)
    cluster = None
    table = []
    try:
        for backend in args.backends.split(","):
            figures = []
            for run in range(args.runs):
                if backend == "postgres":
                    if cluster is None:
                        bin_dir = postgres_bin_dir()
                        assert bin_dir is not None, "apt-get install postgresql"
                        cluster = PostgresCluster(bin_dir).start()
                    url = cluster.create_database(f"ledger_bench_{run}")
                    env, store = (
                        base | {"FOLLOWFLOW_DATABASE_URL": url},
                        PostgresUrl(SecretStr(url)),
                    )
                    folder = None
                else:
                    folder = tempfile.mkdtemp(prefix="ff-ledger-bench-")
                    path = Path(folder) / "ledger.duckdb"
                    env, store = base | {"FOLLOWFLOW_DB_PATH": str(path)}, path
                result = race(env, args.processes, args.budget)
                result["in_window"] = window_rows(store)
                close_pools()
                figures.append(result)
                print(backend, run + 1, json.dumps(result), flush=True)
            table.append(
                (
                    backend,
                    statistics.median(f["per_s"] for f in figures),
                    max(f["in_window"] for f in figures),
                    min(f["in_window"] for f in figures),
                )
            )
    finally:
        if cluster is not None:
            cluster.stop()
    load = os.getloadavg()
    print(f"\n{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{args.processes} processes, app budget {args.budget}, {args.runs} runs (median)")
    print("| store | reservations/s | most granted in one window (min-max over runs) |")
    print("|---|---:|---:|")
    for backend, per_s, most, least in table:
        print(f"| {backend} | {per_s:,.0f} | {least:,}-{most:,} (budget {args.budget:,}) |")


if __name__ == "__main__":
    main()
