"""One row of `snapshots`: read it, insert it, abandon it, and the checkpoint it gives.

Every other snapshot module reads and writes the row through these, inside the caller's
transaction, so the column list and the rules about a row's status sit in one place.
"""

from __future__ import annotations

from datetime import datetime

from followflow.store.connection import first_row
from followflow.store.dialect import Connection
from followflow.store.errors import SnapshotNotFound, SnapshotStateError
from followflow.store.records import Checkpoint, Kind, Mode, Snapshot

COLUMNS = (
    "snapshot_id, account_id, kind, mode, status, started_at, finished_at, pages, users_seen, "
    "expected_count, next_token, gained, lost, error"
)
_ERROR_MAX_CHARS = 2000


def load(con: Connection, snapshot_id: int) -> Snapshot:
    """The `snapshots` row of `snapshot_id`, or SnapshotNotFound."""
    row = first_row(
        con.execute(f"SELECT {COLUMNS} FROM snapshots WHERE snapshot_id = ?", [snapshot_id])
    )
    if row is None:
        raise SnapshotNotFound(snapshot_id)
    return Snapshot(*row)


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


def to_checkpoint(snap: Snapshot, *, resumed: bool = False) -> Checkpoint:
    """What a fetcher needs from the row to go on: token, pages and users so far."""
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


def abandon(con: Connection, snapshot_id: int, why: str, now: datetime) -> None:
    """Mark a snapshot failed and drop its staged pages (its spooled files stay)."""
    con.execute(
        """UPDATE snapshots SET status = 'failed', error = ?, finished_at = ?, next_token = NULL
           WHERE snapshot_id = ?""",
        [why, now, snapshot_id],
    )
    con.execute("DELETE FROM snapshot_staging WHERE snapshot_id = ?", [snapshot_id])


def require_running(snap: Snapshot, operation: str) -> None:
    """SnapshotStateError unless the snapshot is running (a partial one must be resumed)."""
    if snap.status != "running":
        raise SnapshotStateError(
            f"cannot {operation} snapshot {snap.snapshot_id}: it is {snap.status}"
            + ("; call start_or_resume() first" if snap.status == "partial" else "")
        )


def short_error(error: str) -> str:
    """An error message on one line, cut to what the `error` column keeps."""
    text = " ".join(error.split())
    return text if len(text) <= _ERROR_MAX_CHARS else text[: _ERROR_MAX_CHARS - 1] + "…"
