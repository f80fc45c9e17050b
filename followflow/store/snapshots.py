"""Snapshot lifecycle: start or resume, stage pages, complete, or leave partial.

A snapshot reads one list (followers or following) of one account, page by page. A page
is kept on disk the moment it arrives (`spool_page`, see spool.py) and staged with the
pages after it in one transaction (`fold`): its ids appended to `snapshot_staging`, the
checkpoint (next token, pages, users seen) moved on. So a crash loses at most the page in
flight, and the next run resumes after the last page fetched. Only `complete()` touches
the follow edges, in one transaction; a partial or failed snapshot changes nothing and
records no events, so a failed run can never report mass unfollows.

The profiles of spooled pages reach `users` when the snapshot completes, from the page
files, a few pages per transaction. Upserting them at every fold made DuckDB rewrite the
growing `users` table and its index each time (measured on 1,000,000 followers: 22.5 s
and 545 MB for the snapshot, against 14.6 s and 301 MB without).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import islice

import pyarrow as pa

from followflow.store import edges, spool
from followflow.store.connection import DbPath, connect, first_row, transaction
from followflow.store.dialect import Connection
from followflow.store.errors import SnapshotNotFound, SnapshotStateError
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
from followflow.store.users import upsert_users

_COLUMNS = (
    "snapshot_id, account_id, kind, mode, status, started_at, finished_at, pages, users_seen, "
    "expected_count, next_token, gained, lost, error"
)
_ERROR_MAX_CHARS = 2000
_STAGE_VIEW = "_ff_stage_ids"


def load(con: Connection, snapshot_id: int) -> Snapshot:
    """The `snapshots` row of `snapshot_id`, or SnapshotNotFound."""
    row = first_row(
        con.execute(f"SELECT {_COLUMNS} FROM snapshots WHERE snapshot_id = ?", [snapshot_id])
    )
    if row is None:
        raise SnapshotNotFound(snapshot_id)
    return Snapshot(*row)


def _checkpoint(snap: Snapshot, *, resumed: bool = False) -> Checkpoint:
    return Checkpoint(
        snapshot_id=snap.snapshot_id,
        account_id=snap.account_id,
        kind=snap.kind,
        mode=snap.mode,
        next_token=snap.next_token,
        pages_done=snap.pages,
        users_seen=snap.users_seen,
        expected_count=snap.expected_count,
        started_at=snap.started_at,
        resumed=resumed,
    )


def _abandon(con: Connection, snapshot_id: int, why: str, now: datetime) -> None:
    con.execute(
        """UPDATE snapshots SET status = 'failed', error = ?, finished_at = ?, next_token = NULL
           WHERE snapshot_id = ?""",
        [why, now, snapshot_id],
    )
    con.execute("DELETE FROM snapshot_staging WHERE snapshot_id = ?", [snapshot_id])


def insert_snapshot(
    con: Connection,
    account_id: int,
    kind: Kind,
    mode: Mode,
    expected_count: int | None,
    now: datetime,
) -> Snapshot:
    """Insert a new running snapshot row (inside the caller's transaction)."""
    row = first_row(
        con.execute(
            """INSERT INTO snapshots (account_id, kind, mode, status, started_at, expected_count)
           VALUES (?, ?, ?, 'running', ?, ?) RETURNING snapshot_id""",
            [account_id, kind, mode, now, expected_count],
        )
    )
    assert row is not None
    return load(con, int(row[0]))


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
    with connect(db) as con:
        ended = {
            int(row[0])
            for row in con.execute(
                "SELECT snapshot_id FROM snapshots WHERE status IN ('complete', 'failed')"
            ).fetchall()
        }
    for snapshot_id in spool.spooled_snapshots(db):
        if snapshot_id in ended:
            spool.discard(db, snapshot_id)


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
            f"""SELECT {_COLUMNS} FROM snapshots
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
                _abandon(con, snap.snapshot_id, "abandoned: a newer snapshot superseded it", now)
        if keep is None:
            return _checkpoint(insert_snapshot(con, account_id, kind_, mode_, expected_count, now))
        con.execute(
            """UPDATE snapshots SET status = 'running', error = NULL, finished_at = NULL,
                   expected_count = coalesce(?, expected_count)
               WHERE snapshot_id = ?""",
            [expected_count, keep.snapshot_id],
        )
        resumed = _fold_spooled(db, con, load(con, keep.snapshot_id), now)
        return _checkpoint(resumed, resumed=True)


def checkpoint(db: DbPath, snapshot_id: int) -> Checkpoint:
    """The saved checkpoint of a snapshot, whatever its status."""
    with connect(db) as con:
        return _checkpoint(load(con, snapshot_id))


def get_snapshot(db: DbPath, snapshot_id: int) -> Snapshot:
    """The `snapshots` row of `snapshot_id`."""
    with connect(db) as con:
        return load(con, snapshot_id)


def _require_running(snap: Snapshot, operation: str) -> None:
    if snap.status != "running":
        raise SnapshotStateError(
            f"cannot {operation} snapshot {snap.snapshot_id}: it is {snap.status}"
            + ("; call start_or_resume() first" if snap.status == "partial" else "")
        )


def _ids_table(page_users: pa.Table | pa.Array | Sequence[int]) -> pa.Table:
    if isinstance(page_users, pa.Table):
        return page_users
    return pa.table({"user_id": pa.array(page_users, type=pa.int64())})


def _upsert_profiles(con: Connection, pages: Sequence[pa.Table], now: datetime) -> None:
    """Upsert the profiles of `pages`, one statement per run of pages with the same columns."""
    run: list[pa.Table] = []
    for page in [*pages, None]:
        if run and (page is None or page.schema != run[0].schema):
            if run[0].num_columns > 1:
                upsert_users(con, pa.concat_tables(run), now)
            run = []
        if page is not None:
            run.append(page)


def stage_batch(
    con: Connection,
    snap: Snapshot,
    pages: Sequence[tuple[int | None, pa.Table, str | None]],
    now: datetime,
    *,
    with_profiles: bool = True,
) -> Snapshot:
    """Stage consecutive pages, each `(page_no, users, next_token)`, in the caller's
    transaction: one append for all their ids and (`with_profiles`) one upsert per run of
    profiles.

    A page numbered at or before the checkpoint replaces that page and every page after
    it (a retry after a commit whose report was lost); None means the page after.
    """
    if not pages:
        return snap
    first = snap.pages + 1 if pages[0][0] is None else pages[0][0]
    if not 1 <= first <= snap.pages + 1:
        raise SnapshotStateError(
            f"page {first} of snapshot {snap.snapshot_id} does not follow page {snap.pages}"
        )
    removed = 0
    if first <= snap.pages:
        deleted = first_row(
            con.execute(
                "DELETE FROM snapshot_staging WHERE snapshot_id = ? AND page_no >= ?",
                [snap.snapshot_id, first],
            )
        )
        removed = int(deleted[0]) if deleted else 0
    numbers = range(first, first + len(pages))
    for number, (page_no, _, _) in zip(numbers, pages, strict=True):
        if page_no is not None and page_no != number:
            raise SnapshotStateError(
                f"page {page_no} of snapshot {snap.snapshot_id} is out of order"
            )
    tables = [users for _, users, _ in pages]
    staged = pa.table(
        {
            "page_no": pa.chunked_array(
                [
                    pa.repeat(pa.scalar(n, pa.int32()), t.num_rows)
                    for n, t in zip(numbers, tables, strict=True)
                ],
                pa.int32(),
            ),
            "user_id": pa.chunked_array(
                [t.column("user_id").cast(pa.int64()) for t in tables], pa.int64()
            ),
        }
    )
    con.register(_STAGE_VIEW, staged)
    try:
        con.execute(
            f"INSERT INTO snapshot_staging SELECT ?, page_no, user_id FROM {_STAGE_VIEW}",
            [snap.snapshot_id],
        )
    finally:
        con.unregister(_STAGE_VIEW)
    if with_profiles:
        _upsert_profiles(con, tables, now)
    row = first_row(
        con.execute(
            f"""UPDATE snapshots SET next_token = ?, pages = ?, users_seen = users_seen - ? + ?
                WHERE snapshot_id = ? RETURNING {_COLUMNS}""",
            [pages[-1][2], numbers[-1], removed, staged.num_rows, snap.snapshot_id],
        )
    )
    assert row is not None
    return Snapshot(*row)


def stage_rows(
    con: Connection,
    snap: Snapshot,
    page: pa.Table,
    next_token: str | None,
    page_no: int | None,
    now: datetime,
) -> Snapshot:
    """Stage one page inside the caller's transaction; returns the updated row."""
    return stage_batch(con, snap, [(page_no, page, next_token)], now)


def _fold_spooled(db: DbPath, con: Connection, snap: Snapshot, now: datetime) -> Snapshot:
    """Stage the ids of the pages spooled on disk after the checkpoint (their files stay
    for `complete()`, which upserts their profiles)."""
    if snap.status not in ("running", "partial"):
        return snap
    spooled = [
        (p.page_no, p.users, p.next_token) for p in spool.pending(db, snap.snapshot_id, snap.pages)
    ]
    return stage_batch(con, snap, spooled, now, with_profiles=False)


# Pages of profiles per transaction, and per attachment of the file, when a snapshot
# completes: DuckDB keeps a transaction's new rows in memory until it commits, and an
# attached file's until a checkpoint. With these bounds a 1,000,000-follower snapshot peaked
# at ~340 MB; one attachment for all of them, at ~400 MB (BENCHMARKS.md).
PROFILE_PAGES_PER_TRANSACTION = 50
PROFILE_PAGES_PER_ATTACH = 500


def _upsert_spooled_profiles(db: DbPath, snapshot_id: int) -> None:
    """Upsert the profiles of every page spooled for a snapshot, a few pages at a time.

    A transaction per PROFILE_PAGES_PER_TRANSACTION pages keeps each one's new rows
    small; letting the file go after PROFILE_PAGES_PER_ATTACH checkpoints it, which moves
    the rows written so far out of memory. A crash in between leaves some profiles newer
    than others, never wrong. Each page carries its fetch time as `updated_at`.
    """
    pages = (p.users for p in spool.readable(db, snapshot_id) if p.users.num_columns > 1)
    batches = iter(lambda: list(islice(pages, PROFILE_PAGES_PER_TRANSACTION)), [])
    per_attach = PROFILE_PAGES_PER_ATTACH // PROFILE_PAGES_PER_TRANSACTION
    while True:
        with connect(db):
            upserted = 0
            for batch in islice(batches, per_attach):
                with transaction(db) as con:
                    _upsert_profiles(con, batch, utc_now(None))
                upserted += 1
        if upserted < per_attach:
            return


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
    spool.write_page(db, snapshot_id, page_no, _ids_table(page_users), next_token)


def fold(db: DbPath, snapshot_id: int, *, now: datetime | None = None) -> Checkpoint:
    """Stage the spooled pages of a snapshot in one transaction; returns the checkpoint."""
    now = utc_now(now)
    with transaction(db) as con:
        snap = load(con, snapshot_id)
        _require_running(snap, "stage a page of")
        snap = _fold_spooled(db, con, snap, now)
    return _checkpoint(snap)


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
    page = _ids_table(page_users)
    with transaction(db) as con:
        snap = load(con, snapshot_id)
        _require_running(snap, "stage a page of")
        snap = _fold_spooled(db, con, snap, now)
        snap = stage_rows(con, snap, page, next_token, page_no, now)
    return _checkpoint(snap)


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
        fresh = _checkpoint(load(con, snapshot_id))
    spool.discard(db, snapshot_id)
    return fresh


def _short(error: str) -> str:
    text = " ".join(error.split())
    return text if len(text) <= _ERROR_MAX_CHARS else text[: _ERROR_MAX_CHARS - 1] + "…"


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
        snap = _fold_spooled(db, con, snap, now)
        con.execute(
            "UPDATE snapshots SET status = 'partial', error = ?, finished_at = ? "
            "WHERE snapshot_id = ?",
            [_short(error), now, snapshot_id],
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
        _abandon(con, snapshot_id, _short(error), now)
    spool.discard(db, snapshot_id)


def complete(db: DbPath, snapshot_id: int, *, now: datetime | None = None) -> SnapshotDiff:
    """Apply a finished snapshot to the edge history in one transaction and mark it complete.

    The profiles of spooled pages are upserted into `users` first, and pages not yet
    staged are staged. Full mode: staged ids are diffed against the open edges; lost
    edges are closed, gained ones opened, both recorded as events (none for the
    baseline). Head mode records gains only. Calling it again on a complete snapshot
    returns the same diff and changes nothing.

    Raises:
        SnapshotStateError: the snapshot is not running, or a full snapshot still has a
            next token (its last page was never staged).
    """
    now = utc_now(now)
    if spool.page_count(db, snapshot_id):
        _upsert_spooled_profiles(db, snapshot_id)
    with transaction(db) as con:
        snap = load(con, snapshot_id)
        if snap.status == "complete":
            return edges.recorded_diff(con, snap)
        _require_running(snap, "complete")
        snap = _fold_spooled(db, con, snap, now)
        if snap.mode == "full" and snap.next_token is not None:
            raise SnapshotStateError(
                f"snapshot {snapshot_id} has pages left (next token saved); fetch them first"
            )
        diff = edges.apply_staged(con, snap, now)
    spool.discard(db, snapshot_id)
    return diff
