"""Snapshot lifecycle: start or resume, stage pages, complete, or leave partial.

A snapshot reads one list (followers or following) of one account, page by page. A page
is kept on disk the moment it arrives (`spool_page`, see spool.py) and staged with the
pages after it in one transaction (`fold`, see staging.py): its ids appended to
`snapshot_staging`, the checkpoint (next token, pages, users seen) moved on. So a crash
loses at most the page in flight, and the next run resumes after the last page fetched.
Only `complete()` touches the follow edges, in one transaction; a partial or failed
snapshot changes nothing and records no events, so a failed run can never report mass
unfollows. The row itself is read and written in snapshot_rows.py; the profiles of the
pages reach `users` at completion or, on PostgreSQL, with their ids (snapshot_profiles.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pyarrow as pa

from followflow.store import edges, spool
from followflow.store.connection import DbPath, connect, transaction
from followflow.store.errors import SnapshotStateError
from followflow.store.records import (
    Checkpoint,
    Kind,
    Mode,
    Snapshot,
    SnapshotDiff,
    check_kind,
    check_mode,
    utc_now,
)
from followflow.store.snapshot_profiles import upsert_spooled_profiles, upserted_at_fold
from followflow.store.snapshot_rows import (
    COLUMNS,
    abandon,
    insert_snapshot,
    load,
    require_running,
    short_error,
    to_checkpoint,
)
from followflow.store.staging import fold_spooled, ids_table, stage_rows


def start_or_resume(
    db: DbPath,
    account_id: int,
    kind: str,
    mode: str = "full",
    expected_count: int | None = None,
    *,
    resume: bool = True,
    max_age: timedelta | None = None,
    now: datetime | None = None,
) -> Checkpoint:
    """Resume the open (running or partial) snapshot of (account, kind, mode), or start one.

    Pages a killed process left spooled on disk are staged first, so the resume starts
    after the last page that was fetched.

    Args:
        expected_count: the list's size from the profile (`followers_count`), for progress.
        resume: False abandons any open snapshot (marked failed) and starts afresh.
        max_age: an open snapshot started longer ago than this is abandoned, not resumed:
            its staged pages are too old to diff against.
    """
    kind_, mode_, now = check_kind(kind), check_mode(mode), utc_now(now)
    checkpoint = _start_or_resume(
        db, account_id, kind_, mode_, expected_count, resume, max_age, now
    )
    _sweep_spool(db)
    return checkpoint


def _sweep_spool(db: DbPath) -> None:
    """Remove the spooled pages of snapshots that have ended (complete or failed).

    Only ended snapshots: a folder whose snapshot this process has not seen may belong to
    one another process started after the query.
    """
    spooled = spool.spooled_snapshots(db)
    if not spooled:
        return
    # Only the folders' snapshots: every ended one would be the whole history, read again
    # at the start of each of a fleet's thousand listings.
    marks = ", ".join("?" * len(spooled))
    with connect(db) as con:
        ended = con.execute(
            f"""SELECT snapshot_id FROM snapshots
                WHERE status IN ('complete', 'failed') AND snapshot_id IN ({marks})""",
            spooled,
        ).fetchall()
    for (snapshot_id,) in ended:
        spool.discard(db, int(snapshot_id))


def _start_or_resume(
    db: DbPath,
    account_id: int,
    kind_: Kind,
    mode_: Mode,
    expected_count: int | None,
    resume: bool,
    max_age: timedelta | None,
    now: datetime,
) -> Checkpoint:
    with transaction(db) as con:
        rows = con.execute(
            f"""SELECT {COLUMNS} FROM snapshots
                WHERE account_id = ? AND kind = ? AND mode = ? AND status IN ('running', 'partial')
                ORDER BY snapshot_id DESC""",
            [account_id, kind_, mode_],
        ).fetchall()
        open_ = [Snapshot(*row) for row in rows]
        keep = open_[0] if open_ and resume else None
        if keep is not None and max_age is not None and now - keep.started_at > max_age:
            keep = None
        for snap in open_:
            if snap is not keep:
                abandon(con, snap.snapshot_id, "abandoned: a newer snapshot superseded it", now)
        if keep is None:
            return to_checkpoint(
                insert_snapshot(con, account_id, kind_, mode_, expected_count, now)
            )
        con.execute(
            """UPDATE snapshots SET status = 'running', error = NULL, finished_at = NULL,
                   expected_count = coalesce(?, expected_count)
               WHERE snapshot_id = ?""",
            [expected_count, keep.snapshot_id],
        )
        resumed = fold_spooled(db, con, load(con, keep.snapshot_id), now)
        return to_checkpoint(resumed, resumed=True)


def checkpoint(db: DbPath, snapshot_id: int) -> Checkpoint:
    """The saved checkpoint of a snapshot, whatever its status."""
    with connect(db) as con:
        return to_checkpoint(load(con, snapshot_id))


def get_snapshot(db: DbPath, snapshot_id: int) -> Snapshot:
    """The `snapshots` row of `snapshot_id`."""
    with connect(db) as con:
        return load(con, snapshot_id)


def spool_page(
    db: DbPath,
    snapshot_id: int,
    page_no: int,
    page_users: pa.Table | pa.Array | Sequence[int],
    next_token: str | None,
) -> None:
    """Keep one fetched page on disk; no database work (under 1 ms). The next `fold()`
    stages its ids; the file stays until the snapshot ends, for its profiles.

    The page survives the process: if it dies before the fold, the next `start_or_resume`
    folds the page and resumes after it.

    Args:
        page_no: 1-based number of this page, continuing the checkpoint and the pages
            spooled since; spooling a number again replaces that page.
    """
    spool.write_page(db, snapshot_id, page_no, ids_table(page_users), next_token)


def fold(db: DbPath, snapshot_id: int, *, now: datetime | None = None) -> Checkpoint:
    """Stage the spooled pages of a snapshot in one transaction; returns the checkpoint."""
    now = utc_now(now)
    with transaction(db) as con:
        snap = load(con, snapshot_id)
        require_running(snap, "stage a page of")
        snap = fold_spooled(db, con, snap, now)
    return to_checkpoint(snap)


def stage_page(
    db: DbPath,
    snapshot_id: int,
    page_users: pa.Table | pa.Array | Sequence[int],
    next_token: str | None,
    *,
    page_no: int | None = None,
    now: datetime | None = None,
) -> Checkpoint:
    """Stage one fetched page and checkpoint the token after it, in one transaction
    (pages spooled before it are staged first).

    Args:
        page_users: the page as Arrow (columns of `users`, any subset holding `user_id`;
            profiles are upserted into `users`), or just its user ids.
        next_token: the token for the page after this one; None after the last page.
        page_no: 1-based number of this page. Default: the page after the checkpoint.
            Passing the number the page was fetched as makes a retried call idempotent:
            re-staging page n replaces it (and drops any page after it).
    """
    now = utc_now(now)
    page = ids_table(page_users)
    with transaction(db) as con:
        snap = load(con, snapshot_id)
        require_running(snap, "stage a page of")
        snap = fold_spooled(db, con, snap, now)
        snap = stage_rows(con, snap, page, next_token, page_no, now)
    return to_checkpoint(snap)


def restart(db: DbPath, snapshot_id: int) -> Checkpoint:
    """Drop a snapshot's staged pages and token: for when X rejects the saved token."""
    with transaction(db) as con:
        snap = load(con, snapshot_id)
        if snap.status == "complete":
            raise SnapshotStateError(f"cannot restart snapshot {snapshot_id}: it is complete")
        con.execute("DELETE FROM snapshot_staging WHERE snapshot_id = ?", [snapshot_id])
        con.execute(
            """UPDATE snapshots SET status = 'running', next_token = NULL, pages = 0,
                   users_seen = 0, error = NULL, finished_at = NULL
               WHERE snapshot_id = ?""",
            [snapshot_id],
        )
        fresh = to_checkpoint(load(con, snapshot_id))
    spool.discard(db, snapshot_id)
    return fresh


