from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from followflow.store.connection import DbPath, transaction
from followflow.store.users import upsert_users

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)


def names(ids: list[int], name: str) -> pa.Table:
    return pa.table({"user_id": pa.array(ids, pa.int64()), "name": [name] * len(ids)})


def test_a_user_is_stored_once_however_often_it_is_upserted(store: DbPath) -> None:
    db = store
    with transaction(db) as con:
        upsert_users(con, names([1, 2, 2, 3], "first"), T0)  # a page that repeats user 2
        upsert_users(con, names([3, 4], "second"), T1)
        rows = con.execute(
            "SELECT user_id, count(*), max(name), max(updated_at) "
            "FROM users GROUP BY user_id ORDER BY user_id"
        ).fetchall()
    assert rows == [(1, 1, "first", T0), (2, 1, "first", T0), (3, 1, "second", T1),
                    (4, 1, "second", T1)]  # fmt: skip


def test_the_fetch_time_a_page_carries_is_kept(store: DbPath) -> None:
    db = store
    fetched = pa.array([T0], pa.timestamp("us", tz="UTC"))
    with transaction(db) as con:
        upsert_users(con, names([1], "n").append_column("updated_at", fetched), T1)
        rows = con.execute("SELECT updated_at, state FROM users").fetchall()
    assert rows == [(T0, "active")]
