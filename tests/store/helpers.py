"""Small builders shared by the store tests."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from followflow.store import snapshots
from followflow.store.connection import DbPath
from followflow.store.location import PostgresUrl
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


def store_env(store: DbPath) -> dict[str, str]:
    """The environment a child process needs to open `store` through its settings (the
    URL is a secret, so it never goes on a command line)."""
    env = {k: v for k, v in os.environ.items() if k != "FOLLOWFLOW_DATABASE_URL"}
    env["PYTHONPATH"] = str(Path(__file__).parents[2])
    if isinstance(store, PostgresUrl):
        env["FOLLOWFLOW_DATABASE_URL"] = store.conninfo()
    else:
        env["FOLLOWFLOW_DB_PATH"] = str(store)
    return env
