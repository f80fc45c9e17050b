"""A listing is read in a few named `read-pages` task runs, not one per page.

The snapshot flow runs against the emulator over loopback and the session's Prefect
server; the task runs are read back from that server.
"""

from __future__ import annotations

import re
from uuid import UUID

import duckdb
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)
from prefect.client.schemas.objects import Artifact, TaskRun

import tasks.page_runs
from flows.params import SnapshotParams
from flows.snapshot_followers import snapshot_followers
from followflow.settings import get_settings
from tasks.listing import ListOutcome
from tests.flows.runs import task_runs

pytestmark = pytest.mark.usefixtures("prefect_harness")

RUN_NAME = re.compile(r"read followers of @ff_demo: pages (\d+)-(\d+)")
PAGES = 31  # ff_demo's 3,098 followers, 100 a page


def snapshot(live) -> tuple[ListOutcome, list[TaskRun]]:  # type: ignore[no-untyped-def]
    """Snapshot ff_demo's followers; the outcome and the flow run's task runs."""
    state = snapshot_followers(
        SnapshotParams(accounts=["ff_demo"], lists="followers"), return_state=True
    )
    (outcome,) = state.result()
    return outcome, task_runs(state.state_details.flow_run_id)


def keyed_artifacts(flow_run_id: UUID | None, key: str) -> list[Artifact]:
    """The flow run's artifacts with `key`."""
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )


def read_runs(runs: list[TaskRun]) -> list[tuple[int, int]]:
    """(first, last) page of each read-pages run, in page order."""
    ranges = []
    for run in runs:
        if run.task_key.startswith("read-pages") or run.name.startswith("read "):
            match = RUN_NAME.fullmatch(run.name)
            assert match, run.name
            ranges.append((int(match[1]), int(match[2])))
    return sorted(ranges)


def followers_in_db(live) -> set[int]:  # type: ignore[no-untyped-def]
    with duckdb.connect(str(live.db_path), read_only=True) as con:
        rows = con.execute(
            "SELECT follower_id FROM current_followers WHERE account_id = ?",
            [live.account_id("ff_demo")],
        ).fetchall()
    return {row[0] for row in rows}


def answered_tokens(live, since: int) -> tuple[list[str | None], list[str | None]]:  # type: ignore[no-untyped-def]
    """Pagination tokens of the followers requests answered 200, and of the failed ones."""
    _, records = live.emulator.traffic.since(since)
    path = f"/2/users/{live.account_id('ff_demo')}/followers"
    reads = [r for r in records if r.path == path]
    return [r.token for r in reads if r.status == 200], [r.token for r in reads if r.status != 200]


def test_each_run_reads_one_window_and_says_which_pages(live_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(window_seconds=5.0)  # 15 reads a window (preset v2-2023)
    monkeypatch.setenv("FOLLOWFLOW_PAGE_SIZE", "100")
    get_settings.cache_clear()
    outcome, runs = snapshot(live)
    assert outcome.status == "complete" and outcome.requests == PAGES
    assert read_runs(runs) == [(1, 15), (16, 30), (31, 31)]
    assert len(runs) == 3 + 1 + 1  # the listing, and the account lookup
    assert all(run.state is not None and run.state.is_completed() for run in runs)
    # A listing of its own has its own progress artifact, made with its first page and
    # updated as the pages came.
    key = f"snapshot-followers-{live.account_id('ff_demo')}"
    (progress,) = keyed_artifacts(runs[0].flow_run_id, key)
    assert progress.data == 100.0
    assert progress.created is not None and progress.updated is not None
    assert progress.updated > progress.created


def test_a_transient_failure_reads_on_without_reading_a_kept_page_again(
    live_factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(limits=False)
    monkeypatch.setenv("FOLLOWFLOW_PAGE_SIZE", "100")
    monkeypatch.setenv("FOLLOWFLOW_MAX_RETRIES", "0")  # every 500 reaches the task run
    get_settings.cache_clear()
    monkeypatch.setattr(tasks.page_runs, "PAGES_PER_RUN", 4)
    monkeypatch.setattr(tasks.page_runs.read_pages, "retry_delay_seconds", [0.0, 0.0])
    # Request 6 (page 6, sent ahead in the run of pages 5-8) fails: that run ends after
    # page 5 and the next starts at page 6, whose first try fails too: Prefect retries it.
    live.emulator.set_faults("script=ok+ok+ok+ok+ok+500+500,on=followers")
    start = live.emulator.traffic.total
    outcome, runs = snapshot(live)
    assert outcome.status == "complete" and outcome.requests == PAGES
    assert followers_in_db(live) == set(live.emulator.truth_followers(live.account_id("ff_demo")))
    answered, failed = answered_tokens(live, start)
    assert len(answered) == len(set(answered)) == PAGES
    assert len(failed) == 2 and failed[0] == failed[1] == answered[5]
    ranges = read_runs(runs)
    assert ranges[:3] == [(1, 4), (5, 8), (6, 9)]
    assert ranges[-1] == (30, 31) and len(ranges) == 9
    retried = [run for run in runs if run.name.endswith("pages 6-9")]
    assert [run.run_count for run in retried] == [2]
