"""Fixtures for the report tests: a real DuckDB file and a PostgreSQL database, filled by
the store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from followflow.store.connection import DbPath, connect
from followflow.store.dialect import Connection
from followflow.store.location import PostgresUrl
from tests.report.world import build_world


@pytest.fixture(scope="session", params=["duckdb", "postgres"])
def world_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[DbPath, dict[str, int]]:
    """The known history of tests/report/world.py, built once per backend (about 2 s);
    read it only."""
    if request.param == "duckdb":
        path: DbPath = tmp_path_factory.mktemp("report-world") / "world.duckdb"
    else:
        cluster = request.getfixturevalue("postgres_cluster")
        path = PostgresUrl(SecretStr(cluster.create_database("report_world")))
    return path, build_world(path)


@pytest.fixture
def world(world_db: tuple[DbPath, dict[str, int]]) -> dict[str, int]:
    """The world's snapshot ids by name."""
    return world_db[1]


@pytest.fixture
def con(world_db: tuple[DbPath, dict[str, int]]) -> Iterator[Connection]:
    """A connection to the world's file."""
    with connect(world_db[0], lock_timeout_s=5) as connection:
        yield connection


@pytest.fixture
def empty_con(store: DbPath) -> Iterator[Connection]:
    """A connection to a new, migrated, empty database."""
    with connect(store, lock_timeout_s=5) as connection:
        yield connection
