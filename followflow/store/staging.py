"""Staging a snapshot's pages: their ids appended to `snapshot_staging` and the row's
checkpoint (next token, pages, users seen) moved on, in the caller's transaction.

A page numbered at or before the checkpoint replaces that page and the ones after it, so
staging is keyed by page and a retried transaction cannot stage a page twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa

from followflow.store import spool
from followflow.store.connection import DbPath, first_row
from followflow.store.dialect import Connection, append_rows
from followflow.store.errors import SnapshotStateError
from followflow.store.records import Snapshot
from followflow.store.snapshot_profiles import upsert_profiles, upserted_at_fold
from followflow.store.snapshot_rows import COLUMNS


def ids_table(page_users: pa.Table | pa.Array | Sequence[int]) -> pa.Table:
    """A page as an Arrow table with at least `user_id` (profiles pass through)."""
    if isinstance(page_users, pa.Table):
        return page_users
    return pa.table({"user_id": pa.array(page_users, type=pa.int64())})


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
    ids = pa.chunked_array([t.column("user_id").cast(pa.int64()) for t in tables], pa.int64())
    pages_of_ids = pa.chunked_array(
        [
            pa.repeat(pa.scalar(n, pa.int32()), t.num_rows)
            for n, t in zip(numbers, tables, strict=True)
        ],
        pa.int32(),
    )
    snapshot_ids = pa.repeat(pa.scalar(snap.snapshot_id, pa.int64()), len(ids))
    staged = pa.table({"snapshot_id": snapshot_ids, "page_no": pages_of_ids, "user_id": ids})
    append_rows(con, "snapshot_staging", staged)
    if with_profiles:
        upsert_profiles(con, tables, now)
    row = first_row(
        con.execute(
            f"""UPDATE snapshots SET next_token = ?, pages = ?, users_seen = users_seen - ? + ?
                WHERE snapshot_id = ? RETURNING {COLUMNS}""",
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


def fold_spooled(db: DbPath, con: Connection, snap: Snapshot, now: datetime) -> Snapshot:
    """Stage the pages spooled on disk after the checkpoint: their ids, and their profiles
    where they are `upserted_at_fold` (else `complete()` upserts them from the files, which
    stay until then)."""
    if snap.status not in ("running", "partial"):
        return snap
    spooled = [
        (p.page_no, p.users, p.next_token) for p in spool.pending(db, snap.snapshot_id, snap.pages)
    ]
    return stage_batch(con, snap, spooled, now, with_profiles=upserted_at_fold(db))
