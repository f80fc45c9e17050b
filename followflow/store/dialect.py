"""What the store's code may ask of a connection, on either backend.

`Connection` is the part of DuckDB's connection API the store uses; DuckDB's own
connection satisfies it, and `postgres.PgConnection` implements it over psycopg. SQL
text is written once, with `?` placeholders, in the dialect both engines agree on;
where they differ, the code asks `is_postgres(con)` and keeps the two texts side by side.
"""

from __future__ import annotations

from typing import Any, Protocol

import duckdb
import psycopg
import pyarrow as pa

WRITE_CONFLICTS: tuple[type[Exception], ...] = (
    duckdb.TransactionException,  # DuckDB: another transaction wrote the same rows first
    duckdb.ConstraintException,
    psycopg.errors.UniqueViolation,  # PostgreSQL: a racing insert of the same key won
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
)
"""Errors that mean "a concurrent writer committed first": roll back and try again."""

ALREADY_IN_TRANSACTION: tuple[type[Exception], ...] = (
    duckdb.TransactionException,
    psycopg.errors.ActiveSqlTransaction,
    psycopg.errors.InFailedSqlTransaction,
)
"""BEGIN inside a transaction, or a statement after one that failed."""


class Relation(Protocol):
    """A query's result, read whole."""

    def fetchall(self) -> list[tuple[Any, ...]]: ...

    def to_arrow_table(self) -> pa.Table: ...


class Connection(Protocol):
    """One unit of work's connection: statements, a transaction, Arrow tables as views."""

    def execute(self, query: str, parameters: object = None) -> Connection: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...

    def fetchone(self) -> tuple[Any, ...] | None: ...

    def begin(self) -> Connection: ...

    def commit(self) -> Connection: ...

    def rollback(self) -> Connection: ...

    def register(self, view_name: str, python_object: object) -> Connection: ...

    def unregister(self, view_name: str) -> Connection: ...

    def sql(self, query: str, *, alias: str = "", params: object = None) -> Relation: ...


def is_postgres(con: Connection) -> bool:
    """Whether `con` is a PostgreSQL store's connection (for the few dialect twins)."""
    return getattr(con, "dialect", "duckdb") == "postgres"
