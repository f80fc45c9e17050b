from __future__ import annotations

import threading
import time

import pytest

from followflow.store import events, history, snapshots, spool
from followflow.store.connection import DbPath, connect
from followflow.store.errors import SnapshotNotFound, SnapshotStateError
from followflow.store.postgres import CONNECT_TIMEOUT_S, POOL_MAX_CONNECTIONS
from followflow.store.snapshot_profiles import upserted_at_fold
from tests.store.helpers import at, full_snapshot, profiles

ACCOUNT = 42


def open_followers(db: DbPath, account_id: int = ACCOUNT) -> set[int]:
    with connect(db) as con:
        rows = con.execute(
            "SELECT follower_id FROM current_followers WHERE account_id = ?", [account_id]
        ).fetchall()
    return {r[0] for r in rows}


def edge_rows(db: DbPath) -> list[tuple[object, ...]]:
    with connect(db) as con:
        return con.execute(
            """SELECT user_id, first_seen, last_seen, ended FROM follow_edges
               ORDER BY user_id, first_seen"""
        ).fetchall()


def event_rows(db: DbPath) -> list[tuple[object, ...]]:
    with connect(db) as con:
        return con.execute(
            'SELECT user_id, event, "at", reason FROM follower_events ORDER BY "at", user_id'
        ).fetchall()


def test_first_snapshot_is_a_baseline_without_events(store: DbPath) -> None:
    db = store
    diff = full_snapshot(db, ACCOUNT, [5, 4, 3, 2, 1], start=0)
    assert diff.baseline and diff.count == 5 and diff.gained_ids == diff.lost_ids == []
    assert open_followers(db) == {1, 2, 3, 4, 5}
    assert event_rows(db) == []
    snap = snapshots.get_snapshot(db, diff.snapshot_id)
    assert (snap.status, snap.pages, snap.users_seen, snap.next_token) == ("complete", 2, 5, None)
    with connect(db) as con:
        assert con.execute("SELECT count(*) FROM snapshot_staging").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM users WHERE state = 'active'").fetchall() == [(5,)]


def test_second_snapshot_records_gains_and_losses(store: DbPath) -> None:
    db = store
    full_snapshot(db, ACCOUNT, [5, 4, 3, 2, 1], start=0)
    diff = full_snapshot(db, ACCOUNT, [7, 6, 5, 3, 1], start=100)
    assert not diff.baseline
    assert (diff.gained_ids, diff.lost_ids, diff.count) == ([6, 7], [2, 4], 5)
    assert open_followers(db) == {1, 3, 5, 6, 7}
    assert event_rows(db) == [
        (2, "lost", at(103), None),
        (4, "lost", at(103), None),
        (6, "gained", at(103), None),
        (7, "gained", at(103), None),
    ]
    snap = snapshots.get_snapshot(db, diff.snapshot_id)
    assert (snap.gained, snap.lost) == (2, 2)
    # Completing again changes nothing and answers the same diff.
    again = snapshots.complete(db, diff.snapshot_id, now=at(500))
    assert again == diff
    assert len(event_rows(db)) == 4


def test_unfollow_and_refollow_make_two_intervals(store: DbPath) -> None:
    db = store
    full_snapshot(db, ACCOUNT, [1, 2], start=0)
    full_snapshot(db, ACCOUNT, [2], start=100)
    full_snapshot(db, ACCOUNT, [1, 2], start=200)
    full_snapshot(db, ACCOUNT, [1, 2], start=300)
    rows = [r for r in edge_rows(db) if r[0] == 1]
    assert rows == [(1, at(2), at(2), at(102)), (1, at(202), at(202), None)]
    # User 2 was seen by every snapshot: one interval. Full snapshots that see an open
    # interval again leave its row alone (the latest complete one saw it).
    assert [r for r in edge_rows(db) if r[0] == 2] == [(2, at(2), at(2), None)]
    assert [(u, e) for u, e, _, _ in event_rows(db)] == [(1, "lost"), (1, "gained")]
    points = history.counts_over_time(db, ACCOUNT)
    assert [p.count for p in points] == [2, 1, 2, 2]


def test_a_closed_interval_was_last_seen_by_the_last_full_snapshot_before(store: DbPath) -> None:
    db = store
    for start in (0, 100, 200):
        full_snapshot(db, ACCOUNT, [1, 2], start=start)
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", "head", now=at(250))
    snapshots.stage_page(db, cp.snapshot_id, profiles([2]), None, now=at(251))
    snapshots.complete(db, cp.snapshot_id, now=at(252))  # a head run sees 2 again
    full_snapshot(db, ACCOUNT, [], start=300)
    # 1 was last seen by the full snapshot finished at 202; 2 by the head run at 252.
    assert edge_rows(db) == [(1, at(2), at(202), at(302)), (2, at(2), at(252), at(302))]


