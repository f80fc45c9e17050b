"""Head mode: cheap checks between full snapshots that record new followers only.

Lists come newest first, so a head run reads pages until one holds a follower already
known (an open edge), then applies what it saw: new ids open edges and get `gained`
events; nobody is ever marked lost, because a head run does not see the whole list.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa

from followflow.store import edges
from followflow.store.connection import DbPath, connect, fetch_ids, transaction
from followflow.store.records import SnapshotDiff, check_kind, utc_now
from followflow.store.snapshot_rows import insert_snapshot
from followflow.store.staging import stage_rows

_IDS_VIEW = "_ff_probe_ids"


def known_followers(
    db: DbPath, account_id: int, ids: Sequence[int] | pa.Array, kind: str = "followers"
) -> set[int]:
    """The ids among `ids` that have an open edge with `account_id` (already known)."""
    kind_ = check_kind(kind)
    if len(ids) == 0:
        return set()
    probe = pa.table({"user_id": pa.array(ids, type=pa.int64())})
    with connect(db) as con:
        con.register(_IDS_VIEW, probe)
        try:
            known = fetch_ids(
                con,
                f"""SELECT user_id FROM follow_edges
                    WHERE account_id = ? AND kind = ? AND ended IS NULL
                      AND user_id IN (SELECT user_id FROM {_IDS_VIEW})""",
                [account_id, kind_],
            )
        finally:
            con.unregister(_IDS_VIEW)
    return set(known)


def first_known_index(
    db: DbPath, account_id: int, ids: Sequence[int], kind: str = "followers"
) -> int | None:
    """Position of the first already-known id in `ids` (newest-first order), or None."""
    known = known_followers(db, account_id, ids, kind)
    return next((i for i, user_id in enumerate(ids) if int(user_id) in known), None)


def apply_head(
    db: DbPath,
    account_id: int,
    users: pa.Table | Sequence[int],
    kind: str = "followers",
    *,
    now: datetime | None = None,
) -> SnapshotDiff:
    """Record a head run's users in one transaction: a complete `head` snapshot, gains only.

    `users` are the users read from the top of the list (Arrow with profiles, or ids);
    those without an open edge are opened and recorded as gained.
    """
    kind_, now = check_kind(kind), utc_now(now)
    page = (
        users
        if isinstance(users, pa.Table)
        else pa.table({"user_id": pa.array(users, type=pa.int64())})
    )
    with transaction(db) as con:
        snap = insert_snapshot(con, account_id, kind_, "head", None, now)
        snap = stage_rows(con, snap, page, None, None, now)
        return edges.apply_staged(con, snap, now)
