from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from followflow.store.connection import DbPath, connect
from followflow.store.location import PostgresUrl
from followflow.store.migrations import (
    MIGRATIONS,
    SCHEMA_MIGRATIONS_DDL,
    applied_migrations,
    apply_migrations,
    schema_version,
)
from tests.postgres import PASSWORD

CONTRACT_COLUMNS = {
    "current_followers": ["account_id", "follower_id"],
    "current_following": ["account_id", "followed_id"],
    "follower_events": ["account_id", "user_id", "event", "at", "reason", "snapshot_id"],
    "following_since": ["account_id", "followed_id", "since"],
    "snapshots": [
        "snapshot_id", "account_id", "kind", "mode", "status", "started_at", "finished_at",
        "pages", "users_seen", "expected_count", "next_token", "gained", "lost", "error",
    ],
    "actions": [
        "action_id", "idempotency_key", "run_id", "app_id", "account_id", "target_id", "action",
        "status", "outcome", "reason", "reserved_at", "completed_at",
    ],
    "budget_state": ["app_id", "account_id", "action", "reset_at", "source", "updated_at"],
    "users": [
        "user_id", "username", "name", "created_at", "description", "location", "url",
        "protected", "verified", "verified_type", "profile_image_url", "default_profile_image",
        "followers_count", "following_count", "tweet_count", "listed_count", "state",
        "updated_at",
    ],
}  # fmt: skip


def test_migrations_apply_once_and_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "m.duckdb"
    con = duckdb.connect(str(path))
    try:
        first = apply_migrations(con, where=str(path))
        second = apply_migrations(con, where=str(path))
        recorded = applied_migrations(con)
    finally:
        con.close()
    assert first == [name for name, _ in MIGRATIONS]
    assert second == []
    assert recorded == first


def test_connect_migrates_a_new_store_with_the_public_names(store: DbPath) -> None:
    with connect(store) as con:
        for relation, columns in CONTRACT_COLUMNS.items():
            rows = con.execute(
                """SELECT column_name FROM information_schema.columns
                   WHERE table_name = ? AND table_catalog = current_database()
                   ORDER BY ordinal_position""",
                [relation],
            ).fetchall()
            assert [r[0] for r in rows] == columns, relation
        assert schema_version(con) == len(MIGRATIONS)


_OPEN_IN_A_NEW_PROCESS = """
import sys
from followflow.store.connection import DbPath, connect
from followflow.store.location import PostgresUrl
from followflow.store.location import store_location
from followflow.settings import load_settings
try:
    with connect(store_location(load_settings())):
        pass
except Exception as error:
    print(type(error).__name__, error)
    sys.exit(1)
"""


def test_a_store_a_newer_followflow_wrote_is_refused_in_one_line(store: DbPath) -> None:
    with connect(store) as con:
        con.execute("INSERT INTO schema_migrations VALUES ('m999_from_the_future', now())")
    env = {**os.environ, "FOLLOWFLOW_DB_PATH": str(store)}
    if isinstance(store, PostgresUrl):
        env["FOLLOWFLOW_DATABASE_URL"] = store.conninfo()
    run = subprocess.run(
        [sys.executable, "-c", _OPEN_IN_A_NEW_PROCESS], env=env, capture_output=True, text=True
    )
    assert run.returncode == 1, run.stderr
    message = run.stdout.strip()
    assert message.startswith("SchemaTooNew "), message
    assert f"schema version {len(MIGRATIONS) + 1}, newer than this followflow's" in message
    assert "upgrade followflow" in message and "\n" not in message
    assert PASSWORD not in message


def test_an_older_database_gets_only_the_missing_migrations(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    try:
        first_two = MIGRATIONS[:2]
        con.execute(SCHEMA_MIGRATIONS_DDL)
        for name, fn in first_two:
            fn(con)
            con.execute("INSERT INTO schema_migrations VALUES (?, now())", [name])
        applied = apply_migrations(con, where=str(path))
    finally:
        con.close()
    assert applied == [name for name, _ in MIGRATIONS[2:]]


def test_users_keep_their_rows_when_their_index_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "keyed.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute(SCHEMA_MIGRATIONS_DDL)
        for name, fn in MIGRATIONS[:6]:
            fn(con)
            con.execute("INSERT INTO schema_migrations VALUES (?, now())", [name])
        con.execute(
            "INSERT INTO users (user_id, username, state, updated_at) "
            "VALUES (7, 'seven', 'active', now())"
        )
        assert apply_migrations(con, where=str(path)) == [
            "m007_users_without_index",
            "m008_postgres_indexes",
            "m009_open_edges_with_first_seen",
        ]
        rows = con.execute("SELECT user_id, username, state FROM users").fetchall()
        keys = con.execute(
            "SELECT count(*) FROM duckdb_constraints() "
            "WHERE table_name = 'users' AND constraint_type = 'PRIMARY KEY'"
        ).fetchall()
        followers = con.execute("SELECT count(*) FROM current_followers").fetchall()
    finally:
        con.close()
    assert rows == [(7, "seven", "active")]
    assert keys == [(0,)]
    assert followers == [(0,)]  # the views still resolve `users`
