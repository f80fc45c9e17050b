"""Read-side queries for reports and the demo: counts over time, changes, latest snapshots.

Every function opens its own connection. Pass `read_only=True` from a process that only
reads (a report while a snapshot runs elsewhere): it needs an existing, migrated file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from followflow.store.connection import DbPath, connect, first_row
from followflow.store.dialect import is_postgres
from followflow.store.records import Kind, Snapshot, check_kind

_SNAPSHOT_COLUMNS = (
    "snapshot_id, account_id, kind, mode, status, started_at, finished_at, pages, users_seen, "
    "expected_count, next_token, gained, lost, error"
)


@dataclass(frozen=True, slots=True)
class CountPoint:
    """The size of a list right after a complete snapshot."""

    snapshot_id: int
    at: datetime
    count: int


@dataclass(frozen=True, slots=True)
class EdgeEvent:
    """One row of `follower_events` / `following_events`."""

    account_id: int
    kind: Kind
    user_id: int
    event: str
    at: datetime
    reason: str | None
    snapshot_id: int


# The running list size after each complete snapshot. DuckDB joins each snapshot to the
# latest running count at or before it with ASOF; PostgreSQL has no ASOF join, so a
# correlated subquery picks that row (an index-free scan of `running` per snapshot).
_COUNTS_OVER_TIME = """
WITH deltas AS (
    SELECT first_seen AS ts, 1 AS d FROM follow_edges WHERE account_id = ? AND kind = ?
    UNION ALL
    SELECT ended, -1 FROM follow_edges WHERE account_id = ? AND kind = ? AND ended IS NOT NULL),
running AS (SELECT ts, sum(sum(d)) OVER (ORDER BY ts) AS n FROM deltas GROUP BY ts),
done AS (
    SELECT snapshot_id, finished_at FROM snapshots
    WHERE account_id = ? AND kind = ? AND status = 'complete')
{as_of}
ORDER BY done.finished_at, done.snapshot_id"""
_AS_OF_DUCKDB = """SELECT done.snapshot_id, done.finished_at, coalesce(running.n, 0)
FROM done ASOF LEFT JOIN running ON done.finished_at >= running.ts"""
_AS_OF_POSTGRES = """SELECT done.snapshot_id, done.finished_at, coalesce((
    SELECT running.n FROM running WHERE running.ts <= done.finished_at
    ORDER BY running.ts DESC LIMIT 1), 0)
FROM done"""


def counts_over_time(
    db: DbPath, account_id: int, kind: str = "followers", *, read_only: bool = False
) -> list[CountPoint]:
    """List size after each complete snapshot of (account, kind), oldest first.

    Computed from the intervals (+1 at first_seen, -1 at ended, running sum), so it costs
    one pass over the edges whatever the number of snapshots.
    """
    kind_ = check_kind(kind)
    with connect(db, read_only=read_only) as con:
        as_of = _AS_OF_POSTGRES if is_postgres(con) else _AS_OF_DUCKDB
        rows = con.execute(
            _COUNTS_OVER_TIME.format(as_of=as_of), [account_id, kind_] * 3
        ).fetchall()
    return [CountPoint(int(sid), at, int(n)) for sid, at, n in rows]


def snapshot_history(
    db: DbPath,
    account_id: int,
    kind: str | None = None,
    *,
    limit: int | None = None,
    read_only: bool = False,
) -> list[Snapshot]:
    """Snapshots of an account (gained and lost per snapshot), newest first."""
    kinds = [check_kind(kind)] if kind else ["followers", "following"]
    with connect(db, read_only=read_only) as con:
        rows = con.execute(
            f"""SELECT {_SNAPSHOT_COLUMNS} FROM snapshots
                WHERE account_id = ? AND kind IN (?, ?)
                ORDER BY snapshot_id DESC LIMIT ?""",
            [account_id, kinds[0], kinds[-1], limit if limit is not None else 2**62],
        ).fetchall()
    return [Snapshot(*row) for row in rows]


def latest_snapshots(
    db: DbPath,
    account_id: int | None = None,
    *,
    status: str | None = None,
    read_only: bool = False,
) -> list[Snapshot]:
    """The latest snapshot of each (account, kind), optionally only those with `status`."""
    with connect(db, read_only=read_only) as con:
        rows = con.execute(
            f"""SELECT {_SNAPSHOT_COLUMNS} FROM (
                    SELECT *, row_number() OVER (PARTITION BY account_id, kind
                                                 ORDER BY snapshot_id DESC) AS newest
                    FROM snapshots
                    WHERE (CAST(? AS BIGINT) IS NULL OR account_id = ?)
                      AND (CAST(? AS VARCHAR) IS NULL OR status = ?)) latest
                WHERE newest = 1
                ORDER BY account_id, kind""",
            [account_id, account_id, status, status],
        ).fetchall()
    return [Snapshot(*row) for row in rows]


def current_count(
    db: DbPath, account_id: int, kind: str = "followers", *, read_only: bool = False
) -> int:
    """How many followers (or followed accounts) `account_id` has now, per the edges."""
    kind_ = check_kind(kind)
    with connect(db, read_only=read_only) as con:
        row = first_row(
            con.execute(
                """SELECT count(*) FROM follow_edges
               WHERE account_id = ? AND kind = ? AND ended IS NULL""",
                [account_id, kind_],
            )
        )
    return int(row[0]) if row else 0


def events(
    db: DbPath,
    account_id: int,
    kind: str = "followers",
    *,
    snapshot_id: int | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    read_only: bool = False,
) -> list[EdgeEvent]:
    """Gained and lost events of (account, kind), newest first; filter by snapshot or time."""
    kind_ = check_kind(kind)
    with connect(db, read_only=read_only) as con:
        rows = con.execute(
            """SELECT account_id, kind, user_id, event, "at", reason, snapshot_id
               FROM follow_events
               WHERE account_id = ? AND kind = ?
                 AND (CAST(? AS BIGINT) IS NULL OR snapshot_id = ?)
                 AND (CAST(? AS TIMESTAMPTZ) IS NULL OR "at" >= ?)
               ORDER BY "at" DESC, snapshot_id DESC, event, user_id
               LIMIT ?""",
            [
                account_id,
                kind_,
                snapshot_id,
                snapshot_id,
                since,
                since,
                limit if limit is not None else 2**62,
            ],
        ).fetchall()
    return [EdgeEvent(*row) for row in rows]
