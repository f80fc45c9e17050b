"""Builds DuckDB worlds for campaign tests through the store's real migrations and API."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from followflow.store import edges
from followflow.store.connection import DbPath, connect
from followflow.store.dialect import Connection
from followflow.store.migrations import apply_migrations
from followflow.store.records import Kind
from followflow.store.snapshot_rows import insert_snapshot
from followflow.store.staging import stage_rows
from followflow.xapi.models import USERS_SCHEMA as USERS_ARROW_SCHEMA

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACCOUNT = 1


@contextmanager
def db(path: DbPath) -> Iterator[Connection]:
    """A migrated connection to `path` (the store's connection policy)."""
    with connect(path, lock_timeout_s=10) as con:
        yield con


def profile(user_id: int, **fields: Any) -> dict[str, Any]:
    """One users row with ordinary defaults: public, 100 followers, 100 following."""
    row: dict[str, Any] = {
        "user_id": user_id,
        "username": f"user{user_id}",
        "name": f"User {user_id}",
        "created_at": T0 - timedelta(days=1000),
        "description": "",
        "protected": False,
        "verified": False,
        "default_profile_image": False,
        "followers_count": 100,
        "following_count": 100,
    }
    row.update(fields)
    return row


def profiles(rows: Iterable[dict[str, Any]]) -> pa.Table:
    """An Arrow page of profiles (columns the rows use, typed as the client's pages)."""
    rows = list(rows)
    names = [f.name for f in USERS_ARROW_SCHEMA if any(f.name in r for r in rows)]
    schema = pa.schema([USERS_ARROW_SCHEMA.field(n) for n in names or ["user_id"]])
    return pa.Table.from_pylist(rows, schema=schema)


def memory_db() -> duckdb.DuckDBPyConnection:
    """An in-memory database with the store's migrations applied."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    apply_migrations(con, where="world")
    return con


def snapshot(
    con: Connection,
    kind: Kind,
    page: pa.Table | Sequence[int],
    *,
    account_id: int = ACCOUNT,
    now: datetime = T0,
) -> None:
    """Take one complete full snapshot of (account, kind) holding exactly `page`.

    Uses the store's in-transaction steps on the caller's connection: the path-based API
    opens and checkpoints the file three times, too slow for a property test.
    """
    if not isinstance(page, pa.Table):
        page = pa.table({"user_id": pa.array(list(page), pa.int64())})
    con.begin()
    try:
        snap = insert_snapshot(con, account_id, kind, "full", None, now)
        snap = stage_rows(con, snap, page, None, None, now)
        edges.apply_staged(con, snap, now)
    except BaseException:
        con.rollback()
        raise
    con.commit()


def ledger_row(
    con: Connection,
    target_id: int,
    *,
    action: str = "follow",
    status: str = "done",
    outcome: str | None = "following",
    reason: str | None = None,
    account_id: int = ACCOUNT,
    app_id: str = "app",
    at: datetime = T0,
    completed_at: datetime | None = None,
) -> None:
    """Insert one `actions` row directly (history written by an earlier campaign)."""
    n = con.execute(
        "SELECT count(*) FROM actions WHERE account_id = ? AND action = ? AND target_id = ?",
        [account_id, action, target_id],
    ).fetchall()[0][0]
    done_at = completed_at if completed_at is not None else (None if status == "reserved" else at)
    con.execute(
        """INSERT INTO actions (idempotency_key, run_id, app_id, account_id, target_id, action,
                               status, outcome, reason, reserved_at, completed_at)
           VALUES (?, 'history', ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            f"{action}:{account_id}:{target_id}:{n}",
            app_id,
            account_id,
            target_id,
            action,
            status,
            outcome,
            reason,
            at,
            done_at,
        ],
    )


def fill(
    con: Connection,
    n: int,
    *,
    action: str = "follow",
    account_id: int = ACCOUNT,
    app_id: str = "app",
    at: datetime = T0,
    first_target: int = 10_000_000,
) -> None:
    """Insert n done rows at `at` in one statement (spent budget, fast)."""
    con.execute(
        """INSERT INTO actions (idempotency_key, run_id, app_id, account_id, target_id, action,
                               status, outcome, reserved_at, completed_at)
           SELECT CAST(? AS VARCHAR) || ':' || CAST(? AS VARCHAR) || ':' || CAST(t AS VARCHAR)
                  || ':0', 'fill', ?, ?, t, ?, 'done', 'x', ?, ?
           FROM generate_series(CAST(? AS BIGINT), CAST(? AS BIGINT)) r(t)""",
        [
            action,
            account_id,
            app_id,
            account_id,
            action,
            at,
            at,
            first_target,
            first_target + n - 1,
        ],
    )
