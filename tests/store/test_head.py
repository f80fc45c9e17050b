from __future__ import annotations

from followflow.store import head, history, snapshots
from followflow.store.connection import DbPath
from tests.store.helpers import at, full_snapshot, profiles

ACCOUNT = 7


def test_known_followers_and_first_known_index(store: DbPath) -> None:
    db = store
    full_snapshot(db, ACCOUNT, [30, 20, 10], start=0)
    assert head.known_followers(db, ACCOUNT, [50, 40, 30, 20]) == {30, 20}
    assert head.known_followers(db, ACCOUNT, []) == set()
    assert head.known_followers(db, ACCOUNT, [30], kind="following") == set()
    assert head.first_known_index(db, ACCOUNT, [50, 40, 30, 20]) == 2
    assert head.first_known_index(db, ACCOUNT, [50, 40]) is None


def test_head_records_only_gains(store: DbPath) -> None:
    db = store
    full_snapshot(db, ACCOUNT, [30, 20, 10], start=0)
    # 20 and 10 unfollowed meanwhile, 50 and 40 followed; head sees the top of the list only.
    diff = head.apply_head(db, ACCOUNT, profiles([50, 40, 30]), now=at(100))
    assert diff.mode == "head" and not diff.baseline
    assert (diff.gained_ids, diff.lost_ids, diff.count) == ([40, 50], [], 5)
    evs = history.events(db, ACCOUNT)
    assert sorted((e.user_id, e.event) for e in evs) == [(40, "gained"), (50, "gained")]
    snap = snapshots.get_snapshot(db, diff.snapshot_id)
    assert (snap.mode, snap.status, snap.gained, snap.lost) == ("head", "complete", 2, 0)
    # Running the same head again finds nothing new.
    assert head.apply_head(db, ACCOUNT, [50, 40, 30], now=at(110)).gained_ids == []


def test_head_through_staged_pages_never_loses(store: DbPath) -> None:
    db = store
    full_snapshot(db, ACCOUNT, [30, 20, 10], start=0)
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", "head", now=at(100))
    snapshots.stage_page(db, cp.snapshot_id, profiles([60]), "more", now=at(101))
    diff = snapshots.complete(db, cp.snapshot_id, now=at(102))
    assert (diff.gained_ids, diff.lost_ids, diff.count) == ([60], [], 4)


def test_full_snapshot_does_not_lose_followers_a_concurrent_head_found(store: DbPath) -> None:
    db = store
    full_snapshot(db, ACCOUNT, [30, 20, 10], start=0)
    # A long full run starts, pages past the top; meanwhile 99 follows and a head run sees it.
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(100))
    snapshots.stage_page(db, cp.snapshot_id, [30, 20], "t", now=at(101))
    head.apply_head(db, ACCOUNT, [99, 30], now=at(150))
    snapshots.stage_page(db, cp.snapshot_id, [10], None, now=at(200))
    diff = snapshots.complete(db, cp.snapshot_id, now=at(201))
    assert (diff.gained_ids, diff.lost_ids, diff.count) == ([], [], 4)
