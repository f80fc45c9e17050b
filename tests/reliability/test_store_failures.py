"""The PostgreSQL store's failure paths through the real CLI: one line saying what to do,
a non-zero exit, the password never shown; and a server restart mid-snapshot."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from followflow.store import snapshots
from followflow.store.connection import connect
from followflow.store.location import PostgresUrl
from tests.cli.conftest import clean_environment, followflow
from tests.postgres import PASSWORD, PostgresCluster
from tests.store.helpers import at, profiles


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def status(tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = clean_environment(tmp_path) | {"FOLLOWFLOW_DATABASE_URL": url}
    return followflow("db", "status", env=env, cwd=tmp_path)


def assert_one_line(run: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("followflow: error: cannot open the PostgreSQL store"), lines[0]
    assert ":***@" in lines[0] and PASSWORD not in run.stdout + run.stderr
    for text in expected:
        assert text in lines[0], lines[0]


def test_server_down_or_wrong_port(tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    url = postgres_cluster.url("postgres").replace(
        f":{postgres_cluster.port}/", f":{_unused_port()}/"
    )
    assert_one_line(status(tmp_path, url), "Connection refused", "start the server")


def test_wrong_password(tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    url = postgres_cluster.url("postgres").replace(PASSWORD, "not-the-password")
    run = status(tmp_path, url)
    assert_one_line(run, "password authentication failed", "fix the user or password")
    assert "not-the-password" not in run.stderr


def test_database_does_not_exist(tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    run = status(tmp_path, postgres_cluster.url("no_such_db"))
    assert_one_line(run, 'database "no_such_db" does not exist', "create the database")


def test_a_store_from_a_newer_followflow(tmp_path: Path, postgres_url: str) -> None:
    with connect(PostgresUrl(SecretStr(postgres_url))) as con:
        con.execute("INSERT INTO schema_migrations VALUES ('m999_from_the_future', now())")
    run = status(tmp_path, postgres_url)
    assert run.returncode == 1
    line = run.stderr.strip()
    assert "\n" not in line and "newer than this followflow's" in line
    assert "upgrade followflow" in line and PASSWORD not in line


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_server_restart_between_pages_costs_nothing(
    postgres_cluster: PostgresCluster, postgres_url: str, mode: str
) -> None:
    """The pool checks each connection it lends, so a restart (clean or crash-like) between
    two units of work is a reconnect; the snapshot goes on and completes whole."""
    # The session's cluster runs with synchronous_commit off for speed; a crash-like stop
    # may then lose the last commits, which is the setting's documented trade, not ours.
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        name = admin.execute("SELECT current_database()").fetchall()[0][0]
        admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = on')
    db = PostgresUrl(SecretStr(postgres_url))
    cp = snapshots.start_or_resume(db, 42, "followers", "full", 6, now=at(0))
    snapshots.stage_page(db, cp.snapshot_id, profiles([6, 5, 4]), "t1", now=at(1))
    postgres_cluster.restart(mode=mode)
    snapshots.stage_page(db, cp.snapshot_id, profiles([3, 2, 1]), None, now=at(2))
    diff = snapshots.complete(db, cp.snapshot_id, now=at(3))
    assert diff.count == 6
    with connect(db) as con:
        assert con.execute("SELECT count(*) FROM snapshot_staging").fetchall() == [(0,)]
