"""Applying a staged snapshot to the follow-edge intervals, as set operations.

The diff is one full outer join between the staged ids and the open edges of
(account, kind) that keeps only the ids whose interval changes: a million against a
million takes 0.2 s on DuckDB and 1.2 s on PostgreSQL
(bench/diff_plan.py). Everything runs inside the caller's transaction.

`last_seen` of an interval is written when it changes, never by a full snapshot that
merely sees it again: on PostgreSQL an UPDATE of every open edge rewrites a million rows
(7 to 24 s measured, against the whole diff's target of 2 s). A full snapshot that
completes saw every edge open before it started, so when an interval closes its
last_seen becomes the finish of the last full snapshot before (see _close_lost); an open
interval was last seen by the latest complete full snapshot of its list.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from followflow.store.connection import fetch_ids, first_row
from followflow.store.dialect import Connection, is_postgres
from followflow.store.records import Snapshot, SnapshotDiff

_CHANGES = "_ff_changes"
# The two kinds of row in _ff_changes that are events (the third moves last_seen only).
_GAINED = "seen AND NOT was_open"
_LOST = "NOT seen AND NOT opened_since"


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


# PostgreSQL's planner settings for a snapshot's set operations (see _plan_for_bulk).
_BULK_SETTINGS = ("enable_nestloop = off", "enable_hashagg = off")


def _plan_for_bulk(con: Connection) -> None:
    """PostgreSQL: plan this transaction's set operations as hash joins and sorts.

    Its statistics lag a bulk write (autovacuum analyzes later, never temporary tables),
    so right after a baseline it took `follow_edges` for one row and chose nested loops:
    20,000 edges took 47 s to diff, 1,000,000 did not finish. Hash joins are the right
    plan for every join here at any size; DuckDB plans without statistics. For the same
    reason it took a million staged ids for 200, removed their repeats by hashing (spilled
    in 85 batches) and then sorted them for the key order: opening a first list's million
    edges took 3.3 s. One sort that also drops the repeats: 2.1 s. The diff's statements
    are as fast either way (0.9 s). A larger work_mem only saved 0.07 s on the first list,
    and slowed the diff's hash join by 0.1-0.2 s (one big hash table, not cache-sized
    batches), so it stays the server's.
    """
    if is_postgres(con):
        for setting in _BULK_SETTINGS:
            con.execute(f"SET LOCAL {setting}")


def _previous_full(con: Connection, snap: Snapshot) -> tuple[datetime, datetime] | None:
    """(started_at, finished_at) of the last complete full snapshot of (account, kind) before
    this one, or None."""
    return first_row(
        con.execute(
            """SELECT started_at, finished_at FROM snapshots
               WHERE account_id = ? AND kind = ? AND mode = 'full' AND status = 'complete'
                 AND snapshot_id < ?
               ORDER BY snapshot_id DESC LIMIT 1""",
            [snap.account_id, snap.kind, snap.snapshot_id],
        )
    )


def _select_changes(con: Connection, snap: Snapshot) -> None:
    """Into _ff_changes: each id whose interval this snapshot changes, with seen / was_open.

    Those are the ids seen and not open (gained); in full mode the open ids not seen (lost,
    unless opened after this run started: a head run saw those newer followers at the top of
    the list, which this run had already paged past); and the open ids seen whose last_seen
    moves (every one in head mode; in full mode only those opened after the run started,
    the rest is covered by the run itself, see the module docstring). A million kept ids
    never leave the join. Staged pages may repeat an id (the list shifts while it is read):
    DISTINCT on the few rows out is cheaper than on the million in.
    """
    full, head = snap.mode == "full", snap.mode == "head"
    con.execute(
        f"""CREATE TEMP TABLE {_CHANGES} AS
           SELECT DISTINCT coalesce(s.user_id, o.user_id) AS user_id,
                  s.user_id IS NOT NULL AS seen, o.user_id IS NOT NULL AS was_open,
                  coalesce(o.first_seen >= ?, FALSE) AS opened_since
           FROM (SELECT user_id FROM snapshot_staging WHERE snapshot_id = ?) s
           FULL OUTER JOIN (
               SELECT user_id, first_seen FROM follow_edges
               WHERE account_id = ? AND kind = ? AND ended IS NULL) o
           ON s.user_id = o.user_id
           WHERE (s.user_id IS NULL AND ?)
              OR (s.user_id IS NOT NULL AND (o.user_id IS NULL OR ? OR o.first_seen >= ?))""",
        [
            snap.started_at,
            snap.snapshot_id,
            snap.account_id,
            snap.kind,
            full,
            head,
            snap.started_at,
        ],
    )


def _close_lost(con: Connection, snap: Snapshot, now: datetime) -> None:
    """Close the intervals of the lost ids; their last_seen is the last full snapshot's finish.

    The previous complete full snapshot saw every edge opened before it started (it would
    have closed one it missed); an edge opened since keeps the last_seen it has.
    """
    previous = _previous_full(con, snap)
    previous_started, previous_finished = previous if previous else (None, None)
    con.execute(
        f"""UPDATE follow_edges SET ended = ?, closed_by = ?, last_seen = CASE
               WHEN first_seen < ? AND last_seen < ? THEN ? ELSE last_seen END
           WHERE account_id = ? AND kind = ? AND ended IS NULL AND user_id IN (
               SELECT user_id FROM {_CHANGES} WHERE {_LOST})""",
        [now, snap.snapshot_id, previous_started, previous_finished, previous_finished,
         snap.account_id, snap.kind],
    )  # fmt: skip


def apply_staged(con: Connection, snap: Snapshot, now: datetime) -> SnapshotDiff:
    """Diff the staged ids against the open edges, update intervals and events, complete."""
    sid, account, kind = snap.snapshot_id, snap.account_id, snap.kind
    baseline = not _has_baseline(con, snap)
    _plan_for_bulk(con)
    open_before = open_count(con, account, kind)
    first_list = baseline and open_before == 0
    if first_list:
        gained = _open_every_staged(con, snap, now)
        counts = _Counts(gained=gained, lost=0, seen_again=0, users_seen=gained)
    else:
        counts = _apply_changes(con, snap, now, open_before)
    gained_ids: list[int] = []
    lost_ids: list[int] = []
    if not baseline:
        con.execute(
            f"""INSERT INTO follow_events
               SELECT ?, ?, user_id, CASE WHEN seen THEN 'gained' ELSE 'lost' END, ?, NULL, ?
               FROM {_CHANGES} WHERE {_GAINED} OR {_LOST}""",
            [account, kind, now, sid],
        )
        ids = f"SELECT user_id FROM {_CHANGES} WHERE {{}} ORDER BY user_id"
        gained_ids = fetch_ids(con, ids.format(_GAINED), [])
        lost_ids = fetch_ids(con, ids.format(_LOST), [])
    con.execute(
        """UPDATE snapshots SET status = 'complete', finished_at = ?, next_token = NULL,
               users_seen = ?, gained = ?, lost = ?, error = NULL
           WHERE snapshot_id = ?""",
        [now, counts.users_seen, len(gained_ids), len(lost_ids), sid],
    )
    con.execute("DELETE FROM snapshot_staging WHERE snapshot_id = ?", [sid])
    if not first_list:
        con.execute(f"DROP TABLE {_CHANGES}")
    return SnapshotDiff(
        snapshot_id=sid,
        account_id=account,
        kind=kind,
        mode=snap.mode,
        baseline=baseline,
        count=open_before - counts.lost + counts.gained,
        gained_ids=gained_ids,
        lost_ids=lost_ids,
    )


# PostgreSQL: in the open-edges index's order each new key lands beside the last one; in
# the join's order a 1,000,000-follower baseline's complete() took 7.4 CPU seconds of the
# server instead of 4.3. DuckDB keeps no index; the sort would only cost it 0.2 s.
def _in_key_order(con: Connection) -> str:
    return " ORDER BY user_id" if is_postgres(con) else ""


def _open_every_staged(con: Connection, snap: Snapshot, now: datetime) -> int:
    """The first list of (account, kind): every distinct staged id opens an interval.

    Nothing is open to diff against, so the ids go straight in, without the changes table:
    for a 1,000,000-follower baseline on PostgreSQL, 2.8 s against 3.2 s for the changes
    table and the insert from it.
    Returns the number of intervals opened.
    """
    row = first_row(
        con.execute(
            "INSERT INTO follow_edges SELECT ?, ?, user_id, ?, ?, NULL, ?, NULL FROM "
            "(SELECT DISTINCT user_id FROM snapshot_staging WHERE snapshot_id = ?) s"
            + _in_key_order(con),
            [snap.account_id, snap.kind, now, now, snap.snapshot_id, snap.snapshot_id],
        )
    )
    return int(row[0]) if row else 0


def _apply_changes(con: Connection, snap: Snapshot, now: datetime, open_before: int) -> _Counts:
    """Diff the staged ids against the open edges (_ff_changes); close, move and open
    intervals accordingly."""
    account, kind = snap.account_id, snap.kind
    _select_changes(con, snap)
    counts = _count_changes(con, snap, open_before)
    # Each statement below costs a scan of the open edges on PostgreSQL (hash joins only,
    # see _plan_for_bulk) even when it has nothing to do: a full snapshot usually has no
    # last_seen to move, so ask first.
    if counts.lost:
        _close_lost(con, snap, now)
    if counts.seen_again:
        con.execute(
            f"""UPDATE follow_edges SET last_seen = ?
               WHERE account_id = ? AND kind = ? AND ended IS NULL AND user_id IN (
                   SELECT user_id FROM {_CHANGES} WHERE seen AND was_open)""",
            [now, account, kind],
        )
    if counts.gained:
        con.execute(
            "INSERT INTO follow_edges SELECT ?, ?, user_id, ?, ?, NULL, ?, NULL "
            f"FROM {_CHANGES} WHERE {_GAINED}" + _in_key_order(con),
            [account, kind, now, now, snap.snapshot_id],
        )
    return counts


class _Counts(NamedTuple):
    gained: int
    lost: int
    seen_again: int  # open edges seen whose last_seen moves
    users_seen: int


def _count_changes(con: Connection, snap: Snapshot, open_before: int) -> _Counts:
    """Gained, lost and distinct ids seen, from _ff_changes and the open count before.

    The ids seen are those in _ff_changes plus, in full mode, the open edges seen again that
    never left the join: every open edge not in _ff_changes.
    """
    row = first_row(
        con.execute(
            f"""SELECT count(*) FILTER (WHERE {_GAINED}), count(*) FILTER (WHERE {_LOST}),
                      count(*) FILTER (WHERE seen), count(*) FILTER (WHERE was_open)
               FROM {_CHANGES}"""
        )
    )
    gained, lost, seen_listed, open_listed = (int(v) for v in row) if row else (0, 0, 0, 0)
    kept_unlisted = open_before - open_listed if snap.mode == "full" else 0
    return _Counts(gained, lost, seen_listed - gained, seen_listed + kept_unlisted)


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
