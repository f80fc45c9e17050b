from __future__ import annotations

import threading
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from followflow.store.connection import DbPath, transaction
from followflow.store.location import PostgresUrl
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


def test_writers_upserting_shared_users_in_opposite_orders_do_not_deadlock(
    store: DbPath,
) -> None:
    """Two snapshots of accounts that share followers, each staging its own page order."""
    if not isinstance(store, PostgresUrl):
        pytest.skip("one writer per DuckDB file: nothing to deadlock")
    ids = list(range(1, 100_001))
    with transaction(store) as con:
        upsert_users(con, names(ids, "before"), T0)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(order: list[int], name: str) -> None:
        try:
            with transaction(store) as con:
                barrier.wait(timeout=30)  # both statements run at once, meeting midway
                upsert_users(con, names(order, name), T1)
        except BaseException as error:
            errors.append(error)

    threads = [
        threading.Thread(target=writer, args=(ids, "up")),
        threading.Thread(target=writer, args=(ids[::-1], "down")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with transaction(store) as con:
        rows = con.execute("SELECT count(*), count(DISTINCT name) FROM users").fetchall()
    assert rows[0][0] == len(ids) and rows[0][1] == 1


def postgres_only(store: DbPath) -> PostgresUrl:
    if not isinstance(store, PostgresUrl):
        pytest.skip("PostgreSQL COPYs a page of new users; DuckDB has one writer per file")
    return store


def stored(db: DbPath) -> list[tuple[int, int, str]]:
    with transaction(db) as con:
        rows = con.execute(
            "SELECT user_id, count(*), max(name) FROM users GROUP BY user_id ORDER BY user_id"
        ).fetchall()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_a_known_user_the_sample_misses_turns_the_copy_into_an_upsert(store: DbPath) -> None:
    """The COPY of a page that looked new fails whole on the one known user, without
    undoing what its transaction wrote before; the upsert then writes the page."""
    db = postgres_only(store)
    with transaction(db) as con:
        upsert_users(con, names([500], "known"), T0)
    ids = list(range(1, 1001))  # 32 of them are looked up: 1, 32, 63, ... (not 500)
    with transaction(db) as con:
        upsert_users(con, names([5000], "earlier in the transaction"), T1)
        upsert_users(con, names(ids, "page"), T1)
    assert stored(db) == [(i, 1, "page") for i in ids] + [(5000, 1, "earlier in the transaction")]


def test_a_user_another_writer_stores_during_the_copy_is_upserted(store: DbPath) -> None:
    """Writer A inserts user 7 and holds its transaction open; B's page looks new (A has
    not committed), so B's COPY waits on A, fails when A commits, and B upserts instead."""
    db = postgres_only(store)
    a_inserted, b_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer_a() -> None:
        try:
            with transaction(db) as con:
                upsert_users(con, names([7], "a"), T0)
                a_inserted.set()
                assert not b_done.wait(timeout=1.0), "B wrote user 7 before A committed"
        except BaseException as error:
            errors.append(error)

    def writer_b() -> None:
        try:
            a_inserted.wait(timeout=30)
            with transaction(db) as con:
                upsert_users(con, names(list(range(1, 101)), "b"), T1)
            b_done.set()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer_a), threading.Thread(target=writer_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert b_done.is_set()
    assert stored(db) == [(i, 1, "b") for i in range(1, 101)]
