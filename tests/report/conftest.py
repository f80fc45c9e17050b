"""Fixtures for the report tests: real DuckDB files, migrated and filled by the store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from followflow.store.connection import connect
from tests.report.world import build_world


@pytest.fixture(scope="session")
def world_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """The known history of tests/report/world.py, built once (about 2 s); read it only."""
    path = tmp_path_factory.mktemp("report-world") / "world.duckdb"
    return path, build_world(path)


@pytest.fixture
def world(world_db: tuple[Path, dict[str, int]]) -> dict[str, int]:
    """The world's snapshot ids by name."""
    return world_db[1]


@pytest.fixture
def con(world_db: tuple[Path, dict[str, int]]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the world's file."""
    with connect(world_db[0], lock_timeout_s=5) as connection:
        yield connection


@pytest.fixture
def empty_con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to a new, migrated, empty database."""
    with connect(tmp_path / "empty.duckdb", lock_timeout_s=5) as connection:
        yield connection
