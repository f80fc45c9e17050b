"""A small, fully known DuckDB history for the report tests, built through the real store.

Account 42 (@ff_demo) has three complete followers snapshots, two following snapshots, a
partial one that must not show, and a ledger spread over two days around the budget
window's edge. Accounts 7 and 8 share the file so every query must filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pyarrow as pa

from followflow.store import events, snapshots
from followflow.store.connection import DbPath, connect
from followflow.store.dialect import Connection
from followflow.store.users import upsert_users

ACCOUNT = 42
OTHER_ACCOUNT = 7
T0 = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)

FOLLOWERS_S1 = list(range(1, 101))  # baseline: 100
FOLLOWERS_S3 = list(range(1, 91)) + list(range(101, 116))  # +15 -10 -> 105
FOLLOWERS_S4 = FOLLOWERS_S3 + list(range(116, 121))  # +5 -> 110
LOST_REASONS = {
    **dict.fromkeys(range(91, 96), "unfollowed"),
    **dict.fromkeys(range(96, 99), "suspended"),
    **dict.fromkeys(range(99, 101), "deactivated"),
}

_keys = count(1)


def add_profile(db: DbPath, user_id: int, username: str, name: str) -> None:
    """Upsert one profile through the store (the way a snapshot page would)."""
    table = pa.table(
        {
            "user_id": pa.array([user_id], pa.int64()),
            "username": [username],
            "name": [name],
        }
    )
    with connect(db) as con:
        upsert_users(con, table, T0)


def take_snapshot(
    db: Path, account_id: int, kind: str, ids: Sequence[int], at: datetime, mode: str = "full"
) -> int:
    """Start, stage one page and complete a snapshot at `at`; returns its id."""
    cp = snapshots.start_or_resume(db, account_id, kind, mode, now=at)
    snapshots.stage_page(db, cp.snapshot_id, list(ids), None, now=at)
    snapshots.complete(db, cp.snapshot_id, now=at)
    return cp.snapshot_id


def add_actions(
    con: Connection,
    n: int,
    *,
    account_id: int,
    action: str,
    status: str,
    outcome: str | None,
    reserved_at: datetime,
    completed_at: datetime | None = None,
    app_id: str = "app-1",
) -> None:
    """Append `n` ledger rows (the `actions` table is a public name, DESIGN.md 3)."""
    for _ in range(n):
        key = next(_keys)
        con.execute(
            """INSERT INTO actions (idempotency_key, run_id, app_id, account_id, target_id,
                                   action, status, outcome, reason, reserved_at, completed_at)
               VALUES (?, 'run-1', ?, ?, ?, ?, ?, ?, NULL, ?, ?)""",
            [f"k{key}", app_id, account_id, 10_000 + key, action, status, outcome,
             reserved_at, completed_at],
        )  # fmt: skip


def build_world(db: DbPath) -> dict[str, int]:
    """Fill `db` with the known history; returns the snapshot ids by name."""
    add_profile(db, ACCOUNT, "ff_demo", "Demo Account")
    ids = {
        "s1": take_snapshot(db, ACCOUNT, "followers", FOLLOWERS_S1, T0),
        "f1": take_snapshot(db, ACCOUNT, "following", range(500, 540), T0 + timedelta(minutes=1)),
        "s3": take_snapshot(db, ACCOUNT, "followers", FOLLOWERS_S3, T0 + timedelta(hours=6)),
    }
    events.record_lost_reasons(db, ids["s3"], LOST_REASONS)
    ids["s4"] = take_snapshot(db, ACCOUNT, "followers", FOLLOWERS_S4, T0 + timedelta(hours=12))
    ids["f2"] = take_snapshot(db, ACCOUNT, "following", range(500, 545), T0 + timedelta(hours=12))
    # A partial snapshot with a few pages staged: neither a count nor a change.
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", now=T0 + timedelta(hours=18))
    snapshots.stage_page(db, cp.snapshot_id, [1, 2, 3], "token", now=T0 + timedelta(hours=18))
    snapshots.mark_partial(db, cp.snapshot_id, "boom", now=T0 + timedelta(hours=18))
    ids["partial"] = cp.snapshot_id
    # Another account in the same file.
    ids["other"] = take_snapshot(db, OTHER_ACCOUNT, "followers", range(1, 2001), T0)

    day1, day2 = T0, T0 + timedelta(days=1)
    with connect(db) as con:
        a = ACCOUNT
        # Outside the 24 h window that ends at NOW (2026-01-02 12:00).
        add_actions(
            con,
            3,
            account_id=a,
            action="follow",
            status="done",
            outcome="following",
            reserved_at=day1 + timedelta(hours=10),
            completed_at=day1 + timedelta(hours=10, seconds=5),
        )
        add_actions(
            con,
            2,
            account_id=a,
            action="unfollow",
            status="done",
            outcome="unfollowed",
            reserved_at=day1 + timedelta(hours=10),
            completed_at=day1 + timedelta(hours=10, seconds=5),
        )
        # Reserved before the window, completed inside it: counts (the ledger's rule).
        add_actions(
            con,
            1,
            account_id=a,
            action="unfollow",
            status="done",
            outcome="unfollowed",
            reserved_at=day1 + timedelta(hours=11),
            completed_at=day1 + timedelta(hours=13),
        )
        # Inside the window.
        add_actions(
            con,
            1,
            account_id=a,
            action="follow",
            status="done",
            outcome="pending_follow",
            reserved_at=day1 + timedelta(hours=20),
            completed_at=day1 + timedelta(hours=20, seconds=1),
        )
        add_actions(
            con,
            1,
            account_id=a,
            action="follow",
            status="failed",
            outcome="Forbidden",
            reserved_at=day1 + timedelta(hours=20),
            completed_at=day1 + timedelta(hours=20, seconds=1),
        )
        add_actions(
            con,
            2,
            account_id=a,
            action="follow",
            status="done",
            outcome="following",
            reserved_at=day2 + timedelta(hours=9),
            completed_at=day2 + timedelta(hours=9, seconds=1),
        )
        add_actions(
            con,
            1,
            account_id=a,
            action="follow",
            status="reserved",
            outcome=None,
            reserved_at=day2 + timedelta(hours=11),
        )
        # Same app, another account: the app budgets count these, the account's does not.
        add_actions(
            con,
            5,
            account_id=OTHER_ACCOUNT,
            action="follow",
            status="done",
            outcome="following",
            reserved_at=day2 + timedelta(hours=8),
            completed_at=day2 + timedelta(hours=8),
        )
        add_actions(
            con,
            4,
            account_id=OTHER_ACCOUNT,
            action="unfollow",
            status="done",
            outcome="unfollowed",
            reserved_at=day2 + timedelta(hours=8),
            completed_at=day2 + timedelta(hours=8),
        )
        # Another app entirely.
        add_actions(
            con,
            9,
            account_id=8,
            action="follow",
            status="done",
            outcome="following",
            reserved_at=day2 + timedelta(hours=8),
            completed_at=day2 + timedelta(hours=8),
            app_id="app-2",
        )
        con.execute(
            """INSERT INTO budget_state VALUES
               ('app-1', NULL, 'unfollow', ?, 'x-429', ?),
               ('app-1', ?, 'follow', ?, 'x-429', ?),
               ('app-2', NULL, 'follow', ?, 'x-429', ?)""",
            [day2 + timedelta(hours=18), day2, ACCOUNT, day2 + timedelta(hours=10), day2,
             day2 + timedelta(hours=20), day2],
        )  # fmt: skip
    return ids