def mark_partial(db: DbPath, snapshot_id: int, error: str, *, now: datetime | None = None) -> None:
    """Mark a snapshot that could not finish `partial`; staged pages stay for a resume
    (spooled ones are staged first, so the checkpoint is the last page fetched).

    Edges and events are not touched.
    """
    now = utc_now(now)
    with transaction(db) as con:
        snap = load(con, snapshot_id)
        if snap.status == "complete":
            raise SnapshotStateError(f"snapshot {snapshot_id} is complete; it cannot be partial")
        snap = fold_spooled(db, con, snap, now)
        con.execute(
            "UPDATE snapshots SET status = 'partial', error = ?, finished_at = ? "
            "WHERE snapshot_id = ?",
            [short_error(error), now, snapshot_id],
        )


def mark_failed(db: DbPath, snapshot_id: int, error: str, *, now: datetime | None = None) -> None:
    """Mark a snapshot that must not be resumed `failed` (unknown or suspended account).

    Its staged pages are dropped; edges and events are not touched.
    """
    now = utc_now(now)
    with transaction(db) as con:
        snap = load(con, snapshot_id)
        if snap.status == "complete":
            raise SnapshotStateError(f"snapshot {snapshot_id} is complete; it cannot fail")
        abandon(con, snapshot_id, short_error(error), now)
    spool.discard(db, snapshot_id)


def complete(db: DbPath, snapshot_id: int, *, now: datetime | None = None) -> SnapshotDiff:
    """Apply a finished snapshot to the edge history in one transaction and mark it complete.

    The profiles of spooled pages are upserted into `users` first (unless their folds did
    that), and pages not yet staged are staged. Full mode: staged ids are diffed against
    the open edges; lost edges are closed, gained ones opened, both recorded as events
    (none for the baseline). Head mode records gains only. Calling it again on a complete
    snapshot returns the same diff and changes nothing.

    Raises:
        SnapshotStateError: the snapshot is not running, or a full snapshot still has a
            next token (its last page was never staged).
    """
    now = utc_now(now)
    if not upserted_at_fold(db) and spool.page_count(db, snapshot_id):
        upsert_spooled_profiles(db, snapshot_id)
    with transaction(db) as con:
        snap = load(con, snapshot_id)
        if snap.status == "complete":
            return edges.recorded_diff(con, snap)
        require_running(snap, "complete")
        snap = fold_spooled(db, con, snap, now)
        if snap.mode == "full" and snap.next_token is not None:
            raise SnapshotStateError(
                f"snapshot {snapshot_id} has pages left (next token saved); fetch them first"
            )
        diff = edges.apply_staged(con, snap, now)
    spool.discard(db, snapshot_id)
    return diff
