"""Fetched pages on disk, from their arrival until their snapshot ends.

A DuckDB transaction per page costs about 20 ms (the attach, the commit, and the checkpoint
at detach), more than fetching the page; a listing of 1,000,000 followers would spend most
of its time there. So a page is first written to its own Arrow file (under 1 ms), and its
ids are staged in `snapshot_staging` with the pages after it, about once a second, in one
transaction. The file is the page's checkpoint: a process killed before that leaves it
behind, and the next run stages it before it fetches anything, so a crash still costs at
most the page in flight. The files stay until the snapshot completes, which upserts their
profiles into `users`, or is abandoned.

Files live in `<db>.pages/<snapshot_id>/page-<n>.arrow`, next to the DuckDB file (for a
PostgreSQL store, in this host's temporary folder: see PostgresUrl.spool_root). Each is
written under a temporary name and renamed, so a file that exists is whole; one that
cannot be read all the same (a power cut before the data reached the disk) ends the pages
that can be staged, and the run fetches again from there.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from followflow.store.errors import DatabaseUnwritable
from followflow.store.location import PostgresUrl, StoreLocation

_TOKEN_KEY = b"next_token"
# lz4 halves the files (~110 KB for 1,000 profiles) for ~0.3 ms a page.
_WRITE_OPTIONS = ipc.IpcWriteOptions(compression=None)
_PREFIX, _SUFFIX = "page-", ".arrow"


@dataclass(frozen=True)
class SpooledPage:
    """One page waiting to be folded: its number, the token after it, and its users."""

    page_no: int
    next_token: str | None
    users: pa.Table


def spool_root(db: StoreLocation) -> Path:
    """The folder that holds the spooled pages of every snapshot of `db`: next to a
    DuckDB file, or in this host's temporary folder for a PostgreSQL store."""
    if isinstance(db, PostgresUrl):
        return db.spool_root()
    path = Path(db).expanduser().resolve()
    return path.with_name(path.name + ".pages")


def _folder(db: StoreLocation, snapshot_id: int) -> Path:
    return spool_root(db) / str(snapshot_id)


def _unwritable(db: StoreLocation, error: OSError) -> DatabaseUnwritable:
    reason = os.strerror(error.errno) if error.errno else str(error)
    return DatabaseUnwritable(spool_root(db), reason.lower())


def write_page(
    db: StoreLocation, snapshot_id: int, page_no: int, users: pa.Table,
    next_token: str | None,
) -> None:  # fmt: skip
    """Write one page durably enough to survive the process (rewriting it is harmless).

    Raises:
        DatabaseUnwritable: the disk is full or the folder cannot be written.
    """
    folder = _folder(db, snapshot_id)
    final = folder / f"{_PREFIX}{page_no:07d}{_SUFFIX}"
    partial = final.with_suffix(".tmp")
    metadata = {} if next_token is None else {_TOKEN_KEY: next_token.encode()}
    table = users.replace_schema_metadata(metadata)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with (
            pa.OSFile(str(partial), "wb") as sink,
            ipc.new_file(sink, table.schema, options=_WRITE_OPTIONS) as writer,
        ):
            writer.write_table(table)
        os.replace(partial, final)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise _unwritable(db, error) from error


def _numbered(folder: Path) -> list[tuple[int, Path]]:
    pages = []
    for path in folder.glob(f"{_PREFIX}*{_SUFFIX}"):
        digits = path.name[len(_PREFIX) : -len(_SUFFIX)]
        if digits.isdigit():
            pages.append((int(digits), path))
    return sorted(pages)


def _read(path: Path, page_no: int) -> SpooledPage | None:
    try:
        with pa.memory_map(str(path)) as source:
            table = ipc.open_file(source).read_all()
    except (OSError, pa.ArrowInvalid):
        return None
    token = (table.schema.metadata or {}).get(_TOKEN_KEY)
    return SpooledPage(page_no, token.decode() if token else None, table)


def pending(db: StoreLocation, snapshot_id: int, after_page: int) -> Iterator[SpooledPage]:
    """Spooled pages that continue a checkpoint at `after_page`, in order.

    Pages at or before the checkpoint were folded already (the process died before it
    removed them); a gap or an unreadable file ends the run, and what follows it is
    fetched again.
    """
    expected = after_page + 1
    for page_no, path in _numbered(_folder(db, snapshot_id)):
        if page_no < expected:
            continue
        if page_no != expected:
            return
        page = _read(path, page_no)
        if page is None:
            return
        yield page
        expected += 1


def readable(db: StoreLocation, snapshot_id: int) -> Iterator[SpooledPage]:
    """Every spooled page of a snapshot that can be read, in page order."""
    for page_no, path in _numbered(_folder(db, snapshot_id)):
        page = _read(path, page_no)
        if page is not None:
            yield page


def page_count(db: StoreLocation, snapshot_id: int) -> int:
    """How many page files a snapshot has spooled (without reading them)."""
    return len(_numbered(_folder(db, snapshot_id)))


def discard(db: StoreLocation, snapshot_id: int) -> None:
    """Remove every spooled page of a snapshot (and the spool folder once it is empty)."""
    shutil.rmtree(_folder(db, snapshot_id), ignore_errors=True)
    with contextlib.suppress(OSError):  # another snapshot still has pages, or it is gone
        spool_root(db).rmdir()


def spooled_snapshots(db: StoreLocation) -> list[int]:
    """Ids of the snapshots that have a spool folder."""
    try:
        entries = list(spool_root(db).iterdir())
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return []
        raise
    return sorted(int(e.name) for e in entries if e.name.isdigit())
