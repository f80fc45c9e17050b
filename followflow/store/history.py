"""Read-side queries for reports and the demo: counts over time, changes, latest snapshots.

Every function opens its own connection. Pass `read_only=True` from a process that only
reads (a report while a snapshot runs elsewhere): it needs an existing, migrated file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from followflow.store.connection import DbPath, connect, first_row
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


def counts_over_time(
    db: DbPath, account_id: int, kind: str = "followers", *, read_only: bool = False
) -> list[CountPoint]:
    """List size after each complete snapshot of (account, kind), oldest first.

    Computed from the intervals (+1 at first_seen, -1 at ended, running sum), so it costs
    one pass over the edges whatever the number of snapshots.
    """
    kind_ = check_kind(kind)
    with connect(db, read_only=read_only) as con:
        rows = con.execute(
            """WITH deltas AS (
                   SELECT first_seen AS ts, 1 AS d FROM follow_edges
                   WHERE account_id = $account AND kind = $kind
                   UNION ALL
                   SELECT ended, -1 FROM follow_edges
                   WHERE account_id = $account AND kind = $kind AND ended IS NOT NULL),
               running AS (
                   SELECT ts, sum(sum(d)) OVER (ORDER BY ts) AS n FROM deltas GROUP BY ts),
               done AS (
                   SELECT snapshot_id, finished_at FROM snapshots
                   WHERE account_id = $account AND kind = $kind AND status = 'complete')
               SELECT done.snapshot_id, done.finished_at, coalesce(running.n, 0)
               FROM done ASOF LEFT JOIN running ON done.finished_at >= running.ts
               ORDER BY done.finished_at, done.snapshot_id""",
            {"account": account_id, "kind": kind_},
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
                WHERE account_id = ? AND list_contains(?, kind)
                ORDER BY snapshot_id DESC LIMIT ?""",
            [account_id, kinds, limit if limit is not None else 2**62],
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
            f"""SELECT {_SNAPSHOT_COLUMNS} FROM snapshots
                WHERE (? IS NULL OR account_id = ?) AND (? IS NULL OR status = ?)
                QUALIFY row_number() OVER (PARTITION BY account_id, kind
                                           ORDER BY snapshot_id DESC) = 1
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
                 AND (? IS NULL OR snapshot_id = ?) AND (? IS NULL OR "at" >= ?)
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
