"""Small builders shared by the store tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from followflow.store import snapshots
from followflow.store.connection import DbPath
from followflow.store.records import SnapshotDiff

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def profiles(ids: Iterable[int], *, name: str = "N") -> pa.Table:
    ids = list(ids)
    return pa.table(
        {
            "user_id": pa.array(ids, pa.int64()),
            "username": [f"u{i}" for i in ids],
            "name": [name] * len(ids),
            "followers_count": pa.array([i % 1000 for i in ids], pa.int64()),
            "protected": [False] * len(ids),
        }
    )


def full_snapshot(
    db: DbPath,
    account_id: int,
    ids: list[int],
    *,
    start: float,
    kind: str = "followers",
    page_size: int = 3,
) -> SnapshotDiff:
    """Run a whole full snapshot of `ids` (newest first) in pages, starting at `start` s."""
    cp = snapshots.start_or_resume(db, account_id, kind, "full", len(ids), now=at(start))
    pages = [ids[i : i + page_size] for i in range(0, len(ids), page_size)] or [[]]
    for n, page in enumerate(pages, start=1):
        token = None if n == len(pages) else f"token-{n}"
        snapshots.stage_page(db, cp.snapshot_id, profiles(page), token, now=at(start + n))
    return snapshots.complete(db, cp.snapshot_id, now=at(start + len(pages) + 1))
