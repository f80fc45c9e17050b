"""The snapshot-followers flow against the emulator over loopback, with real Prefect runs."""

from __future__ import annotations

import duckdb
import pytest
from prefect.client.orchestration import get_client

from flows.params import MAX_ACCOUNTS_PER_RUN, SnapshotParams
from flows.snapshot_followers import SnapshotFailed, snapshot_followers

pytestmark = pytest.mark.usefixtures("prefect_harness")


def followers_in_db(db_path, account_id: int) -> set[int]:  # type: ignore[no-untyped-def]
    with duckdb.connect(str(db_path), read_only=True) as con:
        rows = con.execute(
            "SELECT follower_id FROM current_followers WHERE account_id = ?", [account_id]
        ).fetchall()
    return {row[0] for row in rows}


def following_in_db(db_path, account_id: int) -> set[int]:  # type: ignore[no-untyped-def]
    with duckdb.connect(str(db_path), read_only=True) as con:
        rows = con.execute(
            "SELECT followed_id FROM current_following WHERE account_id = ?", [account_id]
        ).fetchall()
    return {row[0] for row in rows}


def test_snapshots_equal_the_emulator_truth_for_paging_edge_cases(live_factory) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(limits=False)
    names = ["ff_zero", "ff_one", "ff_999", "ff_1000", "ff_1001"]
    outcomes = snapshot_followers(SnapshotParams(accounts=names, lists="both"))
    assert {o.status for o in outcomes} == {"complete"}
    # Started largest first, reported in the order given.
    assert [(o.account, o.kind) for o in outcomes] == [
        (name, kind) for name in names for kind in ("followers", "following")
    ]
    with get_client(sync_client=True) as client:
        limits = client.read_global_concurrency_limits(limit=200)
    assert [lim.name for lim in limits if lim.name.startswith("x:fol") and lim.active_slots] == []
    for name in names:
        account_id = live.account_id(name)
        truth = set(live.emulator.truth_followers(account_id))
        assert followers_in_db(live.db_path, account_id) == truth
        assert following_in_db(live.db_path, account_id) == set(
            live.emulator.truth_following(account_id)
        )


def test_churn_between_snapshots_becomes_exact_events(live_factory) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(limits=False)
    account_id = live.account_id("ff_alice")
    snapshot_followers(SnapshotParams(accounts=["ff_alice"], lists="followers"))
    gained, lost = live.emulator.churn_now(account_id, gained=25, lost=10)
    snapshot_followers(SnapshotParams(accounts=["@ff_alice"], lists="followers"))
    with duckdb.connect(str(live.db_path), read_only=True) as con:
        events = con.execute(
            "SELECT user_id, event, reason FROM follower_events WHERE account_id = ?",
            [account_id],
        ).fetchall()
    assert {u for u, e, _ in events if e == "gained"} == set(gained)
    assert {u for u, e, _ in events if e == "lost"} == set(lost)
    assert all(reason == "unfollowed" for _, e, reason in events if e == "lost")
    assert followers_in_db(live.db_path, account_id) == set(
        live.emulator.truth_followers(account_id)
    )


def test_unknown_account_fails_alone_and_the_others_carry_on(live_factory) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(limits=False)
    with pytest.raises(SnapshotFailed, match="nobody_here"):
        snapshot_followers(SnapshotParams(accounts=["nobody_here", "ff_bob"], lists="followers"))
    account_id = live.account_id("ff_bob")
    assert followers_in_db(live.db_path, account_id) == set(
        live.emulator.truth_followers(account_id)
    )


def test_head_mode_records_only_new_followers(live_factory) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(limits=False)
    account_id = live.account_id("ff_demo")
    snapshot_followers(SnapshotParams(accounts=["ff_demo"], lists="followers"))
    before = set(live.emulator.truth_followers(account_id))
    live.emulator.churn_now(account_id, gained=1500, lost=40)
    new_followers = set(live.emulator.truth_followers(account_id)) - before
    start = live.emulator.traffic.total
    (outcome,) = snapshot_followers(
        SnapshotParams(accounts=["ff_demo"], lists="followers", mode="head")
    )
    assert set(outcome.gained_ids) == new_followers
    assert outcome.lost_ids == []
    # 1,500 new followers need two pages of 1,000; the second meets known followers, and
    # nothing is requested ahead of it.
    assert outcome.requests == 2
    assert len(follower_requests(live, account_id, start)) == 2


def follower_requests(live, account_id: int, since: int) -> list[str | None]:  # type: ignore[no-untyped-def]
    """Pagination tokens of the followers requests X answered, in order."""
    _, records = live.emulator.traffic.since(since)
    path = f"/2/users/{account_id}/followers"
    return [r.token for r in records if r.path == path]


def test_each_page_is_requested_once_even_when_sent_ahead(live_factory) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(limits=False)
    account_id = live.account_id("ff_demo")
    pages = -(-len(live.emulator.truth_followers(account_id)) // 1000)
    assert pages >= 3
    start = live.emulator.traffic.total
    (outcome,) = snapshot_followers(SnapshotParams(accounts=["ff_demo"], lists="followers"))
    tokens = follower_requests(live, account_id, start)
    assert outcome.status == "complete" and outcome.requests == pages
    assert len(tokens) == len(set(tokens)) == pages


def test_no_request_is_sent_ahead_past_the_read_cap(live_factory) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(limits=False)
    account_id = live.account_id("ff_demo")
    start = live.emulator.traffic.total
    with pytest.raises(SnapshotFailed, match="read cap"):
        snapshot_followers(SnapshotParams(accounts=["ff_demo"], lists="followers", max_reads=2000))
    assert len(follower_requests(live, account_id, start)) == 2


def test_bad_parameters_are_rejected_before_any_call() -> None:
    with pytest.raises(ValueError, match="not a username or user id"):
        SnapshotParams(accounts=["not a name!"])
    with pytest.raises(ValueError):
        SnapshotParams(accounts=[])


def test_a_run_takes_at_most_its_share_of_accounts() -> None:
    fleet = [f"ff_fleet{i}" for i in range(MAX_ACCOUNTS_PER_RUN + 1)]
    assert len(SnapshotParams(accounts=fleet[:-1]).accounts) == MAX_ACCOUNTS_PER_RUN
    with pytest.raises(ValueError, match="251 accounts in one run; at most 250: split them"):
        SnapshotParams(accounts=fleet)
