"""Opening the store for one unit of work, whichever backend holds it.

`connect(db)` and `transaction(db)` take a `StoreLocation` (location.py): a DuckDB
file's path goes to the file's connection policy (duckdb_file.py: attach late, detach
early, lock retry), a `PostgresUrl` to PostgreSQL's (postgres.py: a pool, short
transactions). Both yield a `Connection` (dialect.py), migrated and in UTC, so nothing
above this module learns which backend it is on.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from followflow.store.dialect import Connection
from followflow.store.duckdb_file import connect_file, file_transaction
from followflow.store.location import PostgresUrl, StoreLocation
from followflow.store.postgres import connect_postgres

DbPath = StoreLocation
"""Where the store is: a DuckDB file's path or a PostgreSQL URL (`Settings.store`)."""

__all__ = [
    "Connection",
    "DbPath",
    "connect",
    "fetch_ids",
    "first_row",
    "kept_open",
    "transaction",
]


@contextmanager
def connect(
    path: DbPath,
    *,
    read_only: bool = False,
    lock_timeout_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> Iterator[Connection]:
    """Open the store for one unit of work, migrated and in UTC, and let it go afterwards.

    Args:
        path: the store (`Settings.store`); a DuckDB file is created when missing unless
            `read_only`.
        read_only: DuckDB: attach without writing, letting other read-only processes in.
            PostgreSQL readers never block writers, so it changes nothing there.
        lock_timeout_s: DuckDB: how long to retry a lock another process holds; defaults
            to `Settings.db_lock_timeout_s`.

    Raises:
        DatabaseLocked, DatabaseUnreadable, DatabaseUnwritable: the DuckDB file's failures.
        DatabaseUnreachable: the PostgreSQL server, login or database is not there.
        SchemaTooNew: a newer followflow wrote the store.
    """
    if isinstance(path, PostgresUrl):
        with connect_postgres(path) as pg:
            yield pg
        return
    with connect_file(
        path,
        read_only=read_only,
        lock_timeout_s=lock_timeout_s,
        sleep=sleep,
        clock=clock,
        rng=rng,
    ) as con:
        yield con


@contextmanager
def transaction(path: DbPath, *, lock_timeout_s: float | None = None) -> Iterator[Connection]:
    """Open the store, run the block in one transaction (commit, or roll back on error), close.

    DuckDB: write transactions on one file are serialized within the process.
    PostgreSQL: the server's own concurrency control; each caller that needs more than
    READ COMMITTED says so (the ledger takes an advisory lock, see campaigns/ledger.py).
    """
    if not isinstance(path, PostgresUrl):
        with file_transaction(path, lock_timeout_s=lock_timeout_s) as con:
            yield con
        return
    with connect_postgres(path) as pg:
        pg.begin()
        try:
            yield pg
        except BaseException:
            pg.rollback()
            raise
        pg.commit()


@contextmanager
def kept_open(path: DbPath) -> Iterator[None]:
    """Keep the store open across the block's units of work, each still its own `connect`
    or `transaction`.

    DuckDB: the file stays attached, so many short transactions pay one attach (and the
    file is checkpointed when the block lets it go). PostgreSQL: nothing; the pool keeps
    its connections anyway, and holding one here while the block borrows another made
    threads wait on each other: with more threads than the pool's connections, every
    connection was held idle by a thread waiting for a second one (10 s, then an error).
    """
    if isinstance(path, PostgresUrl):
        yield
        return
    with connect_file(path):
        yield


def first_row(result: Connection) -> tuple[Any, ...] | None:
    """The first row of `result`, reading it to the end.

    DuckDB 2.0 refuses `register()` while a result is half read, so never `fetchone()`.
    """
    rows = result.fetchall()
    return rows[0] if rows else None


def fetch_ids(con: Connection, sql: str, params: list[object]) -> list[int]:
    """The first column of a query as ints, read through Arrow (one copy, no tuples)."""
    column = con.sql(sql, params=params).to_arrow_table().column(0)
    return [int(v) for v in column.to_pylist()]
