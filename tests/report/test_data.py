"""The report's queries against a real, store-migrated DuckDB file with known rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from followflow.report import data
from followflow.store.dialect import Connection
from tests.report.world import ACCOUNT, NOW, T0


def test_counts_are_complete_full_snapshots_of_the_account_only(
    world: dict[str, int], con: Connection
) -> None:
    points = data.count_series(con, ACCOUNT)
    followers = [(p.snapshot_id, p.at, p.users_seen) for p in points if p.kind == "followers"]
    following = [(p.snapshot_id, p.users_seen) for p in points if p.kind == "following"]
    assert followers == [
        (world["s1"], T0, 100),
        (world["s3"], T0 + timedelta(hours=6), 105),
        (world["s4"], T0 + timedelta(hours=12), 110),
    ]
    assert following == [(world["f1"], 40), (world["f2"], 45)]
    assert all(p.at.tzinfo is not None and p.at.utcoffset() == timedelta(0) for p in points)


def test_gained_and_lost_per_snapshot_with_reasons(world: dict[str, int], con: Connection) -> None:
    changes = data.snapshot_changes(con, ACCOUNT)
    assert [c.snapshot_id for c in changes] == [world["s1"], world["s3"], world["s4"]]
    base, s3, s4 = changes
    assert base.baseline and (base.gained, base.lost) == (0, 0)
    assert not s3.baseline
    assert (s3.gained, s3.lost, s3.users_seen) == (15, 10, 105)
    assert (s3.lost_unfollowed, s3.lost_suspended, s3.lost_deactivated) == (5, 3, 2)
    assert (s4.gained, s4.lost, s4.lost_unfollowed) == (5, 0, 0)


def test_actions_per_day_by_outcome(world: dict[str, int], con: Connection) -> None:
    rows = {(a.day, a.action, a.outcome): a.count for a in data.actions_per_day(con, ACCOUNT)}
    assert rows == {
        (date(2026, 1, 1), "follow", "Forbidden"): 1,
        (date(2026, 1, 1), "follow", "following"): 3,
        (date(2026, 1, 1), "follow", "pending_follow"): 1,
        (date(2026, 1, 1), "unfollow", "unfollowed"): 3,
        (date(2026, 1, 2), "follow", "following"): 2,
        (date(2026, 1, 2), "follow", "reserved"): 1,
    }


def test_budget_use_counts_the_rolling_window_like_the_ledger(
    world: dict[str, int], con: Connection
) -> None:
    uses = data.budget_use(con, ACCOUNT, now=NOW, budgets=(400, 1000, 500))
    assert [(u.scope, u.action, u.used, u.limit) for u in uses] == [
        ("account", "follow", 4, 400),  # 1 pending + 2 done + 1 reserved; failed not counted
        ("app", "follow", 9, 1000),  # + 5 by account 7 on the same app
        ("app", "unfollow", 5, 500),  # 1 completed inside the window + 4 by account 7
    ]
    assert uses[0].left == 396
    later = data.budget_use(con, ACCOUNT, now=NOW + timedelta(days=1), budgets=(1, 2, 3))
    assert [u.used for u in later] == [0, 0, 0]
    assert [u.left for u in data.budget_use(con, ACCOUNT, now=NOW, budgets=(2, 2, 2))] == [0] * 3


def test_parks_shown_only_while_active_and_for_the_accounts_app(
    world: dict[str, int], con: Connection
) -> None:
    parks = data.budget_parks(con, ACCOUNT, now=NOW, app_id="app-1")
    assert [(p.app_id, p.account_id, p.action) for p in parks] == [("app-1", None, "unfollow")]
    assert parks[0].reset_at == datetime(2026, 1, 2, 18, tzinfo=UTC)
    earlier = data.budget_parks(con, ACCOUNT, now=NOW - timedelta(hours=3), app_id="app-1")
    assert {(p.account_id, p.action) for p in earlier} == {(None, "unfollow"), (ACCOUNT, "follow")}


def test_account_profile_and_resolution(world: dict[str, int], con: Connection) -> None:
    assert data.account(con, ACCOUNT) == data.Account(ACCOUNT, "ff_demo", "Demo Account")
    assert data.account(con, 999).label == "account 999"
    assert data.resolve_account(con, "@FF_demo") == ACCOUNT
    assert data.resolve_account(con, "42") == ACCOUNT
    assert data.resolve_account(con, "nobody") is None
    assert data.app_of(con, ACCOUNT) == "app-1"


def test_empty_database_reads_as_empty(empty_con: Connection) -> None:
    report = data.load(empty_con, ACCOUNT, now=NOW, budgets=(400, 1000, 500))
    assert report.counts == [] and report.changes == [] and report.actions == []
    assert report.app_id is None and report.parks == []
    assert [u.used for u in report.budgets] == [0, 0, 0]
