"""Exceptions raised by followflow.store.

* StoreError
  + DatabaseLocked       another process holds the file past the lock timeout
  + DatabaseUnreadable   the file is not a DuckDB database, is damaged, or cannot be opened
  + DatabaseUnwritable   the disk is full (or the file cannot be written)
  + DatabaseUnreachable  the PostgreSQL server refused or cannot be reached
    + ConnectionLost     the server went away in the middle of a unit of work
  + StoreBusy            every pooled PostgreSQL connection of this process stayed in use
  + SchemaTooNew         a newer followflow wrote the store
  + SnapshotNotFound     no snapshot with that id
  + SnapshotStateError   the snapshot's status does not allow the operation
"""

from __future__ import annotations

from pathlib import Path


class StoreError(Exception):
    """Base of every error the store raises; the message is one line saying what to do."""


class DatabaseLocked(StoreError):
    """Another process kept the DuckDB file locked for longer than the lock timeout."""

    def __init__(
        self, path: Path, *, pid: int | None, program: str | None, waited_s: float
    ) -> None:
        self.path = path
        self.pid = pid
        self.program = program
        self.waited_s = waited_s
        holder = f"{program or 'unknown program'}, PID {pid if pid is not None else '?'}"
        stop = f"stop it (kill {pid})" if pid is not None else "stop it"
        super().__init__(
            f"{path} is locked by another process ({holder}); gave up after {waited_s:.1f} s: "
            f"wait for it to finish, {stop}, or raise FOLLOWFLOW_DB_LOCK_TIMEOUT_S"
        )


class DatabaseUnreadable(StoreError):
    """The DuckDB file cannot be opened or read: not a database, damaged, or inaccessible."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(
            f"cannot read {path}: {detail}; move the file aside (followflow creates a new one) "
            "or restore a backup"
        )


class DatabaseUnwritable(StoreError):
    """The DuckDB file cannot be written: the disk is full or the file is read-only."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(
            f"cannot write {path}: {detail}; free space on its disk (or point "
            "FOLLOWFLOW_DB_PATH elsewhere) and run again: what was saved before is kept"
        )


class DatabaseUnreachable(StoreError):
    """The PostgreSQL store cannot be used: server down, wrong password, no such database.

    `where` is the URL with its password masked; `detail` never holds the password.
    """

    def __init__(self, where: str, detail: str, advice: str) -> None:
        self.where = where
        self.detail = detail
        super().__init__(f"cannot open the PostgreSQL store {where}: {detail}; {advice}")


class ConnectionLost(DatabaseUnreachable):
    """The PostgreSQL server closed the connection in the middle of a unit of work (a
    restart, a crash, an administrator's terminate): that transaction is rolled back."""

    def __init__(self, where: str, detail: str) -> None:
        self.where = where
        self.detail = detail
        StoreError.__init__(
            self,
            f"lost the connection to the PostgreSQL store {where} mid-transaction ({detail}): "
            "that transaction was rolled back and what was saved before is kept; run the same "
            "command again once the server is up",
        )


class StoreBusy(StoreError):
    """Every connection this process may hold to the PostgreSQL store stayed in use while a
    unit of work waited for one: the server answers, but too slowly for the work asked."""

    def __init__(self, where: str, connections: int, waited_s: float) -> None:
        self.where = where
        super().__init__(
            f"all {connections} connections of this process to the PostgreSQL store {where} "
            f"stayed in use for {waited_s:g} s (the server is overloaded or a statement is "
            "stuck): what was saved before is kept; run the same command again, with fewer "
            "accounts per run if it repeats"
        )


class TransactionConflict(StoreError):
    """PostgreSQL rolled back a unit of work that conflicted with another writer's (a
    deadlock, a serialization failure): nothing of it was kept, and running it again is safe."""

    def __init__(self, where: str, detail: str) -> None:
        self.where = where
        self.detail = detail
        super().__init__(
            f"the PostgreSQL store {where} rolled back a transaction that conflicted with "
            f"another writer ({detail}): what was saved before is kept; run the same command "
            "again"
        )


class SchemaTooNew(StoreError):
    """The store records migrations this followflow does not know: a newer one wrote it."""

    def __init__(self, where: str, found: int, known: int) -> None:
        self.where = where
        self.found = found
        self.known = known
        super().__init__(
            f"{where} has schema version {found}, newer than this followflow's {known}: "
            "upgrade followflow (uv sync) before using this store"
        )


class SnapshotNotFound(StoreError):
    """No snapshot has the given id."""

    def __init__(self, snapshot_id: int) -> None:
        self.snapshot_id = snapshot_id
        super().__init__(f"no snapshot with id {snapshot_id}")


class SnapshotStateError(StoreError):
    """The snapshot's status (or checkpoint) does not allow the requested operation."""
