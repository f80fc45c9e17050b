"""The DuckDB file's connection policy: one connection per unit of work, opened late and
closed early.

DuckDB lets one process at a time open a file; even read-only readers are shut out while a
writer holds it (DESIGN.md 4). So nothing here keeps the file: `connect()` attaches it,
yields a connection and detaches it, and nobody may hold one across an HTTP call or a
rate-limit sleep. Attaching retries a lock held by another process with jittered, bounded
backoff; a lock that outlasts the timeout becomes `DatabaseLocked`, naming the process.

Why ATTACH rather than `duckdb.connect(path)`: creating a DuckDB instance costs about
10 ms (its built-in catalog) and closing one about as much again, per page; attaching a
file to one long-lived in-memory instance costs about 1 ms and detaching about 2.5 ms,
and the file lock is held exactly while attached. Threads working on the same file share
one attachment (reference counted); the last one out detaches.

Within one process, write transactions on a path are serialized by a lock: DuckDB's
optimistic concurrency would otherwise abort one of two threads that upsert the same user.
"""

from __future__ import annotations

import hashlib
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import duckdb
import pyarrow as pa

from followflow.store.errors import DatabaseLocked, DatabaseUnreadable, DatabaseUnwritable
from followflow.store.migrations import apply_migrations

DbPath = str | PathLike[str]

# "Conflicting lock is held in /usr/bin/python3.11 (PID 9113) by user ..." (DuckDB 2.0).
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
_FIRST_DELAY_S = 0.02
# Short enough that a reader polling a busy file lands in a gap between two writes.
_MAX_DELAY_S = 0.5


@dataclass
class _Attachment:
    alias: str
    path: Path
    cond: threading.Condition = field(default_factory=threading.Condition)
    users: int = 0
    read_only: bool = False
    migrated: bool = False


_hub: duckdb.DuckDBPyConnection | None = None
_hub_lock = threading.Lock()
_attachments: dict[Path, _Attachment] = {}
_write_locks: dict[Path, threading.RLock] = {}
_registry_lock = threading.Lock()


def _default_lock_timeout() -> float:
    from followflow.settings import get_settings

    return get_settings().db_lock_timeout_s


def _the_hub() -> duckdb.DuckDBPyConnection:
    global _hub
    with _hub_lock:
        if _hub is None:
            from followflow.settings import get_settings

            _hub = duckdb.connect(":memory:")
            _hub.execute("SET GLOBAL TimeZone = 'UTC'")
            # DuckDB's default limit is 80% of RAM, and memory it has used stays with the
            # process: upserting 1,000,000 profiles took a snapshot's peak from ~400 to
            # ~450 MB. Within the limit, larger work spills to disk instead.
            _hub.execute(f"SET GLOBAL memory_limit = '{get_settings().db_memory_mb}MB'")
            spill = Path(tempfile.gettempdir()) / "followflow-duckdb"
            _hub.execute(f"SET GLOBAL temp_directory = {_sql_string(str(spill))}")
            _use_jemalloc_for_arrow()
        return _hub


def _use_jemalloc_for_arrow() -> None:
    """Arrow's default allocator (mimalloc) kept ~50 MB more of a long snapshot's freed
    pages than jemalloc did (measured on 1,000,000 followers); builds without jemalloc
    keep the default."""
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:
        pass


def _attachment(path: Path) -> _Attachment:
    with _registry_lock:
        if path not in _attachments:
            digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:16]
            _attachments[path] = _Attachment(alias=f"ff_{digest}", path=path)
        return _attachments[path]


def _lock_holder(message: str) -> tuple[str | None, int | None] | None:
    """(program, pid) when `message` is DuckDB's lock conflict, else None."""
    if "Could not set lock on file" not in message:
        return None
    match = _LOCK_HOLDER.search(message)
    if match is None:
        return (None, None)
    return (match["program"], int(match["pid"]))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _attach(
    hub: duckdb.DuckDBPyConnection,
    path: Path,
    alias: str,
    *,
    read_only: bool,
    lock_timeout_s: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    rng: random.Random,
) -> None:
    options = " (READ_ONLY)" if read_only else ""
    statement = f"ATTACH {_sql_string(str(path))} AS {alias}{options}"
    started = clock()
    delay = _FIRST_DELAY_S
    with hub.cursor() as cur:
        # A detach that failed earlier must not make this attach fail forever.
        cur.execute(f"DETACH DATABASE IF EXISTS {alias}")
        while True:
            try:
                cur.execute(statement)
                return
            except duckdb.IOException as error:
                holder = _lock_holder(str(error))
                if holder is None:
                    full = _unwritable(path, error)
                    raise full or DatabaseUnreadable(path, _first_line(error)) from error
                waited = clock() - started
                if waited >= lock_timeout_s:
                    program, pid = holder
                    raise DatabaseLocked(path, pid=pid, program=program, waited_s=waited) from None
                sleep(min(rng.uniform(delay / 2, delay), lock_timeout_s - waited))
                delay = min(delay * 2, _MAX_DELAY_S)
            except duckdb.Error as error:
                raise DatabaseUnreadable(path, _first_line(error)) from error


