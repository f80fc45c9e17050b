"""Rate-limit efficiency on short windows: followflow, tweepy and twarc2, one and two processes.

    uv run python bench/rate_limits.py                   # ~9 min: 150k single, 2 x 36k dual
    uv run python bench/rate_limits.py --quick           # ~1.5 min: 20k single, 2 x 10k dual
    uv run python bench/rate_limits.py --runs 3 --section single

One `followflow emulator --size large --window-seconds 5` child (preset v2-2023: 15
follower reads per window per token) serves every run; all clients read with the app's
Bearer token, so they share one bucket. The emulator's request log (`GET
/_emulator/requests`) is the referee: it sees every request and every 429, including the
ones tweepy and twarc swallow, and tells clients apart by User-Agent. Windows are rebuilt
from it the way the emulator opens them (on the whole second of the first request after
the previous window closed).

- single: one process reads all followers of `--account` (default ff_150k: 150 pages of
  1,000, so 10 windows): followflow's real `snapshot-followers` flow (a child process,
  real local Prefect server, FOLLOWFLOW_RATE_LIMIT_MARGIN_S=0.01); tweepy 4.17
  `Client(wait_on_rate_limit=True)` + `Paginator(get_users_followers, max_results=1000)`;
  twarc 2.14 `Twarc2.followers(max_results=1000)`.
- dual: two processes of the same tool at once, each reading `--dual-accounts` (default
  ff_team9 + ff_team8: 36 pages each, 72 together, so 5 windows). followflow's two flow
  runs (separate DuckDB files) take turns through the global concurrency limit
  `x:followers:app` on the shared Prefect server.

Columns: span = first to last follower request; ideal = (windows needed - 1) x window;
least used = the lowest share of the 15 reads used in any window but the last; 429/window
= the most 429s one process got in one window. Targets (DESIGN.md §5): one process uses
>= 99% of every window, is within 1 s of ideal and sees no 429; two processes see at
most one 429 each per window.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import (
    Emu,
    WindowReport,
    emulator,
    followflow_env,
    machine_note,
    median,
    prefect_server,
    run_children,
    tmpdir,
    windows_of,
)

TOOLS = ("followflow", "tweepy", "twarc")


@dataclass
class Run:
    tool: str
    processes: int
    wall_s: float  # the slowest process's own wall time
    report: WindowReport
    requests: int
    per_process_429: list[int]
    per_process_max_429_window: list[int]


def _quiet_window(emu: Emu) -> int:
    """Wait until the bucket's current window is over, so runs do not share one; the seq to
    read the log from."""
    total = emu.total_requests()
    rows = [r for r in emu.requests_since(max(0, total - 50)) if r["group"] == "followers"]
    if rows:
        ends = int(rows[-1]["at"]) + emu.window_s + 0.05  # windows open on whole seconds
        time.sleep(max(0.0, ends - time.time()))
    return total


def run_tool(
    tool: str,
    emu: Emu,
    prefect: dict[str, str],
    work: Path,
    accounts: list[str],
    processes: int,
) -> Run:
    seq = _quiet_window(emu)
    tags = [f"p{i + 1}" for i in range(processes)]
    specs: list[dict[str, Any]] = []
    envs = []
    for tag in tags:
        db = work / f"rl-{tool}-{tag}-{time.monotonic_ns()}.duckdb"
        envs.append(followflow_env(emu, prefect, db))
        if tool == "followflow":
            specs.append({"tag": tag, "params": {"accounts": accounts, "lists": "followers"}})
        else:
            peers = [{"id": emu.user(name)["id"]} for name in accounts]
            specs.append({"tag": tag, "base_url": emu.base_url, "bearer": emu.bearer,
                          "accounts": peers})  # fmt: skip
    mode = "flow" if tool == "followflow" else tool
    results = run_children(mode, specs, envs, work, timeout_s=1200)
    for result in results:
        if result.data.get("error"):
            raise SystemExit(f"{tool}: {result['error']}")
    records = [r for r in emu.requests_since(seq) if r["group"] == "followers"]
    report = windows_of(records, "followers", emu.window_s, emu.limit)
    clients = sorted({r["client"] for r in records})
    by_tag = {tag: [c for c in clients if c.endswith(f" {tag}")] for tag in tags}
    per_429 = [sum(report.refused.get(c, 0) for c in by_tag[tag]) for tag in tags]
    per_max = [max((report.max_429_per_window(c) for c in by_tag[tag]), default=0) for tag in tags]
    return Run(
        tool,
        processes,
        max(float(r["elapsed_s"]) for r in results),
        report,
        len(records),
        per_429,
        per_max,
    )


def _table(title: str, runs: dict[str, list[Run]], single: bool) -> None:
    print(f"\n== {title}; median of {len(next(iter(runs.values())))} run(s); {machine_note()}")
    print(
        f"{'tool':<11} {'wall s':>7} {'span s':>7} {'ideal s':>7} {'over s':>7} "
        f"{'requests':>8} {'429s':>9} {'windows':>7} {'least used':>10} {'429/window':>10}  verdict"
    )
    for tool, tool_runs in runs.items():
        wall = median([r.wall_s for r in tool_runs])
        span = median([r.report.span_s for r in tool_runs])
        ideal = median([r.report.ideal_s for r in tool_runs])
        requests = median([r.requests for r in tool_runs])
        refused = [median([r.per_process_429[i] for r in tool_runs]) for i in range(2 if not
                   single else 1)]  # fmt: skip
        windows = median([len(r.report.windows) for r in tool_runs])
        least = min(r.report.least_used for r in tool_runs)
        per_window = max(max(r.per_process_max_429_window) for r in tool_runs)
        verdict = []
        if single:
            verdict.append("OK >= 99%" if least >= 0.99 else "window unused")
            verdict.append("OK within 1 s" if span - ideal <= 1.0 else "slow")
            verdict.append("OK no 429" if sum(refused) == 0 else "429s")
        else:
            verdict.append("OK <= 1 429/window each" if per_window <= 1 else "429s pile up")
            verdict.append("OK windows full" if least >= 0.99 else "window unused")
        print(
            f"{tool:<11} {wall:>7.1f} {span:>7.1f} {ideal:>7.1f} {span - ideal:>7.1f} "
            f"{requests:>8.0f} {'+'.join(f'{n:.0f}' for n in refused):>9} {windows:>7.0f} "
            f"{least:>10.0%} {per_window:>10}  {', '.join(verdict)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--account", default="ff_150k")
    parser.add_argument("--dual-accounts", default="ff_team9,ff_team8")
    parser.add_argument("--window-seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--section", choices=("single", "dual"), action="append")
    parser.add_argument("--quick", action="store_true", help="ff_team9 single, ff_team6 dual")
    args = parser.parse_args()
    if args.quick:
        args.account, args.dual_accounts = "ff_team9", "ff_team6"
    tools = [t for t in args.tools.split(",") if t]
    sections = args.section or ["single", "dual"]
    with tmpdir() as tmp:
        work = Path(tmp)
        with emulator(work, window_s=args.window_seconds) as emu, prefect_server(work) as prefect:
            print(
                f"emulator {emu.base_url}: windows of {emu.window_s:g} s, {emu.limit} follower "
                f"reads each; {machine_note()}"
            )
            if "single" in sections:
                single: dict[str, list[Run]] = {t: [] for t in tools}
                for i in range(args.runs):
                    for tool in tools:
                        run = run_tool(tool, emu, prefect, work, [args.account], 1)
                        single[tool].append(run)
                        print(
                            f"  single run {i + 1} {tool}: span {run.report.span_s:.1f} s "
                            f"(ideal {run.report.ideal_s:.1f}), {run.requests} requests, "
                            f"{sum(run.per_process_429)} 429s",
                            flush=True,
                        )
                _table(f"one process reads @{args.account}", single, single=True)
            if "dual" in sections:
                dual: dict[str, list[Run]] = {t: [] for t in tools}
                accounts = args.dual_accounts.split(",")
                for i in range(args.runs):
                    for tool in tools:
                        run = run_tool(tool, emu, prefect, work, accounts, 2)
                        dual[tool].append(run)
                        print(
                            f"  dual run {i + 1} {tool}: span {run.report.span_s:.1f} s "
                            f"(ideal {run.report.ideal_s:.1f}), {run.requests} requests, "
                            f"429s {run.per_process_429}",
                            flush=True,
                        )
                _table(
                    f"two processes, one token, each reads {' + '.join(accounts)}",
                    dual,
                    single=False,
                )


if __name__ == "__main__":
    main()
