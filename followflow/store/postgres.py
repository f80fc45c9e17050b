"""The PostgreSQL store's connection policy: a psycopg pool per process, short transactions.

Each unit of work borrows a connection from the pool (checked on the way out, so a server
restarted since the last use costs a reconnect, not an error) and gives it back at the
end; nothing holds one across an HTTP call or a sleep, as with the DuckDB file. The
connection runs in autocommit, and `begin()`/`commit()` are explicit, the way the store's
code drives a DuckDB connection. Migrations run once per process per database, under an
advisory lock so that two hosts starting at once do not both create the schema.

`PgConnection` gives the store's SQL the shape of DuckDB's connection (dialect.py): `?`
placeholders, a DELETE or UPDATE answering its row count, and `register()` of an Arrow
table, which here is a temporary table filled by one binary COPY built in Arrow
(pg_copy.py; never a row-at-a-time `executemany` or `write_row`). Rows that only need
appending skip the temporary table: `copy_rows()` COPYs them into their table.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql as pgsql
from psycopg_pool import ConnectionPool, PoolTimeout

from followflow.store.errors import (
    ConnectionLost,
    DatabaseUnreachable,
    StoreBusy,
    TransactionConflict,
)
from followflow.store.location import PostgresUrl, mask_url
from followflow.store.migrations import apply_migrations
from followflow.store.pg_copy import chunks

# A literal, a quoted name, or a placeholder: outside literals and names, `?` becomes `%s`,
# DuckDB's named `$name` becomes `%(name)s` and a bare `%` becomes `%%`.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?|%|\$[A-Za-z_]\w*")
_MIGRATION_LOCK = 0x666F6C6C  # "foll": the advisory lock key for applying migrations
# Connections one process keeps to a store, and how long a unit of work waits for one (or
# for the server to answer a new one) before it gives up.
POOL_MAX_CONNECTIONS = 8
CONNECT_TIMEOUT_S = 10

_PG_TYPES: dict[str, str] = {
    "int64": "BIGINT",
    "int32": "INTEGER",
    "bool": "BOOLEAN",
    "string": "TEXT",
    "large_string": "TEXT",
    "double": "DOUBLE PRECISION",
}


def _placeholders(query: str) -> str:
    def swap(match: re.Match[str]) -> str:
        token = match[0]
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if token.startswith("$"):
            return f"%({token[1:]})s"
        return token

    return _TOKENS.sub(swap, query)


def _pg_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ"
    name = str(arrow_type)
    if name not in _PG_TYPES:
        raise TypeError(f"no PostgreSQL type for Arrow {arrow_type}")
    return _PG_TYPES[name]


# PostgreSQL type oids -> Arrow types of query results (`sql().to_arrow_table()`), so an
# empty result keeps its column types.
_ARROW_OF_OID: dict[int, pa.DataType] = {
    16: pa.bool_(), 20: pa.int64(), 21: pa.int16(), 23: pa.int32(), 25: pa.string(),
    701: pa.float64(), 1043: pa.string(), 1184: pa.timestamp("us", tz="UTC"),
}  # fmt: skip


class _Rows:
    """A query's rows as `sql()` returns them."""

    def __init__(self, columns: list[tuple[str, int]], rows: list[tuple[Any, ...]]) -> None:
        self._columns, self._rows = columns, rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows

    def to_arrow_table(self) -> pa.Table:
        # One column at a time: zip(*rows) over a million rows took a second by itself.
        return pa.table(
            {
                name: pa.array(list(map(itemgetter(i), self._rows)), type=_ARROW_OF_OID.get(oid))
                for i, (name, oid) in enumerate(self._columns)
            }
        )