def _detach(hub: duckdb.DuckDBPyConnection, alias: str) -> None:
    with hub.cursor() as cur:
        cur.execute(f"DETACH DATABASE IF EXISTS {alias}")


def _unwritable(path: Path, error: duckdb.Error) -> DatabaseUnwritable | None:
    """The error as DatabaseUnwritable when the disk is full, else None."""
    text = str(error)
    for reason in ("No space left on device", "Disk quota exceeded"):
        if reason in text:
            return DatabaseUnwritable(path, reason.lower())
    return None


def _is_corruption(error: duckdb.Error) -> bool:
    text = str(error)
    return "Corrupt database file" in text or "database has been invalidated" in text


@contextmanager
def connect_file(
    path: DbPath,
    *,
    read_only: bool = False,
    lock_timeout_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Attach `path` for one unit of work, migrated and in UTC, and let it go afterwards.

    Args:
        path: the DuckDB file; created (and migrated) when missing unless `read_only`.
        read_only: attach without writing (no migrations), which lets other read-only
            processes in at the same time. Ignored when this process has it open already.
        lock_timeout_s: how long to retry a lock held by another process; defaults to
            `Settings.db_lock_timeout_s`.

    Raises:
        DatabaseLocked: another process held the file for longer than `lock_timeout_s`.
        DatabaseUnreadable: the file is not a DuckDB database, is damaged, or is missing
            (read-only).
    """
    resolved = Path(path).expanduser().resolve()
    timeout = _default_lock_timeout() if lock_timeout_s is None else lock_timeout_s
    hub = _the_hub()
    slot = _attachment(resolved)
    with slot.cond:
        # A writer waits for read-only users of this process to leave, then re-attaches.
        while slot.users and slot.read_only and not read_only:
            slot.cond.wait()
        if slot.users == 0:
            _attach(
                hub,
                resolved,
                slot.alias,
                read_only=read_only,
                lock_timeout_s=timeout,
                sleep=sleep,
                clock=clock,
                rng=rng or random.Random(),
            )
            slot.read_only = read_only
        slot.users += 1
    try:
        with hub.cursor() as con:
            con.execute(f"USE {slot.alias}")
            if not slot.read_only:
                _ensure_migrated(con, slot)
            yield con
    except duckdb.Error as error:
        full = _unwritable(resolved, error)
        if full is not None:
            raise full from error
        if _is_corruption(error):
            raise DatabaseUnreadable(resolved, _first_line(error)) from error
        raise
    finally:
        with slot.cond:
            slot.users -= 1
            if slot.users == 0:
                try:
                    _detach(hub, slot.alias)  # checkpoints: the write that meets a full disk
                except duckdb.Error as error:
                    full = _unwritable(resolved, error)
                    if full is None:
                        raise
                    raise full from error
                finally:
                    slot.cond.notify_all()


def _ensure_migrated(con: duckdb.DuckDBPyConnection, slot: _Attachment) -> None:
    """Apply migrations once per process per path (the check itself costs a query)."""
    with slot.cond:
        if not slot.migrated:
            apply_migrations(con, where=str(slot.path))
            slot.migrated = True


def _write_lock(path: Path) -> threading.RLock:
    with _registry_lock:
        return _write_locks.setdefault(path, threading.RLock())


@contextmanager
def file_transaction(
    path: DbPath, *, lock_timeout_s: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open `path`, run the block in one transaction (commit, or roll back on error), close.

    Write transactions on one path are serialized within the process.
    """
    resolved = Path(path).expanduser().resolve()
    with _write_lock(resolved), connect_file(resolved, lock_timeout_s=lock_timeout_s) as con:
        con.begin()
        try:
            yield con
        except BaseException:
            con.rollback()
            raise
        con.commit()
