"""Limits off: followers per second end to end and peak memory, followflow against tweepy.

    uv run python bench/throughput.py                  # 10k, 100k, 1M followers; 3 runs
    uv run python bench/throughput.py --quick          # 10k and 100k, 1 run
    uv run python bench/throughput.py --sizes 1000000 --runs 5
    uv run python bench/throughput.py --sizes 1000000 --store postgres   # + PostgreSQL store

One `followflow emulator --size large --no-limits` child serves every run. For each
account, each run takes:
- followflow: the real `snapshot-followers` flow (lists=followers, a fresh DuckDB file, so
  every run is a first, complete snapshot) in a child process, against a real local
  `prefect server start`: HTTP, parse, `read-pages` task runs of up to 300 pages, every
  page spooled to disk and staged in DuckDB about once a second, the profiles upsert and
  the final diff/apply. Followers/s = followers / the flow call's wall time
  (account lookup, estimate and flow-run bookkeeping included; Python + Prefect import
  excluded and printed apart). Peak memory = the child's `ru_maxrss`.
- tweepy 4.17: a bare `Paginator(get_users_followers, max_results=1000)` loop with the same
  `user.fields`, in a child process, storing nothing (its Response parsing included).
With `--store postgres` each run also takes the same followflow snapshot on a fresh
database of a throwaway local PostgreSQL cluster (FOLLOWFLOW_DATABASE_URL; tests/postgres.py),
right after the DuckDB one, with the CPU seconds of the cluster's processes meanwhile
(the database is dropped after it).
Around each followflow run: the task runs the Prefect server recorded for it (its count,
once it stops growing) and the CPU seconds the server's processes used meanwhile
(/proc/<pid>/stat, user + system).
The accounts are the large world's ff_team6 (10,000), ff_100k (100,000) and ff_million
(1,000,000). Targets (DESIGN.md §5): >= 50,000 followers/s
for 1M, at least as fast as tweepy, <= 400 MB; the PostgreSQL store >= 80% of the DuckDB
store's rate, <= 400 MB.
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import (
    emulator,
    followflow_env,
    machine_note,
    median,
    postgres_cluster,
    postgres_cpu_s,
    prefect_server,
    run_child,
    server_cpu_s,
    server_task_runs,
    tmpdir,
)

ACCOUNTS = {10_000: "ff_team6", 100_000: "ff_100k", 1_000_000: "ff_million"}
# The server records task runs from events after the flow has returned; the count has
# settled once it stays put this long.
SETTLE_S = 2.0


def settled_task_runs(prefect: dict[str, str]) -> int:
    """The server's task-run count once it has stopped growing."""
    count = server_task_runs(prefect)
    while True:
        time.sleep(SETTLE_S)
        again = server_task_runs(prefect)
        if again == count:
            return count
        count = again


@dataclass
class Figures:
    """One client's runs of one account: rates, peak memory, and what the servers did."""

    rates: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    import_s: list[float] = field(default_factory=list)
    task_runs: list[float] = field(default_factory=list)
    server_cpu_s: list[float] = field(default_factory=list)
    postgres_cpu_s: list[float] = field(default_factory=list)


def followflow_run(
    store: str, name: str, run: int, count: int, ctx: dict[str, Any], figures: Figures
) -> str:
    """One followflow snapshot child on a fresh store; its figures appended; a report line."""
    emu, prefect, work, cluster = ctx["emu"], ctx["prefect"], ctx["work"], ctx["cluster"]
    db = work / f"tp-{name}-{run}.duckdb"
    extra = {}
    if store == "postgres":
        extra["DATABASE_URL"] = cluster.create_database(f"tp_{name}_{run}")
    env = followflow_env(emu, prefect, db, **extra)
    spec = {"params": {"accounts": [name], "lists": "followers"}}
    runs_before, cpu_before = settled_task_runs(prefect), server_cpu_s(prefect)
    pg_before = postgres_cpu_s(cluster) if store == "postgres" else 0.0
    ff = run_child("flow", spec, env, work)
    if store == "postgres":
        figures.postgres_cpu_s.append(postgres_cpu_s(cluster) - pg_before)
        # Gone before the next run starts: autovacuum would otherwise work through its
        # million new rows (a few CPU seconds) during the next runs, of any store.
        cluster.drop_database(f"tp_{name}_{run}")
    figures.task_runs.append(settled_task_runs(prefect) - runs_before)
    figures.server_cpu_s.append(server_cpu_s(prefect) - cpu_before)
    if ff["error"] or ff["users"] != count:
        raise SystemExit(f"followflow ({store}) run failed: {ff['error']} ({ff['users']})")
    figures.rates.append(count / ff["elapsed_s"])
    figures.rss_mb.append(ff["maxrss_mb"])
    figures.import_s.append(ff["import_s"])
    pg = f", PostgreSQL CPU {figures.postgres_cpu_s[-1]:.1f} s" if store == "postgres" else ""
    return (
        f"followflow/{store} {figures.rates[-1]:,.0f}/s ({ff['elapsed_s']:.2f} s, "
        f"{figures.rss_mb[-1]:.0f} MB, {figures.task_runs[-1]:.0f} task runs, "
        f"server CPU {figures.server_cpu_s[-1]:.1f} s{pg})"
    )