def test_partial_snapshot_changes_no_edges_and_records_no_events(store: DbPath) -> None:
    db = store
    full_snapshot(db, ACCOUNT, [1, 2, 3, 4], start=0)
    before = edge_rows(db)
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(100))
    snapshots.stage_page(db, cp.snapshot_id, profiles([9]), "token-1", now=at(101))
    snapshots.mark_partial(db, cp.snapshot_id, "503 past the retries", now=at(102))
    assert edge_rows(db) == before
    assert event_rows(db) == []
    snap = snapshots.get_snapshot(db, cp.snapshot_id)
    assert (snap.status, snap.error, snap.next_token, snap.pages) == (
        "partial",
        "503 past the retries",
        "token-1",
        1,
    )
    with pytest.raises(SnapshotStateError, match="start_or_resume"):
        snapshots.stage_page(db, cp.snapshot_id, [8], None)


def test_resume_continues_from_the_checkpoint(store: DbPath) -> None:
    db = store
    full_snapshot(db, ACCOUNT, [1, 2, 3], start=0)
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", "full", 4, now=at(100))
    snapshots.stage_page(db, cp.snapshot_id, profiles([4, 3]), "token-1", now=at(101))
    snapshots.mark_partial(db, cp.snapshot_id, "killed", now=at(102))

    resumed = snapshots.start_or_resume(db, ACCOUNT, "followers", "full", 5, now=at(200))
    assert resumed.resumed and resumed.snapshot_id == cp.snapshot_id
    assert (resumed.next_token, resumed.pages_done, resumed.users_seen) == ("token-1", 1, 2)
    assert resumed.expected_count == 5
    snapshots.stage_page(db, cp.snapshot_id, profiles([2]), None, now=at(201))
    diff = snapshots.complete(db, cp.snapshot_id, now=at(202))
    assert (diff.gained_ids, diff.lost_ids) == ([4], [1])


def test_start_without_resume_abandons_the_open_snapshot(store: DbPath) -> None:
    db = store
    old = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(0))
    snapshots.stage_page(db, old.snapshot_id, [1, 2], "token-1", now=at(1))
    new = snapshots.start_or_resume(db, ACCOUNT, "followers", resume=False, now=at(2))
    assert new.snapshot_id != old.snapshot_id and not new.resumed and new.pages_done == 0
    assert snapshots.get_snapshot(db, old.snapshot_id).status == "failed"
    with connect(db) as con:
        assert con.execute("SELECT count(*) FROM snapshot_staging").fetchall() == [(0,)]


def test_restart_drops_staged_pages_and_token(store: DbPath) -> None:
    db = store
    full_snapshot(db, ACCOUNT, [1, 2, 3], start=0)
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(100))
    snapshots.stage_page(db, cp.snapshot_id, [99, 98], "stale-token", now=at(101))
    fresh = snapshots.restart(db, cp.snapshot_id)
    assert (fresh.next_token, fresh.pages_done, fresh.users_seen) == (None, 0, 0)
    snapshots.stage_page(db, cp.snapshot_id, [3, 2, 1], None, now=at(102))
    diff = snapshots.complete(db, cp.snapshot_id, now=at(103))
    assert diff.gained_ids == diff.lost_ids == []


def test_restaging_a_page_after_a_crash_duplicates_nothing(store: DbPath) -> None:
    db = store
    full_snapshot(db, ACCOUNT, [1, 2, 3, 4, 5, 6], start=0)
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(100))
    snapshots.stage_page(db, cp.snapshot_id, profiles([7, 6]), "token-1", page_no=1)
    snapshots.stage_page(db, cp.snapshot_id, profiles([5, 4]), "token-2", page_no=2)
    # The task committed page 2 but crashed before reporting it; the retry stages it again.
    again = snapshots.stage_page(db, cp.snapshot_id, profiles([5, 4]), "token-2", page_no=2)
    assert (again.pages_done, again.users_seen, again.next_token) == (2, 4, "token-2")
    snapshots.stage_page(db, cp.snapshot_id, profiles([3, 2, 1]), None, page_no=3)
    with connect(db) as con:
        staged = con.execute(
            "SELECT user_id, count(*) FROM snapshot_staging GROUP BY user_id HAVING count(*) > 1"
        ).fetchall()
        users = con.execute("SELECT count(*), count(DISTINCT user_id) FROM users").fetchall()
    assert staged == []
    assert users == [(7, 7)]
    diff = snapshots.complete(db, cp.snapshot_id, now=at(200))
    assert (diff.gained_ids, diff.lost_ids, diff.count) == ([7], [], 7)
    with pytest.raises(SnapshotStateError, match="does not follow"):
        cp2 = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(300))
        snapshots.stage_page(db, cp2.snapshot_id, [1], None, page_no=3)


