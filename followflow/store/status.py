"""What `followflow db status` shows: backend, where (password masked), schema, row counts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from followflow.store.connection import DbPath, connect
from followflow.store.dialect import Connection
from followflow.store.location import PostgresUrl, describe
from followflow.store.migrations import MIGRATIONS, schema_version

TABLES = (
    "users",
    "snapshots",
    "snapshot_staging",
    "follow_edges",
    "follow_events",
    "actions",
    "budget_state",
)
"""The store's tables, in the order a copy fills them."""


@dataclass(frozen=True)
class StoreStatus:
    backend: str
    where: str
    schema_version: int | None  # None: the DuckDB file does not exist yet
    known_version: int
    rows: dict[str, int]

    def lines(self) -> list[str]:
        version = (
            "no store yet (the first snapshot creates it)"
            if self.schema_version is None
            else f"{self.schema_version} (this followflow: {self.known_version})"
        )
        out = [f"backend         {self.backend}", f"store           {self.where}"]
        out.append(f"schema version  {version}")
        out += [f"{table:<16}{count:>12,}" for table, count in self.rows.items()]
        return out


def row_counts(con: Connection) -> dict[str, int]:
    """Rows of every store table."""
    return {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]) for t in TABLES}


def store_status(db: DbPath) -> StoreStatus:
    """The store's status; opening it migrates a PostgreSQL store (an empty one is created)."""
    backend = "postgresql" if isinstance(db, PostgresUrl) else "duckdb"
    if not isinstance(db, PostgresUrl) and not Path(db).expanduser().exists():
        return StoreStatus(backend, describe(db), None, len(MIGRATIONS), {})
    with connect(db, read_only=True) as con:
        return StoreStatus(
            backend, describe(db), schema_version(con), len(MIGRATIONS), row_counts(con)
        )
