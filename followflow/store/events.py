"""Why followers were lost: filled in after the flow looks the lost ids up on X.

A lost follower either unfollowed, or was suspended or deactivated (X's `users?ids=`
lookup answers with a problem for the latter two). The snapshot records `lost` events with
no reason; the flow looks them up in batches of 100 and calls `record_lost_reasons`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from followflow.store.connection import DbPath, connect, fetch_ids, first_row, transaction
from followflow.store.records import LOST_REASONS

_REASONS_VIEW = "_ff_lost_reasons"


def lost_without_reason(db: DbPath, snapshot_id: int) -> list[int]:
    """Ids lost in `snapshot_id` whose reason is not recorded yet (to look up on X)."""
    with connect(db) as con:
        return fetch_ids(
            con,
            """SELECT user_id FROM follow_events
               WHERE snapshot_id = ? AND event = 'lost' AND reason IS NULL
               ORDER BY user_id""",
            [snapshot_id],
        )


def record_lost_reasons(db: DbPath, snapshot_id: int, reasons: Mapping[int, str]) -> int:
    """Set the reason ('unfollowed' | 'suspended' | 'deactivated') on lost events.

    Also sets `users.state` (suspended/deactivated, or active for an unfollow) for users we
    have a profile of. Returns the number of events updated.
    """
    bad = {r for r in reasons.values() if r not in LOST_REASONS}
    if bad:
        raise ValueError(f"lost reasons must be one of {sorted(LOST_REASONS)}, got {sorted(bad)}")
    if not reasons:
        return 0
    table = pa.table(
        {
            "user_id": pa.array(list(reasons), type=pa.int64()),
            "reason": pa.array(list(reasons.values()), type=pa.string()),
        }
    )
    with transaction(db) as con:
        con.register(_REASONS_VIEW, table)
        try:
            row = first_row(
                con.execute(
                    f"""UPDATE follow_events SET reason = r.reason FROM {_REASONS_VIEW} r
                    WHERE follow_events.snapshot_id = ? AND follow_events.event = 'lost'
                      AND follow_events.user_id = r.user_id""",
                    [snapshot_id],
                )
            )
            con.execute(
                f"""UPDATE users SET state = CASE r.reason WHEN 'unfollowed' THEN 'active'
                                                           ELSE r.reason END
                    FROM {_REASONS_VIEW} r WHERE users.user_id = r.user_id"""
            )
        finally:
            con.unregister(_REASONS_VIEW)
    return int(row[0]) if row else 0
