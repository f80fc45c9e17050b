"""Lists that fit in one window are read many to a task run, under one lease for their
slots; one that cannot finish there reads on as a listing of its own.

The snapshot flow runs against the emulator over loopback and the session's Prefect
server; task runs, artifacts and slots are read back from that server.
"""

from __future__ import annotations

import subprocess
import sys
from uuid import UUID

import duckdb
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
)
from prefect.client.schemas.objects import Artifact, TaskRun

import flows.snapshot_followers
import tasks.page_runs
import tasks.short_lists
from flows.params import SnapshotParams
from flows.snapshot_followers import SnapshotFailed, snapshot_followers
from followflow.settings import get_settings
from tasks.listing import ListOutcome
from tests.flows.runs import task_runs
from tests.windows import most_in_any_window

pytestmark = pytest.mark.usefixtures("prefect_harness")

SMALL = ["ff_zero", "ff_one", "ff_999", "ff_1000", "ff_1001", "ff_alice"]
HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(60)
"""


def snapshot(names: list[str], lists: str) -> tuple[list[ListOutcome], list[TaskRun], UUID]:
    state = snapshot_followers(SnapshotParams(accounts=names, lists=lists), return_state=True)
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    return state.result(), task_runs(flow_run_id), flow_run_id


def run_artifacts(flow_run_id: UUID) -> list[Artifact]:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )


def progress_artifacts(flow_run_id: UUID) -> list[Artifact]:
    return [a for a in run_artifacts(flow_run_id) if a.type == "progress"]


def held_x_slots() -> list[str]:
    with get_client(sync_client=True) as client:
        limits = client.read_global_concurrency_limits(limit=200)
    return [lim.name for lim in limits if lim.name.startswith("x:") and lim.active_slots]


def stored(live, kind: str, username: str) -> set[int]:  # type: ignore[no-untyped-def]
    view, column = (
        ("current_followers", "follower_id")
        if kind == "followers"
        else ("current_following", "followed_id")
    )
    with duckdb.connect(str(live.db_path), read_only=True) as con:
        rows = con.execute(
            f"SELECT {column} FROM {view} WHERE account_id = ?", [live.account_id(username)]
        ).fetchall()
    return {row[0] for row in rows}


def truth(live, kind: str, username: str) -> set[int]:  # type: ignore[no-untyped-def]
    account_id = live.account_id(username)
    if kind == "followers":
        return set(live.emulator.truth_followers(account_id))
    return set(live.emulator.truth_following(account_id))


def test_short_lists_are_read_many_to_a_run(live_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(limits=False)
    monkeypatch.setattr(tasks.short_lists, "SHORT_LISTS_PER_RUN", 5)
    outcomes, runs, flow_run_id = snapshot(SMALL, "both")
    assert [(o.account, o.kind, o.status) for o in outcomes] == [
        (name, kind, "complete") for name in SMALL for kind in ("followers", "following")
    ]
    for name in SMALL:
        for kind in ("followers", "following"):
            assert stored(live, kind, name) == truth(live, kind, name), (name, kind)
    names = sorted(run.name for run in runs if run.name.startswith("snapshot"))
    # Twelve lists, five to a run, largest first: no listing of its own, no read-pages run.
    assert [name.split(" short lists")[0] for name in names] == [
        "snapshot 2",
        "snapshot 5",
        "snapshot 5",
    ]
    assert not [run for run in runs if run.name.startswith(("snapshot-", "read "))]
    assert sorted(a.data for a in progress_artifacts(flow_run_id)) == [100.0] * 3  # type: ignore[type-var]
    assert held_x_slots() == []
    # Each account's report summary, written as soon as both its lists were read.
    summaries = {a.key: str(a.data) for a in run_artifacts(flow_run_id) if a.type == "markdown"}
    for name in SMALL:
        summary = summaries[f"account-{live.account_id(name)}"]
        assert summary.startswith(f"# followflow report: @{name}")


def test_a_short_list_meeting_a_transient_error_reads_on_as_its_own_listing(
    live_factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(limits=False)
    monkeypatch.setenv("FOLLOWFLOW_PAGE_SIZE", "200")  # ff_1001: 6 pages
    monkeypatch.setenv("FOLLOWFLOW_MAX_RETRIES", "0")  # the 500 reaches the listing
    get_settings.cache_clear()
    monkeypatch.setattr(tasks.page_runs.read_pages, "retry_delay_seconds", [0.0, 0.0])
    # The third request fails: the list has kept two pages when it is handed over.
    live.emulator.set_faults("script=ok+ok+500,on=followers")
    start = live.emulator.traffic.total
    outcomes, runs, _ = snapshot(["ff_1001"], "followers")
    assert [(o.status, o.pages) for o in outcomes] == [("complete", 6)]
    assert stored(live, "followers", "ff_1001") == truth(live, "followers", "ff_1001")
    _, records = live.emulator.traffic.since(start)
    path = f"/2/users/{live.account_id('ff_1001')}/followers"
    answered = [r.token for r in records if r.path == path and r.status == 200]
    assert len(answered) == len(set(answered)) == 6, "no kept page was read again"
    names = {run.name for run in runs}
    assert "snapshot 1 short lists from @ff_1001" in names
    assert "snapshot-followers-ff_1001" in names
    assert "read followers of @ff_1001: pages 3-6" in names
    assert held_x_slots() == []


def test_short_lists_sharing_a_spent_window_hand_over_and_wait_for_the_reset(
    live_factory,
) -> None:  # type: ignore[no-untyped-def]
    # Read with the app's token, every followers list shares one bucket of 15 reads a
    # window: 40 lists of a page or more take three windows. Eight read at once in the
    # run; unless they take turns on the bucket, several are in flight as it runs out.
    live = live_factory(window_seconds=2.0, fleet=40)
    names = [f"ff_fleet{i}" for i in range(40)]
    start = live.emulator.traffic.total
    outcomes, runs, _ = snapshot(names, "followers")
    assert {o.status for o in outcomes} == {"complete"}
    for name in names:
        assert stored(live, "followers", name) == truth(live, "followers", name), name
    # How many are handed over depends on how many 2 s windows reset while the shared run
    # reads: 25 of 40 run alone, 10 once in a whole `uv run pytest` on 2 cores. None means
    # the shared run waited out the window itself.
    own = [run.name for run in runs if run.name.startswith("snapshot-followers-")]
    assert own, "the lists past the spent window were handed over"
    _, records = live.emulator.traffic.since(start)
    reads = [r for r in records if r.path.endswith("/followers")]
    refused = [r.at for r in reads if r.status == 429]
    assert most_in_any_window(refused, 2.0) <= 1, "at most one 429 per window"
    assert held_x_slots() == []


def test_a_store_held_elsewhere_fails_each_list_alone_and_says_why(
    live_factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Every list's outcome is reported, not only the first store error of the run."""
    live = live_factory(limits=False)
    monkeypatch.setenv("FOLLOWFLOW_DB_LOCK_TIMEOUT_S", "0.5")
    get_settings.cache_clear()
    holders: list[subprocess.Popen[str]] = []
    resolve = flows.snapshot_followers.resolve_accounts

    def resolve_then_lose_the_store(refs):  # type: ignore[no-untyped-def]
        resolved = resolve(refs)  # it writes the profiles: the file is free until then
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(live.db_path)], stdout=subprocess.PIPE, text=True
        )
        holders.append(holder)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        return resolved

    monkeypatch.setattr(flows.snapshot_followers, "resolve_accounts", resolve_then_lose_the_store)
    try:
        with pytest.raises(SnapshotFailed) as failed:
            snapshot_followers(SnapshotParams(accounts=["ff_one", "ff_999"], lists="both"))
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()
            assert holder.stdout is not None
            holder.stdout.close()
    message = str(failed.value)
    for name in ("ff_one", "ff_999"):
        for kind in ("followers", "following"):
            assert f"@{name} {kind}: DatabaseLocked" in message
    assert f"kill {holders[0].pid}" in message