def test_a_page_that_repeats_users_counts_them_once(store: DbPath) -> None:
    db = store
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(0))
    snapshots.stage_page(db, cp.snapshot_id, profiles([1, 2, 2]), "t", now=at(1))
    snapshots.stage_page(db, cp.snapshot_id, profiles([2, 3]), None, now=at(2))
    diff = snapshots.complete(db, cp.snapshot_id, now=at(3))
    assert diff.count == 3
    assert snapshots.get_snapshot(db, cp.snapshot_id).users_seen == 3


def test_complete_refuses_a_full_snapshot_with_pages_left(store: DbPath) -> None:
    db = store
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(0))
    snapshots.stage_page(db, cp.snapshot_id, [1], "more", now=at(1))
    with pytest.raises(SnapshotStateError, match="pages left"):
        snapshots.complete(db, cp.snapshot_id)
    with pytest.raises(SnapshotNotFound):
        snapshots.complete(db, 999)


def test_failed_snapshot_is_not_resumed(store: DbPath) -> None:
    db = store
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(0))
    snapshots.stage_page(db, cp.snapshot_id, [1], "more", now=at(1))
    snapshots.mark_failed(db, cp.snapshot_id, "account suspended", now=at(2))
    nxt = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(3))
    assert nxt.snapshot_id != cp.snapshot_id and not nxt.resumed
    assert open_followers(db) == set()


def test_followers_and_following_are_kept_apart(store: DbPath) -> None:
    db = store
    full_snapshot(db, ACCOUNT, [1, 2], start=0, kind="followers")
    full_snapshot(db, ACCOUNT, [2, 3], start=10, kind="following")
    with connect(db) as con:
        following = con.execute(
            "SELECT followed_id, since FROM following_since ORDER BY followed_id"
        ).fetchall()
    assert open_followers(db) == {1, 2}
    assert following == [(2, at(12)), (3, at(12))]


def test_profiles_are_upserted_and_absent_columns_kept(store: DbPath) -> None:
    db = store
    full_snapshot(db, ACCOUNT, [1, 2], start=0)
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(10))
    snapshots.stage_page(
        db, cp.snapshot_id, profiles([1], name="Renamed").drop(["protected"]), None
    )
    with connect(db) as con:
        row = con.execute("SELECT name, protected FROM users WHERE user_id = 1").fetchall()
    assert row == [("Renamed", False)]


def test_lost_reasons_are_recorded(store: DbPath) -> None:
    db = store
    full_snapshot(db, ACCOUNT, [1, 2, 3, 4], start=0)
    diff = full_snapshot(db, ACCOUNT, [4], start=100)
    assert events.lost_without_reason(db, diff.snapshot_id) == [1, 2, 3]
    updated = events.record_lost_reasons(
        db, diff.snapshot_id, {1: "unfollowed", 2: "suspended", 3: "deactivated", 4: "suspended"}
    )
    assert updated == 3
    assert events.lost_without_reason(db, diff.snapshot_id) == []
    lost = history.events(db, ACCOUNT, snapshot_id=diff.snapshot_id)
    assert sorted((e.user_id, e.reason) for e in lost) == [
        (1, "unfollowed"),
        (2, "suspended"),
        (3, "deactivated"),
    ]
    with connect(db) as con:
        states = con.execute("SELECT user_id, state FROM users ORDER BY user_id").fetchall()
    assert states == [(1, "active"), (2, "suspended"), (3, "deactivated"), (4, "suspended")]
    with pytest.raises(ValueError, match="lost reasons"):
        events.record_lost_reasons(db, diff.snapshot_id, {1: "vanished"})


