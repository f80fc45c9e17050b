"""`followflow db copy`: move a DuckDB file's whole history and ledger into PostgreSQL.

Each table is copied in one PostgreSQL transaction that first empties it, so a copy
killed halfway leaves every table either whole or as it was, and running the command
again simply copies again. A marker table (`followflow_copy`) names the file a copy is
coming from until the copy has been checked: a target holding rows and no marker for
this file is someone else's store and is refused unless `replace` is asked for. The copy
ends by comparing each table's row count and a checksum of the current views.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from followflow.store.connection import connect, transaction
from followflow.store.dialect import Connection, append_rows
from followflow.store.duckdb_file import connect_file
from followflow.store.errors import StoreError
from followflow.store.location import PostgresUrl
from followflow.store.status import TABLES, row_counts

_BATCH_ROWS = 100_000
_MARKER_DDL = "CREATE TABLE IF NOT EXISTS followflow_copy (source VARCHAR, started_at TIMESTAMPTZ)"
# Per view: rows, sums of its columns and a cross term of each pair of ids (so ids swapped
# between rows show too), which two stores agree on only if they hold the same rows (short
# of a collision no real history makes). Timestamps count in whole seconds: date_part
# means the same on both dialects, and a double holds a million such sums exactly.
_VIEW_CHECKS = {
    "current_followers": "count(*), sum(account_id), sum(follower_id),"
    " sum((follower_id % 1000003) * (account_id % 1009))",
    "current_following": "count(*), sum(account_id), sum(followed_id),"
    " sum((followed_id % 1000003) * (account_id % 1009))",
    "follower_events": "count(*), sum(account_id), sum(user_id), sum(snapshot_id),"
    " count(CASE WHEN event = 'gained' THEN 1 END), sum(length(coalesce(reason, ''))),"
    " sum(floor(date_part('epoch', \"at\"))), sum((user_id % 1000003) * (snapshot_id % 1009))",
    "following_since": "count(*), sum(account_id), sum(followed_id),"
    " sum(floor(date_part('epoch', since)))",
}
_SEQUENCES = {
    "snapshots_seq": ("snapshots", "snapshot_id"),
    "actions_seq": ("actions", "action_id"),
}


class CopyRefused(StoreError):
    """The target is not empty, or the copy does not match its source."""


@dataclass(frozen=True)
class CopyResult:
    rows: dict[str, int]
    views: dict[str, tuple[int, ...]]


def view_sums(con: Connection) -> dict[str, tuple[int, ...]]:
    return {
        view: tuple(int(v or 0) for v in con.execute(f"SELECT {sums} FROM {view}").fetchall()[0])
        for view, sums in _VIEW_CHECKS.items()
    }


def _check_target(target: PostgresUrl, source: str, replace: bool) -> None:
    with transaction(target) as pg:
        pg.execute(_MARKER_DDL)
        markers = {row[0] for row in pg.execute("SELECT source FROM followflow_copy").fetchall()}
        holds = sum(row_counts(pg).values())
        if holds and source not in markers and not replace:
            raise CopyRefused(
                f"{target.masked} already holds {holds:,} rows: copy into an empty database, "
                "or pass --replace to overwrite them"
            )
        if source not in markers:
            pg.execute("INSERT INTO followflow_copy VALUES (?, ?)", [source, datetime.now(UTC)])


def source_rows(source: Path) -> int:
    """How many rows the copy will move (for its progress bar).

    Raises:
        CopyRefused: the file does not exist.
    """
    if not source.expanduser().exists():
        raise CopyRefused(f"{source} does not exist: point FOLLOWFLOW_DB_PATH at the file to copy")
    with connect_file(source, read_only=True) as duck:
        return sum(row_counts(duck).values())


def copy_store(
    source: Path,
    target: PostgresUrl,
    *,
    replace: bool = False,
    on_rows: Callable[[str, int], None] = lambda table, rows: None,
) -> CopyResult:
    """Copy every table of the DuckDB file `source` into the PostgreSQL store `target`.

    `on_rows(table, n)` is called after each batch of n rows (for a progress bar).

    Raises:
        CopyRefused: the target holds another store's rows (and not `replace`), or the
            counts or views differ after the copy.
    """
    source_rows(source)  # refuses a missing file before the target is touched
    name = str(source.expanduser().resolve())
    _check_target(target, name, replace)
    with connect_file(source, read_only=True) as duck:
        for table in TABLES:
            with transaction(target) as pg:
                pg.execute(f"DELETE FROM {table}")
                reader = duck.execute(f"SELECT * FROM {table}").to_arrow_reader(_BATCH_ROWS)
                for batch in reader or []:
                    append_rows(pg, table, pa.Table.from_batches([batch]))
                    on_rows(table, batch.num_rows)
        with transaction(target) as pg:
            for sequence, (table, column) in _SEQUENCES.items():
                pg.execute(
                    f"SELECT setval('{sequence}', coalesce((SELECT max({column}) FROM {table}), 0)"
                    " + 1, false)"
                ).fetchall()
        want_rows, want_views = row_counts(duck), view_sums(duck)
    with connect(target) as pg:
        got_rows, got_views = row_counts(pg), view_sums(pg)
        if (got_rows, got_views) != (want_rows, want_views):
            differ = [t for t in TABLES if got_rows[t] != want_rows[t]] + [
                v for v in _VIEW_CHECKS if got_views[v] != want_views[v]
            ]
            raise CopyRefused(
                f"the copy in {target.masked} differs from {source} in {', '.join(differ)}: "
                "run the copy again"
            )
        pg.execute("DELETE FROM followflow_copy WHERE source = ?", [name])
    return CopyResult(got_rows, got_views)