class PgConnection:
    """A pooled psycopg connection with the shape of DuckDB's (see dialect.py)."""

    dialect = "postgres"

    def __init__(self, connection: psycopg.Connection[tuple[Any, ...]]) -> None:
        self._connection = connection
        self._cursor = connection.cursor()

    def execute(self, query: str, parameters: object = None) -> PgConnection:
        if parameters:
            self._cursor.execute(_placeholders(query), parameters)  # type: ignore[call-overload]
        else:  # no parameters: several statements may run at once (migrations)
            self._cursor.execute(query.encode())
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self._cursor.description is None:  # DuckDB answers DML with its row count
            return [(self._cursor.rowcount,)]
        return self._cursor.fetchall()

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self.fetchall()
        return rows[0] if rows else None

    def begin(self) -> PgConnection:
        # PostgreSQL only warns about a nested BEGIN; DuckDB refuses it, and so does this,
        # so a caller that nests transactions learns it on both backends.
        if self._connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise psycopg.errors.ActiveSqlTransaction("a transaction is already open")
        return self.execute("BEGIN")

    def commit(self) -> PgConnection:
        return self.execute("COMMIT")

    def rollback(self) -> PgConnection:
        return self.execute("ROLLBACK")

    def register(self, view_name: str, python_object: object) -> PgConnection:
        """A temporary table `view_name` holding the Arrow table, filled by one binary COPY.

        Not analyzed: PostgreSQL sizes a table without statistics from its pages on disk,
        which is all the statements reading these tables need (bulk INSERT ... SELECT, and
        small probes joined on indexed keys). ANALYZE of every batch of profiles was 4.1 of
        the server's 17.5 CPU seconds for a 1,000,000-follower snapshot.
        """
        if not isinstance(python_object, pa.Table):
            raise TypeError("register() takes an Arrow table on PostgreSQL")
        table = python_object
        name = pgsql.Identifier(view_name)
        columns = pgsql.SQL(", ").join(
            pgsql.SQL("{} {}").format(pgsql.Identifier(f.name), pgsql.SQL(_pg_type(f.type)))
            for f in table.schema
        )
        self._cursor.execute(pgsql.SQL("CREATE TEMP TABLE {} ({})").format(name, columns))
        return self.copy_rows(view_name, table)

    def copy_rows(self, table_name: str, rows: pa.Table) -> PgConnection:
        """Append `rows` to the table `table_name` by one binary COPY, by column name."""
        names = pgsql.SQL(", ").join(pgsql.Identifier(name) for name in rows.column_names)
        statement = pgsql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            pgsql.Identifier(table_name), names
        )
        with self._cursor.copy(statement) as copy:
            for chunk in chunks(rows):
                copy.write(chunk)
        return self

    def copy_new_rows(self, table_name: str, rows: pa.Table) -> bool:
        """`copy_rows()`, all or nothing: False, with nothing written, when a row's key is
        taken. Inside a transaction the COPY runs under a savepoint, which psycopg's
        `transaction()` makes when one is open, so the caller's transaction goes on."""
        try:
            with self._connection.transaction():
                self.copy_rows(table_name, rows)
        except psycopg.errors.UniqueViolation:
            return False
        return True

    def unregister(self, view_name: str) -> PgConnection:
        if self._connection.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            return self  # the failed transaction's rollback drops the table with it
        self._cursor.execute(
            pgsql.SQL("DROP TABLE IF EXISTS {}").format(pgsql.Identifier(view_name))
        )
        return self

    def sql(self, query: str, *, alias: str = "", params: object = None) -> _Rows:
        self.execute(query, params)
        columns = [(c.name, c.type_code) for c in self._cursor.description or []]
        return _Rows(columns, self._cursor.fetchall())


_pools: dict[str, ConnectionPool[psycopg.Connection[tuple[Any, ...]]]] = {}
_migrated: set[str] = set()
_pools_lock = threading.Lock()


def _unreachable(url: PostgresUrl, error: BaseException) -> DatabaseUnreachable:
    """One line for a connection failure, saying what to fix; the password never shows."""
    text = mask_url(str(error).strip().splitlines()[0] if str(error).strip() else repr(error))
    if "password authentication failed" in text or "no password supplied" in text:
        advice = "fix the user or password in FOLLOWFLOW_DATABASE_URL"
    elif "does not exist" in text and "database" in text:
        advice = "create the database (createdb) or fix its name in FOLLOWFLOW_DATABASE_URL"
    else:
        advice = (
            "start the server, or fix the host and port in FOLLOWFLOW_DATABASE_URL, then run again"
        )
    detail = text.split("failed: ")[-1] if "failed: " in text else text
    detail = re.sub(r"^FATAL:\s+", "", detail)
    return DatabaseUnreachable(url.masked, detail, advice)


