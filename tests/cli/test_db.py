"""`followflow db status` and `followflow db copy` through the real command: a DuckDB file
built by the store, copied into a fresh PostgreSQL database of the session's cluster."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from followflow.store import history
from followflow.store.connection import connect
from followflow.store.location import PostgresUrl
from followflow.store.migrations import MIGRATIONS
from tests.campaigns.world import fill
from tests.cli.conftest import clean_environment, followflow
from tests.postgres import PASSWORD
from tests.store.helpers import full_snapshot

ACCOUNT = 42


def duckdb_store(path: Path) -> None:
    """Two snapshots (so events exist), a following list and 25 ledger rows."""
    full_snapshot(path, ACCOUNT, list(range(1, 301)), start=0, page_size=50)
    full_snapshot(path, ACCOUNT, list(range(20, 331)), start=100, page_size=50)
    full_snapshot(path, ACCOUNT, [5, 6, 7], start=200, kind="following")
    with connect(path) as con:
        fill(con, 25, account_id=ACCOUNT)


def run(tmp_path: Path, *args: str, **env: str):  # type: ignore[no-untyped-def]
    base = clean_environment(tmp_path) | {"FOLLOWFLOW_DB_PATH": str(tmp_path / "ff.duckdb")}
    return followflow(*args, env=base | env, cwd=tmp_path)


def test_status_of_a_duckdb_file_and_of_a_missing_one(tmp_path: Path) -> None:
    missing = run(tmp_path, "db", "status")
    assert missing.returncode == 0, missing.stderr
    assert "duckdb" in missing.stdout and "no store yet" in missing.stdout
    duckdb_store(tmp_path / "ff.duckdb")
    status = run(tmp_path, "db", "status")
    assert status.returncode == 0, status.stderr
    assert f"schema version  {len(MIGRATIONS)}" in status.stdout
    assert "actions                   25" in status.stdout


def test_copy_moves_everything_and_refuses_a_second_store(
    tmp_path: Path, postgres_url: str
) -> None:
    source = tmp_path / "ff.duckdb"
    duckdb_store(source)
    copied = run(tmp_path, "db", "copy", "--to", postgres_url)
    assert copied.returncode == 0, copied.stderr
    assert "row counts and current views match" in copied.stdout
    assert PASSWORD not in copied.stdout + copied.stderr
    target = PostgresUrl(SecretStr(postgres_url))
    for kind in ("followers", "following"):
        assert history.current_count(target, ACCOUNT, kind) == history.current_count(
            source, ACCOUNT, kind
        )
    assert history.events(target, ACCOUNT) == history.events(source, ACCOUNT)
    assert history.snapshot_history(target, ACCOUNT) == history.snapshot_history(source, ACCOUNT)
    status = run(tmp_path, "db", "status", FOLLOWFLOW_DATABASE_URL=postgres_url)
    assert status.returncode == 0, status.stderr
    assert "postgresql" in status.stdout and ":***@" in status.stdout
    assert PASSWORD not in status.stdout
    assert "actions                   25" in status.stdout

    # A new snapshot on the PostgreSQL store continues the ids (the sequences moved too).
    diff = full_snapshot(target, ACCOUNT, list(range(25, 331)), start=300, page_size=100)
    assert diff.snapshot_id == 4 and sorted(diff.lost_ids) == [20, 21, 22, 23, 24]

    other = tmp_path / "other"
    other.mkdir()
    duckdb_store(other / "ff.duckdb")
    refused = run(other, "db", "copy", "--to", postgres_url)
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0, refused.stderr
    assert "--replace" in refused.stderr and PASSWORD not in refused.stderr
    replaced = run(other, "db", "copy", "--to", postgres_url, "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert history.current_count(target, ACCOUNT) == history.current_count(source, ACCOUNT)


def test_a_copy_stopped_halfway_is_finished_by_running_it_again(
    tmp_path: Path, postgres_url: str
) -> None:
    source = tmp_path / "ff.duckdb"
    duckdb_store(source)
    target = PostgresUrl(SecretStr(postgres_url))
    # What a copy killed after its first tables leaves: the marker and some tables filled.
    with connect(target) as pg:
        pg.execute("CREATE TABLE followflow_copy (source VARCHAR, started_at TIMESTAMPTZ)")
        pg.execute("INSERT INTO followflow_copy VALUES (?, now())", [str(source.resolve())])
        pg.execute("INSERT INTO users (user_id, state, updated_at) VALUES (1, 'active', now())")
    again = run(tmp_path, "db", "copy", "--to", postgres_url)
    assert again.returncode == 0, again.stderr
    assert history.current_count(target, ACCOUNT) == history.current_count(source, ACCOUNT)
    with connect(target) as pg:
        assert pg.execute("SELECT count(*) FROM followflow_copy").fetchall() == [(0,)]


def test_copy_to_something_that_is_not_postgres_is_refused(tmp_path: Path) -> None:
    duckdb_store(tmp_path / "ff.duckdb")
    bad = run(tmp_path, "db", "copy", "--to", "mysql://me:hunter2@localhost/db")
    assert bad.returncode == 2
    assert "hunter2" not in bad.stderr and "not a postgresql:// URL" in bad.stderr
