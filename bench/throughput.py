"""Limits off: followers per second end to end and peak memory, followflow against tweepy.

    uv run python bench/throughput.py                  # 10k, 100k, 1M followers; 3 runs
    uv run python bench/throughput.py --quick          # 10k and 100k, 1 run
    uv run python bench/throughput.py --sizes 1000000 --runs 5

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
Around each followflow run: the task runs the Prefect server recorded for it (its count,
once it stops growing) and the CPU seconds the server's processes used meanwhile
(/proc/<pid>/stat, user + system).
The accounts are the large world's ff_team6 (10,000), ff_100k (100,000) and ff_million
(1,000,000). Targets (DESIGN.md §5): >= 50,000 followers/s
for 1M, at least as fast as tweepy, <= 400 MB.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _harness import (
    emulator,
    followflow_env,
    machine_note,
    median,
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
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.runs = [10_000, 100_000], 1
    unknown = [s for s in args.sizes if s not in ACCOUNTS]
    if unknown:
        parser.error(f"no account of size {unknown}; pick from {sorted(ACCOUNTS)}")
    rows = []
    with tmpdir() as tmp:
        work = Path(tmp)
        with emulator(work, limits=False) as emu, prefect_server(work) as prefect:
            print(f"emulator {emu.base_url} (limits off); {machine_note()}")
            for size in args.sizes:
                name = ACCOUNTS[size]
                account = emu.user(name)
                count = emu.followers_count(name)
                ff_rates, ff_rss, ff_import, tw_rates, tw_rss = [], [], [], [], []
                task_runs, server_cpu = [], []
                for run in range(args.runs):
                    db = work / f"tp-{name}-{run}.duckdb"
                    env = followflow_env(emu, prefect, db)
                    spec = {"params": {"accounts": [name], "lists": "followers"}}
                    runs_before, cpu_before = settled_task_runs(prefect), server_cpu_s(prefect)
                    ff = run_child("flow", spec, env, work)
                    task_runs.append(settled_task_runs(prefect) - runs_before)
                    server_cpu.append(server_cpu_s(prefect) - cpu_before)
                    if ff["error"] or ff["users"] != count:
                        raise SystemExit(f"followflow run failed: {ff['error']} ({ff['users']})")
                    ff_rates.append(count / ff["elapsed_s"])
                    ff_rss.append(ff["maxrss_mb"])
                    ff_import.append(ff["import_s"])
                    peer = {"base_url": emu.base_url, "bearer": emu.bearer,
                            "accounts": [{"id": account["id"]}]}  # fmt: skip
                    tw = run_child("tweepy", peer, followflow_env(emu, prefect, db), work)
                    if tw["users"] != count:
                        raise SystemExit(f"tweepy read {tw['users']} of {count}")
                    tw_rates.append(count / tw["elapsed_s"])
                    tw_rss.append(tw["maxrss_mb"])
                    print(
                        f"  {name} run {run + 1}: followflow {ff_rates[-1]:,.0f}/s "
                        f"({ff['elapsed_s']:.2f} s, {ff_rss[-1]:.0f} MB, {task_runs[-1]} "
                        f"task runs, server CPU {server_cpu[-1]:.1f} s); "
                        f"tweepy {tw_rates[-1]:,.0f}/s ({tw['elapsed_s']:.2f} s, "
                        f"{tw_rss[-1]:.0f} MB)",
                        flush=True,
                    )
                rows.append(
                    (name, count, median(ff_rates), max(ff_rss), median(ff_import),
                     median(tw_rates), max(tw_rss), median(task_runs), median(server_cpu))
                )  # fmt: skip
    print()
    print(f"== throughput, limits off: median of {args.runs} run(s); {machine_note()}")
    print(
        f"{'account':<11} {'followers':>10} {'followflow/s':>13} {'peak MB':>8} "
        f"{'tweepy/s':>10} {'peak MB':>8} {'ff/tweepy':>9} {'task runs':>9} "
        f"{'server CPU s':>12}  verdict"
    )
    for name, count, ff_rate, rss, _imp, tw_rate, tw_rss, runs, cpu in rows:
        verdict = []
        if count == 1_000_000:
            verdict.append("OK >= 50k/s" if ff_rate >= 50_000 else "below 50k/s")
            verdict.append("OK <= 400 MB" if rss <= 400 else "over 400 MB")
        verdict.append("OK >= tweepy" if ff_rate >= tw_rate else "slower than tweepy")
        print(
            f"{name:<11} {count:>10,} {ff_rate:>13,.0f} {rss:>8.0f} {tw_rate:>10,.0f} "
            f"{tw_rss:>8.0f} {ff_rate / tw_rate:>9.2f} {runs:>9.0f} {cpu:>12.1f}  "
            f"{', '.join(verdict)}"
        )
    print(f"(followflow child: Python + Prefect + flow imports {rows[0][4]:.2f} s, not counted)")


if __name__ == "__main__":
    main()
