"""Applying a staged snapshot to the follow-edge intervals, as set operations in DuckDB.

The diff is two anti-joins between the distinct staged ids and the open edges of
(account, kind); a million against a million takes well under a second (bench/diff_plan.py).
Everything runs inside the caller's transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from followflow.store.connection import fetch_ids, first_row
from followflow.store.dialect import Connection, is_postgres
from followflow.store.records import Snapshot, SnapshotDiff

_TEMP_TABLES = ("_ff_seen", "_ff_diff", "_ff_gained", "_ff_lost")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _has_baseline(con: Connection, snap: Snapshot) -> bool:
    """Whether an earlier complete full snapshot of (account, kind) exists."""
    row = first_row(
        con.execute(
            """SELECT count(*) FROM snapshots
           WHERE account_id = ? AND kind = ? AND mode = 'full' AND status = 'complete'
             AND snapshot_id < ?""",
            [snap.account_id, snap.kind, snap.snapshot_id],
        )
    )
    return bool(row and row[0])


def open_count(con: Connection, account_id: int, kind: str) -> int:
    """Number of open edges of (account, kind): the current list size."""
    row = first_row(
        con.execute(
            "SELECT count(*) FROM follow_edges WHERE account_id = ? AND kind = ? AND ended IS NULL",
            [account_id, kind],
        )
    )
    return int(row[0]) if row else 0


def _plan_for_bulk(con: Connection) -> None:
    """PostgreSQL: plan this transaction's set operations as hash joins.

    Its statistics lag a bulk write (autovacuum analyzes later, never temporary tables),
    so right after a baseline it took `follow_edges` for one row and chose nested loops:
    20,000 edges took 47 s to diff, 1,000,000 did not finish. Hash joins are the right
    plan for every statement here at any size; DuckDB plans without statistics.
    """
    if is_postgres(con):
        con.execute("SET LOCAL enable_nestloop = off")


def apply_staged(con: Connection, snap: Snapshot, now: datetime) -> SnapshotDiff:
    """Diff the staged ids against the open edges, update intervals and events, complete."""
    sid, account, kind = snap.snapshot_id, snap.account_id, snap.kind
    baseline = not _has_baseline(con, snap)
    _plan_for_bulk(con)
    con.execute(
        "CREATE TEMP TABLE _ff_seen AS "
        "SELECT DISTINCT user_id FROM snapshot_staging WHERE snapshot_id = ?",
        [sid],
    )
    # One full outer join classifies every id at once: seen only (gained), open only
    # (lost, in full mode) or both (kept).
    con.execute(
        """CREATE TEMP TABLE _ff_diff AS
           SELECT coalesce(s.user_id, o.user_id) AS user_id,
                  s.user_id IS NOT NULL AS seen, o.user_id IS NOT NULL AS was_open,
                  o.first_seen
           FROM _ff_seen s FULL OUTER JOIN (
               SELECT user_id, first_seen FROM follow_edges
               WHERE account_id = ? AND kind = ? AND ended IS NULL) o
           ON s.user_id = o.user_id""",
        [account, kind],
    )
    con.execute(
        "CREATE TEMP TABLE _ff_gained AS SELECT user_id FROM _ff_diff WHERE seen AND NOT was_open"
    )
    # Head mode never infers losses. Full mode spares edges opened after it started: a
    # head run saw those newer followers at the top of the list, which this run had
    # already paged past.
    con.execute(
        """CREATE TEMP TABLE _ff_lost AS SELECT user_id FROM _ff_diff
           WHERE ? AND was_open AND NOT seen AND first_seen < ?""",
        [snap.mode == "full", snap.started_at],
    )
    con.execute(
        """UPDATE follow_edges SET ended = ?, closed_by = ?
           WHERE account_id = ? AND kind = ? AND ended IS NULL
             AND user_id IN (SELECT user_id FROM _ff_lost)""",
        [now, sid, account, kind],
    )
    if snap.mode == "full":
        # Every edge still open from before this run was seen by it (the unseen are now
        # closed): bump them with a plain scan, no join.
        con.execute(
            """UPDATE follow_edges SET last_seen = ?
               WHERE account_id = ? AND kind = ? AND ended IS NULL AND first_seen < ?""",
            [now, account, kind, snap.started_at],
        )
    con.execute(
        """UPDATE follow_edges SET last_seen = ?
           WHERE account_id = ? AND kind = ? AND ended IS NULL AND user_id IN (
               SELECT user_id FROM _ff_diff WHERE seen AND was_open AND first_seen >= ?)""",
        [now, account, kind, snap.started_at if snap.mode == "full" else _EPOCH],
    )
    con.execute(
        "INSERT INTO follow_edges SELECT ?, ?, user_id, ?, ?, NULL, ?, NULL FROM _ff_gained",
        [account, kind, now, now, sid],
    )
    gained_ids: list[int] = []
    lost_ids: list[int] = []
    if not baseline:
        con.execute(
            """INSERT INTO follow_events
               SELECT ?, ?, user_id, 'gained', ?, NULL, ? FROM _ff_gained
               UNION ALL
               SELECT ?, ?, user_id, 'lost', ?, NULL, ? FROM _ff_lost""",
            [account, kind, now, sid, account, kind, now, sid],
        )
        gained_ids = fetch_ids(con, "SELECT user_id FROM _ff_gained ORDER BY user_id", [])
        lost_ids = fetch_ids(con, "SELECT user_id FROM _ff_lost ORDER BY user_id", [])
    seen_row = first_row(con.execute("SELECT count(*) FROM _ff_seen"))
    seen = int(seen_row[0]) if seen_row else 0
    con.execute(
        """UPDATE snapshots SET status = 'complete', finished_at = ?, next_token = NULL,
               users_seen = ?, gained = ?, lost = ?, error = NULL
           WHERE snapshot_id = ?""",
        [now, seen, len(gained_ids), len(lost_ids), sid],
    )
    con.execute("DELETE FROM snapshot_staging WHERE snapshot_id = ?", [sid])
    for table in _TEMP_TABLES:
        con.execute(f"DROP TABLE {table}")
    return SnapshotDiff(
        snapshot_id=sid,
        account_id=account,
        kind=kind,
        mode=snap.mode,
        baseline=baseline,
        count=open_count(con, account, kind),
        gained_ids=gained_ids,
        lost_ids=lost_ids,
    )


def recorded_diff(con: Connection, snap: Snapshot) -> SnapshotDiff:
    """The diff a complete snapshot recorded, rebuilt from its events."""
    query = "SELECT user_id FROM follow_events WHERE snapshot_id = ? AND event = ? ORDER BY user_id"
    return SnapshotDiff(
        snapshot_id=snap.snapshot_id,
        account_id=snap.account_id,
        kind=snap.kind,
        mode=snap.mode,
        baseline=not _has_baseline(con, snap),
        count=open_count(con, snap.account_id, snap.kind),
        gained_ids=fetch_ids(con, query, [snap.snapshot_id, "gained"]),
        lost_ids=fetch_ids(con, query, [snap.snapshot_id, "lost"]),
    )
