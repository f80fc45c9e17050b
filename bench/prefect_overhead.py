"""Prefect's overhead per page (one task) and per flow run, against a real local server.

    uv run python bench/prefect_overhead.py              # ~1 min
    uv run python bench/prefect_overhead.py --quick      # fewer repetitions
    uv run python bench/prefect_overhead.py --tasks 500 --flows 20

Starts `prefect server start` on loopback (fresh database) and points this process at it
before importing Prefect. Then, medians of several repetitions:
- flow run: an empty flow called in a loop (create the run, Running, Completed).
- task, sequential: N calls of an empty task, timed inside one flow run.
- page run: one task run that builds N real 1,000-user `Page`s (from a body decoded once
  up front) the way a `read-pages` run handles N fetched pages, minus N direct builds:
  what a listing pays Prefect per run, now that a run reads many pages.
- server CPU per task run: the Prefect server's CPU seconds (/proc/<pid>/stat) while it
  records N empty task runs, until its count of task runs stops growing, divided by N.
- task via .submit(): N empty tasks submitted to the thread pool, then waited for.
- global limit: `tasks.limits.hold()` acquire + release of a one-slot limit.
Calibration (DESIGN.md §4): ~5 ms per sequential task, 20-35 ms per .submit, ~1 s per flow
run, 45-65 ms per global-limit round trip.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from _harness import (
    USER_FIELDS,
    machine_note,
    prefect_server,
    server_cpu_s,
    server_task_runs,
    tmpdir,
)


def _page_body() -> dict[str, object]:
    """A real 1,000-user followers page, rendered by the emulator in-process."""
    import httpx

    from followflow.emulator import Emulator

    emu = Emulator.create(seed=1, size="demo", limits=False)
    demo = emu.account("ff_demo")
    request = httpx.Request(
        "GET",
        f"https://api.x.com/2/users/{demo.id}/followers",
        params={"max_results": 1000, "user.fields": ",".join(USER_FIELDS)},
        headers={"Authorization": f"Bearer {emu.app.bearer_token}"},
    )
    import orjson

    body = orjson.loads(emu.handle(request).read())
    assert isinstance(body, dict)
    return body


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _settled_task_runs(env: dict[str, str]) -> int:
    count = server_task_runs(env)
    while True:
        time.sleep(2.0)
        again = server_task_runs(env)
        if again == count:
            return count
        count = again


def measure(args: argparse.Namespace, env: dict[str, str]) -> list[tuple[str, float, str]]:
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from followflow.xapi.models import Page
    from tasks.limits import ensure_limits, hold

    body = _page_body()
    fetched_at = datetime.now(UTC)

    def build_page() -> Page:
        return Page.from_body(
            body, kind="followers", account_id=1, pagination_token=None, fetched_at=fetched_at
        )

    @task(cache_policy=NO_CACHE)
    def empty_task() -> None:
        return None

    @task(cache_policy=NO_CACHE, task_run_name="pages-{n}")
    def page_run(n: int) -> int:
        return sum(build_page().result_count for _ in range(n))

    @flow
    def empty_flow() -> None:
        return None

    @flow
    def loops(n: int) -> dict[str, float]:
        """Seconds for n calls of each kind, timed inside one flow run (no run overhead)."""
        direct = _timed(lambda: [build_page() for _ in range(n)])
        empty = _timed(lambda: [empty_task() for _ in range(n)])
        pages = _timed(lambda: page_run(n))
        submitted = _timed(lambda: [f.result() for f in [empty_task.submit() for _ in range(n)]])
        return {"direct": direct, "empty": empty, "page": pages, "submit": submitted}

    @flow
    def empty_tasks(n: int) -> None:
        for _ in range(n):
            empty_task()

    empty_flow()  # warm up: the first run pays for imports and the client's first connection
    flow_s = statistics.median(_timed(empty_flow) for _ in range(args.flows))
    rows = [("flow run (empty flow, sequential)", flow_s * 1000, "ms per run")]
    n = args.tasks
    runs = [loops(n) for _ in range(args.reps)]

    def per_task(key: str, minus: str | None = None) -> float:
        values = [(r[key] - (r[minus] if minus else 0.0)) / n * 1000 for r in runs]
        return statistics.median(values)

    rows.append(("task, sequential (empty)", per_task("empty"), "ms per task"))
    page_run_ms = statistics.median((r["page"] - r["direct"]) * 1000 for r in runs)
    rows.append((f"page run ({n} pages), minus the calls", page_run_ms, "ms per run"))
    rows.append(("task via .submit() (empty)", per_task("submit"), "ms per task"))
    runs_before, cpu_before = _settled_task_runs(env), server_cpu_s(env)
    empty_tasks(n)
    recorded = _settled_task_runs(env) - runs_before
    cpu_per_run = (server_cpu_s(env) - cpu_before) / max(recorded, 1) * 1000
    rows.append(("server CPU per task run (empty)", cpu_per_run, f"ms ({recorded} runs)"))
    ensure_limits("bench:overhead")

    def hold_once() -> None:
        with hold("bench:overhead"):
            pass

    hold_once()
    holds = sorted(_timed(hold_once) for _ in range(args.holds))
    rows.append(("global limit hold() acquire+release", statistics.median(holds) * 1000,
                 f"ms (max {holds[-1] * 1000:.0f} ms)"))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200, help="tasks per flow")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of the task loops")
    parser.add_argument("--flows", type=int, default=10, help="empty flow runs")
    parser.add_argument("--holds", type=int, default=30, help="global-limit round trips")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.reps, args.flows, args.holds = 50, 1, 3, 10
    with tmpdir() as tmp, prefect_server(Path(tmp)) as env:
        os.environ.update(env)  # before Prefect is imported: it reads settings then
        started = time.perf_counter()
        import prefect  # noqa: F401

        print(f"import prefect {time.perf_counter() - started:.2f} s; {machine_note()}")
        rows = measure(args, env)
    print(
        f"\n== Prefect overhead, real server; medians ({args.tasks} tasks x {args.reps} reps, "
        f"{args.flows} flow runs, {args.holds} holds); {machine_note()}"
    )
    for label, value, unit in rows:
        print(f"{label:<40} {value:>8.1f} {unit}")


if __name__ == "__main__":
    main()