def tweepy_run(name: str, count: int, ctx: dict[str, Any], figures: Figures) -> str:
    """One tweepy child reading the same list; its figures appended; a report line."""
    emu, prefect, work = ctx["emu"], ctx["prefect"], ctx["work"]
    peer = {"base_url": emu.base_url, "bearer": emu.bearer,
            "accounts": [{"id": emu.user(name)["id"]}]}  # fmt: skip
    tw = run_child("tweepy", peer, followflow_env(emu, prefect, work / "unused.duckdb"), work)
    if tw["users"] != count:
        raise SystemExit(f"tweepy read {tw['users']} of {count}")
    figures.rates.append(count / tw["elapsed_s"])
    figures.rss_mb.append(tw["maxrss_mb"])
    return f"tweepy {figures.rates[-1]:,.0f}/s ({tw['elapsed_s']:.2f} s, {tw['maxrss_mb']:.0f} MB)"


def verdicts(store: str, count: int, ff: Figures, duckdb: Figures, tweepy: Figures) -> str:
    """The targets this row is held to (DESIGN.md §5, and the PostgreSQL store's issue)."""
    rate, rss = median(ff.rates), max(ff.rss_mb)
    out = []
    if count == 1_000_000:
        out.append("OK >= 50k/s" if rate >= 50_000 else "below 50k/s")
        out.append("OK <= 400 MB" if rss <= 400 else "over 400 MB")
    if store == "postgres":
        share = rate / median(duckdb.rates)
        out.append(f"{share:.0%} of DuckDB: " + ("OK >= 80%" if share >= 0.8 else "below 80%"))
    out.append("OK >= tweepy" if rate >= median(tweepy.rates) else "slower than tweepy")
    return ", ".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=sorted(ACCOUNTS),
        help=f"comma-separated, from {sorted(ACCOUNTS)}",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10k and 100k, one run")
    parser.add_argument(
        "--store",
        choices=("duckdb", "postgres"),
        default="duckdb",
        help="postgres: also run every followflow snapshot on a throwaway PostgreSQL "
        "cluster (FOLLOWFLOW_DATABASE_URL), beside the DuckDB file in the same run",
    )
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.runs = [10_000, 100_000], 1
    unknown = [s for s in args.sizes if s not in ACCOUNTS]
    if unknown:
        parser.error(f"no account of size {unknown}; pick from {sorted(ACCOUNTS)}")
    stores = ["duckdb", "postgres"] if args.store == "postgres" else ["duckdb"]
    table: list[tuple[str, int, dict[str, Figures]]] = []
    with ExitStack() as stack:
        work = Path(stack.enter_context(tmpdir()))
        emu = stack.enter_context(emulator(work, limits=False))
        prefect = stack.enter_context(prefect_server(work))
        cluster = stack.enter_context(postgres_cluster()) if "postgres" in stores else None
        ctx = {"emu": emu, "prefect": prefect, "work": work, "cluster": cluster}
        print(f"emulator {emu.base_url} (limits off); stores {', '.join(stores)}; {machine_note()}")
        for size in args.sizes:
            name = ACCOUNTS[size]
            count = emu.followers_count(name)
            figures = {client: Figures() for client in [*stores, "tweepy"]}
            for run in range(args.runs):
                lines = [followflow_run(st, name, run, count, ctx, figures[st]) for st in stores]
                lines.append(tweepy_run(name, count, ctx, figures["tweepy"]))
                print(f"  {name} run {run + 1}: " + "; ".join(lines), flush=True)
            table.append((name, count, figures))
    print()
    print(f"== throughput, limits off: median of {args.runs} run(s); {machine_note()}")
    print(
        f"{'account':<11} {'followers':>10} {'client':<19} {'per s':>9} {'peak MB':>8} "
        f"{'task runs':>9} {'server CPU s':>12} {'PG CPU s':>8}  verdict"
    )
    for name, count, figures in table:
        tweepy = figures["tweepy"]
        print(
            f"{name:<11} {count:>10,} {'tweepy':<19} {median(tweepy.rates):>9,.0f} "
            f"{max(tweepy.rss_mb):>8.0f}"
        )
        for store in stores:
            ff = figures[store]
            pg = f"{median(ff.postgres_cpu_s):>8.1f}" if ff.postgres_cpu_s else f"{'':>8}"
            print(
                f"{'':<11} {'':>10} {'followflow/' + store:<19} {median(ff.rates):>9,.0f} "
                f"{max(ff.rss_mb):>8.0f} {median(ff.task_runs):>9.0f} "
                f"{median(ff.server_cpu_s):>12.1f} {pg}  "
                + verdicts(store, count, ff, figures["duckdb"], tweepy)
            )
    first = table[0][2]["duckdb"]
    print(f"(followflow child: Python + Prefect + flow imports {median(first.import_s):.2f} s, "
          "not counted)")  # fmt: skip


if __name__ == "__main__":
    main()
