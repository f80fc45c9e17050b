"""`followflow db status` and `followflow db copy` through the real command: a DuckDB file
built by the store, copied into a fresh PostgreSQL database of the session's cluster."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from followflow.store import history
from followflow.store.connection import connect, transaction
from followflow.store.copy import view_sums
from followflow.store.location import PostgresUrl
from followflow.store.migrations import MIGRATIONS
from followflow.store.status import row_counts
from tests.campaigns.world import fill
from tests.cli.conftest import FOLLOWFLOW, clean_environment, followflow
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


def big_duckdb_store(path: Path, followers: int) -> None:
    """ACCOUNT's followers over two snapshots (one in ten lost by the second, with events),
    filled by SQL so that a store big enough to take seconds to copy takes little to make."""
    lost = "i % 10 = 0"
    at = "TIMESTAMPTZ '2026-01-01 00:00:00+00'"
    with transaction(path) as con:
        con.execute(
            f"""INSERT INTO users (user_id, username, name, protected, followers_count, state,
                   updated_at)
               SELECT 1000 + i, 'user' || i, 'User ' || i, i % 7 = 0, i % 500,
                   CASE WHEN i % 97 = 0 THEN 'suspended' ELSE 'active' END,
                   {at} + to_seconds(i) FROM range(?) t(i)""",
            [followers],
        )
        con.execute(
            f"""INSERT INTO snapshots (snapshot_id, account_id, kind, mode, status, started_at,
                   finished_at, pages, users_seen)
               VALUES (1, ?, 'followers', 'full', 'complete', {at}, {at}, 1, ?),
                      (2, ?, 'followers', 'full', 'complete', {at} + INTERVAL 1 DAY,
                       {at} + INTERVAL 1 DAY, 1, ?)""",
            [ACCOUNT, followers, ACCOUNT, followers],
        )
        con.execute(
            f"""INSERT INTO follow_edges
               SELECT ?, 'followers', 1000 + i, {at}, {at} + INTERVAL 1 DAY,
                   CASE WHEN {lost} THEN {at} + INTERVAL 1 DAY END, 1,
                   CASE WHEN {lost} THEN 2 END
               FROM range(?) t(i)""",
            [ACCOUNT, followers],
        )
        con.execute(
            f"""INSERT INTO follow_events
               SELECT ?, 'followers', 1000 + i, 'gained', {at}, NULL, 1 FROM range(?) t(i)
               UNION ALL
               SELECT ?, 'followers', 1000 + i, 'lost', {at} + INTERVAL 1 DAY,
                   CASE WHEN i % 20 = 0 THEN 'suspended' ELSE 'unfollowed' END, 2
               FROM range(?) t(i) WHERE {lost}""",
            [ACCOUNT, followers, ACCOUNT, followers],
        )
        con.execute("SELECT setval('snapshots_seq', 3)")


@pytest.mark.parametrize(
    "followers", [pytest.param(50_000), pytest.param(1_000_000, marks=pytest.mark.slow)]
)
def test_copy_killed_by_sigkill_mid_copy_is_finished_by_running_it_again(
    tmp_path: Path, postgres_url: str, followers: int
) -> None:
    source = tmp_path / "ff.duckdb"
    big_duckdb_store(source, followers)
    target = PostgresUrl(SecretStr(postgres_url))
    env = clean_environment(tmp_path) | {"FOLLOWFLOW_DB_PATH": str(source)}
    started = time.monotonic()
    copying = subprocess.Popen(
        [FOLLOWFLOW, "db", "copy", "--to", postgres_url],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # The users table is committed and follow_edges is on its way: kill it there.
        wait_until(lambda: committed_rows(postgres_url, "users") == followers)
        killed_after = time.monotonic() - started
        copying.send_signal(signal.SIGKILL)
        assert copying.wait(timeout=30) == -signal.SIGKILL
    finally:
        if copying.poll() is None:
            copying.kill()
            copying.wait()
    print(f"SIGKILL {killed_after:.2f} s into the copy of {followers:,} followers")
    want = duckdb_counts(source)
    got = {t: committed_rows(postgres_url, t) for t in want}
    # Each table is whole or untouched (one transaction each); at least one is not copied yet.
    assert all(got[t] in (0, want[t]) for t in want), (got, want)
    assert got != want, "the copy finished before the kill"
    again = run(tmp_path, "db", "copy", "--to", postgres_url)
    assert again.returncode == 0, again.stderr
    assert "row counts and current views match" in again.stdout
    assert {t: committed_rows(postgres_url, t) for t in want} == want
    assert history.current_count(target, ACCOUNT) == history.current_count(source, ACCOUNT)
    assert history.events(target, ACCOUNT) == history.events(source, ACCOUNT)


def committed_rows(url: str, table: str) -> int:
    with psycopg.connect(url, autocommit=True) as con:
        try:
            return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        except psycopg.errors.UndefinedTable:
            return 0


def duckdb_counts(path: Path) -> dict[str, int]:
    with connect(path, read_only=True) as con:
        return row_counts(con)


def wait_until(condition: Callable[[], bool], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the copy never got there"
        time.sleep(0.02)


def test_the_comparison_sees_ids_swapped_between_rows_and_a_moved_timestamp(
    tmp_path: Path, postgres_url: str
) -> None:
    """Counts and plain sums stay equal under both changes; the cross terms and the
    timestamp sums do not, so a copy that scrambled rows is not reported as matching."""
    source = tmp_path / "ff.duckdb"
    duckdb_store(source)
    assert run(tmp_path, "db", "copy", "--to", postgres_url).returncode == 0
    target = PostgresUrl(SecretStr(postgres_url))
    with connect(source, read_only=True) as duck:
        want = view_sums(duck)
    with connect(target) as pg:
        assert view_sums(pg) == want
        pg.execute(  # two events trade their snapshot ids: same count, same sums
            """UPDATE follow_events SET snapshot_id = CASE WHEN snapshot_id = 1 THEN 2 ELSE 1 END
               WHERE (user_id, snapshot_id) IN ((1, 1), (330, 2))"""
        )
        assert view_sums(pg)["follower_events"] != want["follower_events"]
        pg.execute("UPDATE follow_edges SET first_seen = first_seen + INTERVAL '1 hour'")
        assert view_sums(pg)["following_since"] != want["following_since"]
