from __future__ import annotations

import time

import pytest

from followflow.store import snapshots
from followflow.store.connection import DbPath
from followflow.store.errors import SnapshotStateError
from followflow.store.folding import BackgroundFolder
from tests.store.helpers import at, profiles

ACCOUNT = 42


def wait_for(condition, timeout_s: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_spooled_pages_are_staged_in_the_background(store: DbPath) -> None:
    db = store
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(0))
    with BackgroundFolder(db, cp.snapshot_id, every_s=0.05) as folder:
        snapshots.spool_page(db, cp.snapshot_id, 1, profiles([3, 2]), "t1")
        snapshots.spool_page(db, cp.snapshot_id, 2, profiles([1]), None)
        assert wait_for(lambda: snapshots.checkpoint(db, cp.snapshot_id).pages_done == 2)
        folder.check()
    assert snapshots.complete(db, cp.snapshot_id, now=at(1)).count == 3


def test_a_failed_fold_is_raised_on_the_listing_thread(store: DbPath) -> None:
    db = store
    cp = snapshots.start_or_resume(db, ACCOUNT, "followers", now=at(0))
    snapshots.mark_failed(db, cp.snapshot_id, "account suspended", now=at(1))
    with pytest.raises(SnapshotStateError, match="it is failed"):
        with BackgroundFolder(db, cp.snapshot_id, every_s=0.01) as folder:

            def raised() -> bool:
                folder.check()  # raises once the first fold has failed
                return False

            wait_for(raised)