def _lost(url: PostgresUrl, error: BaseException) -> ConnectionLost:
    lines = str(error).strip().splitlines()
    detail = mask_url(lines[0] if lines else type(error).__name__)
    return ConnectionLost(url.masked, re.sub(r"^FATAL:\s+", "", detail))


def _pool(url: PostgresUrl) -> ConnectionPool[psycopg.Connection[tuple[Any, ...]]]:
    key = url.conninfo()
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            options = {"autocommit": True, "options": "-c TimeZone=UTC",
                       "connect_timeout": CONNECT_TIMEOUT_S}  # fmt: skip
            try:  # fail fast, with libpq's own reason, before the pool retries quietly
                psycopg.connect(key, **options).close()  # type: ignore[arg-type]
            except psycopg.Error as error:
                raise _unreachable(url, error) from None
            pool = ConnectionPool(
                key,
                min_size=0,
                max_size=POOL_MAX_CONNECTIONS,
                kwargs=options,
                check=ConnectionPool.check_connection,
                timeout=CONNECT_TIMEOUT_S,
                name="followflow-store",
                open=True,
            )
            _pools[key] = pool
        return pool


def _ensure_migrated(url: PostgresUrl, con: PgConnection) -> None:
    key = url.conninfo()
    if key in _migrated:
        return
    con.execute(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})").fetchall()
    try:
        apply_migrations(con, where=url.masked)
    finally:
        con.execute(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})").fetchall()
    _migrated.add(key)


@contextmanager
def connect_postgres(url: PostgresUrl) -> Iterator[PgConnection]:
    """Borrow a pooled connection to the PostgreSQL store, migrated, in UTC.

    Raises:
        DatabaseUnreachable: the server cannot be reached, refuses the login, or has no
            such database (the message masks the password and says what to fix).
    """
    pool = _pool(url)
    try:
        borrowed = pool.connection()
        connection = borrowed.__enter__()
    except PoolTimeout as error:
        stats = pool.get_stats()
        if stats.get("pool_size", 0) >= POOL_MAX_CONNECTIONS and not stats.get("pool_available", 0):
            raise StoreBusy(url.masked, POOL_MAX_CONNECTIONS, CONNECT_TIMEOUT_S) from None
        raise _unreachable(url, error) from None
    except psycopg.OperationalError as error:
        raise _unreachable(url, error) from None
    failed: BaseException | None = None
    try:
        con = PgConnection(connection)
        _ensure_migrated(url, con)
        yield con
    except psycopg.OperationalError as error:
        failed = error
        if (error.sqlstate or "").startswith("40"):
            # A deadlock or serialization failure (class 40): the server and the connection
            # are fine, another writer's transaction won. psycopg's classes for these are
            # siblings, not one family, so the SQLSTATE class is what says it.
            raise TransactionConflict(url.masked, str(error).splitlines()[0]) from error
        if connection.broken:
            # The server went away mid-work (restarted, crashed, terminated us). The block is
            # not re-run here: a COMMIT whose answer was lost may or may not have landed, and
            # only the caller knows whether its work is safe to repeat. The pool's check
            # replaces the dead connection on the next borrow, so the re-run just works.
            raise _lost(url, error) from error
        raise _unreachable(url, error) from error
    except BaseException as error:
        failed = error
        raise
    finally:
        if failed is not None and not connection.closed:
            # A failed statement inside BEGIN leaves the session aborted: end it here so
            # the pool gets a clean connection back.
            with _suppress_pg():
                connection.execute("ROLLBACK")
        borrowed.__exit__(None, None, None)


@contextmanager
def _suppress_pg() -> Iterator[None]:
    try:
        yield
    except psycopg.Error:
        pass


def close_pools() -> None:
    """Close every pool of this process (tests, and a CLI before it exits)."""
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()
        _migrated.clear()