def test_spooled_pages_are_staged_by_one_fold(store: DbPath) -> None:
    db = store
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(0))
    snapshots.spool_page(db, cp.snapshot_id, 1, profiles([5, 4]), "t1")
    snapshots.spool_page(db, cp.snapshot_id, 2, [3, 2], "t2")
    assert snapshots.checkpoint(db, cp.snapshot_id).pages_done == 0
    after = snapshots.fold(db, cp.snapshot_id, now=at(1))
    assert (after.pages_done, after.users_seen, after.next_token) == (2, 4, "t2")
    assert list(spool.pending(db, cp.snapshot_id, 2)) == []
    snapshots.spool_page(db, cp.snapshot_id, 3, [1], None)
    with connect(db) as con:
        folded = con.execute("SELECT user_id FROM users ORDER BY user_id").fetchall()
    # PostgreSQL upserts a page's profiles in the fold, DuckDB when the snapshot completes.
    assert folded == ([(4,), (5,)] if upserted_at_fold(db) else [])
    # complete() stages what is still spooled and upserts the profiles of every page.
    assert snapshots.complete(db, cp.snapshot_id, now=at(2)).count == 5
    assert spool.spooled_snapshots(db) == []
    assert not spool.spool_root(db).exists()
    with connect(db) as con:
        names = con.execute("SELECT user_id, name FROM users ORDER BY user_id").fetchall()
    assert names == [(4, "N"), (5, "N")]


def test_pages_spooled_by_a_killed_run_are_resumed_after(store: DbPath) -> None:
    db = store
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(0))
    snapshots.stage_page(db, cp.snapshot_id, [9, 8], "t1", now=at(1))
    # The run spooled pages 2 and 3 and died before folding them; page 5 follows a gap.
    snapshots.spool_page(db, cp.snapshot_id, 2, [7, 6], "t2")
    snapshots.spool_page(db, cp.snapshot_id, 3, [5], "t3")
    snapshots.spool_page(db, cp.snapshot_id, 5, [1], None)
    resumed = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(2))
    assert resumed.resumed and resumed.snapshot_id == cp.snapshot_id
    assert (resumed.pages_done, resumed.users_seen, resumed.next_token) == (3, 5, "t3")
    assert list(spool.pending(db, cp.snapshot_id, 3)) == []


def test_an_unreadable_spooled_page_is_fetched_again(store: DbPath) -> None:
    db = store
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(0))
    snapshots.spool_page(db, cp.snapshot_id, 1, [9, 8], "t1")
    snapshots.spool_page(db, cp.snapshot_id, 2, [7], "t2")
    page_two = spool.spool_root(db) / str(cp.snapshot_id) / "page-0000002.arrow"
    page_two.write_bytes(b"torn")
    resumed = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(1))
    assert (resumed.pages_done, resumed.next_token) == (1, "t1")


def test_partial_and_failed_snapshots_leave_no_spool_behind(store: DbPath) -> None:
    db = store
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(0))
    snapshots.spool_page(db, cp.snapshot_id, 1, [9, 8], "t1")
    snapshots.mark_partial(db, cp.snapshot_id, "faults past the retries", now=at(1))
    partial = snapshots.get_snapshot(db, cp.snapshot_id)
    assert (partial.status, partial.pages, partial.next_token) == ("partial", 1, "t1")
    assert spool.spooled_snapshots(db) in ([], [cp.snapshot_id])
    assert list(spool.pending(db, cp.snapshot_id, 1)) == []
    again = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(2))
    snapshots.spool_page(db, again.snapshot_id, 2, [7], "t2")
    snapshots.mark_failed(db, again.snapshot_id, "account suspended", now=at(3))
    assert spool.spooled_snapshots(db) == []


def test_more_listings_completing_at_once_than_pooled_connections(store: DbPath) -> None:
    """A run's listings all complete in one process, more of them at once than the
    PostgreSQL pool's connections: none may hold a connection while waiting for another."""
    db = store
    listings = 3 * POOL_MAX_CONNECTIONS
    checkpoints = []
    for account in range(1, listings + 1):
        cp = snapshots.start_or_resume(db, account, "followers", now=at(0))
        snapshots.spool_page(db, cp.snapshot_id, 1, profiles([account * 10 + 1]), "t1")
        snapshots.spool_page(db, cp.snapshot_id, 2, profiles([account * 10 + 2]), None)
        checkpoints.append(cp)
    barrier = threading.Barrier(listings)
    counts: list[int] = []
    errors: list[BaseException] = []

    def complete(snapshot_id: int) -> None:
        try:
            barrier.wait(timeout=30)
            counts.append(snapshots.complete(db, snapshot_id, now=at(1)).count)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=complete, args=(cp.snapshot_id,)) for cp in checkpoints]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and counts == [2] * listings
    # Before: each thread held one connection idle while it waited for a second, all of
    # them waited the pool's 10 s, and the losers failed as if the server were down.
    assert time.monotonic() - started < CONNECT_TIMEOUT_S
    assert all(open_followers(db, account) == {account * 10 + 1, account * 10 + 2}
               for account in range(1, listings + 1))  # fmt: skip
