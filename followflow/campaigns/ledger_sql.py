"""The ledger's own short transactions on a connection the caller lends it.

Every ledger function runs exactly one transaction and leaves the connection as it found
it, so campaigns in other processes interleave between reservations, never inside one.
"""

from __future__ import annotations

from typing import Any

from followflow.store.dialect import ALREADY_IN_TRANSACTION, Connection


class LedgerError(Exception):
    """The ledger refused an operation; the message names the action, never a secret."""


def one(result: Connection) -> tuple[Any, ...]:
    row = first(result)
    if row is None:  # aggregates always return a row; this guards the type only
        raise LedgerError("query returned no row")
    return row


def first(rows: list[Any] | Connection) -> tuple[Any, ...] | None:
    # Read results to the end: DuckDB 2.0 refuses register() on a connection whose last
    # result is half read, and callers share the connection.
    fetched = rows if isinstance(rows, list) else rows.fetchall()
    return tuple(fetched[0]) if fetched else None


def begin(con: Connection) -> None:
    try:
        con.begin()
    except ALREADY_IN_TRANSACTION as error:
        # DuckDB has already aborted the caller's transaction; say why, loudly.
        raise LedgerError(
            "the ledger runs its own transaction: pass a connection from "
            "followflow.store.connection.connect(), not one inside transaction()"
        ) from error


def rollback(con: Connection) -> None:
    try:
        con.execute("ROLLBACK")
    except ALREADY_IN_TRANSACTION:
        pass  # a failed COMMIT has already rolled the transaction back
