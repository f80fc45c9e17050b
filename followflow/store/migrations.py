"""The schema, as an ordered registry of migrations recorded in `schema_migrations`.

A migration is a function of a connection, registered in order with `@migration`; its name
is recorded once applied, so opening a database applies only what is missing. Never edit an
applied migration: add a new one. The public names (DESIGN.md 3) are the views
`current_followers`, `current_following`, `follower_events`, `following_since` and the
tables `users`, `snapshots`, `actions`, `budget_state`; everything else may change.

The same registry builds the DuckDB file and the PostgreSQL store. The DDL is shared text
(both read VARCHAR, TIMESTAMPTZ, sequences, views); where a dialect needs its own, the
twin sits beside the shared text and the migration picks it with `is_postgres(con)`.
The schema version is the number of migrations applied; a store that records one this
followflow does not know was written by a newer followflow and is refused.

Follow edges are intervals (`follow_edges`: first_seen, last_seen, ended), so storage grows
with churn, not with the number of snapshots. No secondary indexes on purpose: DuckDB
scans a million ids in about a millisecond, and ART indexes slow every bulk append.
PostgreSQL gets the indexes its plans need (m008, m009), and keeps the users key (m007).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from followflow.store.dialect import Connection, is_postgres
from followflow.store.errors import SchemaTooNew

Migration = Callable[[Connection], None]

MIGRATIONS: list[tuple[str, Migration]] = []

SCHEMA_MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name VARCHAR PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL
)
"""

USERS_DDL = """
CREATE TABLE users (
    user_id BIGINT PRIMARY KEY,
    username VARCHAR,
    name VARCHAR,
    created_at TIMESTAMPTZ,
    description VARCHAR,
    location VARCHAR,
    url VARCHAR,
    protected BOOLEAN,
    verified BOOLEAN,
    verified_type VARCHAR,
    profile_image_url VARCHAR,
    default_profile_image BOOLEAN,
    followers_count BIGINT,
    following_count BIGINT,
    tweet_count BIGINT,
    listed_count BIGINT,
    state VARCHAR NOT NULL DEFAULT 'unknown'
        CHECK (state IN ('active', 'suspended', 'deactivated', 'unknown')),
    updated_at TIMESTAMPTZ NOT NULL
)
"""

SNAPSHOTS_DDL = """
CREATE SEQUENCE snapshots_seq START 1;
CREATE TABLE snapshots (
    snapshot_id BIGINT PRIMARY KEY DEFAULT nextval('snapshots_seq'),
    account_id BIGINT NOT NULL,
    kind VARCHAR NOT NULL CHECK (kind IN ('followers', 'following')),
    mode VARCHAR NOT NULL CHECK (mode IN ('full', 'head')),
    status VARCHAR NOT NULL CHECK (status IN ('running', 'complete', 'partial', 'failed')),
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    pages INTEGER NOT NULL DEFAULT 0,
    users_seen BIGINT NOT NULL DEFAULT 0,
    expected_count BIGINT,
    next_token VARCHAR,
    gained BIGINT,
    lost BIGINT,
    error VARCHAR
);
-- Ids of a snapshot's pages until it completes; keyed by page so a re-staged page
-- replaces itself instead of adding duplicates.
CREATE TABLE snapshot_staging (
    snapshot_id BIGINT NOT NULL,
    page_no INTEGER NOT NULL,
    user_id BIGINT NOT NULL
)
"""

EDGES_DDL = """
-- kind 'followers': user_id follows account_id; kind 'following': account_id follows user_id.
-- One row per uninterrupted interval; a re-follow opens a new row.
CREATE TABLE follow_edges (
    account_id BIGINT NOT NULL,
    kind VARCHAR NOT NULL CHECK (kind IN ('followers', 'following')),
    user_id BIGINT NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL,
    ended TIMESTAMPTZ,
    opened_by BIGINT NOT NULL,
    closed_by BIGINT
);
CREATE TABLE follow_events (
    account_id BIGINT NOT NULL,
    kind VARCHAR NOT NULL CHECK (kind IN ('followers', 'following')),
    user_id BIGINT NOT NULL,
    event VARCHAR NOT NULL CHECK (event IN ('gained', 'lost')),
    "at" TIMESTAMPTZ NOT NULL,
    reason VARCHAR CHECK (reason IN ('unfollowed', 'suspended', 'deactivated')),
    snapshot_id BIGINT NOT NULL
)
"""

VIEWS_DDL = """
CREATE VIEW current_followers AS
    SELECT account_id, user_id AS follower_id FROM follow_edges
    WHERE kind = 'followers' AND ended IS NULL;
CREATE VIEW current_following AS
    SELECT account_id, user_id AS followed_id FROM follow_edges
    WHERE kind = 'following' AND ended IS NULL;
CREATE VIEW follower_events AS
    SELECT account_id, user_id, event, "at", reason, snapshot_id FROM follow_events
    WHERE kind = 'followers';
CREATE VIEW following_events AS
    SELECT account_id, user_id, event, "at", reason, snapshot_id FROM follow_events
    WHERE kind = 'following';
-- first_seen of the open interval: a lower bound on how long we have followed someone
-- (the baseline snapshot cannot know older follows), which is the safe side for a grace period.
CREATE VIEW following_since AS
    SELECT account_id, user_id AS followed_id, first_seen AS since FROM follow_edges
    WHERE kind = 'following' AND ended IS NULL
"""

ACTIONS_DDL = """
CREATE SEQUENCE actions_seq START 1;
CREATE TABLE actions (
    action_id BIGINT PRIMARY KEY DEFAULT nextval('actions_seq'),
    idempotency_key VARCHAR NOT NULL UNIQUE,
    run_id VARCHAR,
    app_id VARCHAR NOT NULL,
    account_id BIGINT NOT NULL,
    target_id BIGINT NOT NULL,
    action VARCHAR NOT NULL CHECK (action IN ('follow', 'unfollow')),
    status VARCHAR NOT NULL CHECK (status IN ('reserved', 'done', 'failed')),
    outcome VARCHAR,
    reason VARCHAR,
    reserved_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ
)
"""

# One row per (app_id, account_id, action); account_id NULL is an app-wide cap. No key
# constraint, because NULL account ids must be allowed: replace a row with DELETE + INSERT
# in one transaction.
BUDGET_STATE_DDL = """
CREATE TABLE budget_state (
    app_id VARCHAR NOT NULL,
    account_id BIGINT,
    action VARCHAR NOT NULL CHECK (action IN ('follow', 'unfollow')),
    reset_at TIMESTAMPTZ NOT NULL,
    source VARCHAR,
    updated_at TIMESTAMPTZ NOT NULL
)
"""


def migration(fn: Migration) -> Migration:
    """Register `fn` as the next migration; its function name is its recorded name."""
    if any(name == fn.__name__ for name, _ in MIGRATIONS):
        raise ValueError(f"migration {fn.__name__} is registered twice")
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_users(con: Connection) -> None:
    con.execute(USERS_DDL)


@migration
def m002_snapshots(con: Connection) -> None:
    con.execute(SNAPSHOTS_DDL)


@migration
def m003_edges_and_events(con: Connection) -> None:
    con.execute(EDGES_DDL)


@migration
def m004_views(con: Connection) -> None:
    con.execute(VIEWS_DDL)


@migration
def m005_actions(con: Connection) -> None:
    con.execute(ACTIONS_DDL)


@migration
def m006_budget_state(con: Connection) -> None:
    con.execute(BUDGET_STATE_DDL)


@migration
def m007_users_without_index(con: Connection) -> None:
    """Rebuild `users` without its primary-key index (see users.py for why).

    PostgreSQL keeps the key: writers on many hosts upsert with ON CONFLICT on it, and a
    b-tree insert there costs far less than DuckDB's ART index did.
    """
    if is_postgres(con):
        return
    unkeyed = USERS_DDL.replace("user_id BIGINT PRIMARY KEY", "user_id BIGINT NOT NULL")
    con.execute(unkeyed.replace("CREATE TABLE users", "CREATE TABLE users_unkeyed"))
    con.execute("INSERT INTO users_unkeyed SELECT * FROM users")
    con.execute("DROP TABLE users")
    con.execute("ALTER TABLE users_unkeyed RENAME TO users")


@migration
def m008_postgres_indexes(con: Connection) -> None:
    """PostgreSQL plans need indexes where DuckDB scans: open edges of an account, a
    snapshot's staged pages and events, and the ledger's rolling window."""
    if not is_postgres(con):
        return
    con.execute(POSTGRES_INDEXES_DDL)


POSTGRES_INDEXES_DDL = """
CREATE INDEX follow_edges_open ON follow_edges (account_id, kind, user_id) WHERE ended IS NULL;
CREATE INDEX snapshot_staging_page ON snapshot_staging (snapshot_id, page_no);
CREATE INDEX follow_events_snapshot ON follow_events (snapshot_id, event);
CREATE INDEX snapshots_account ON snapshots (account_id, kind, mode, status);
CREATE INDEX actions_window ON actions (app_id, action, status, account_id)
"""


@migration
def m009_open_edges_with_first_seen(con: Connection) -> None:
    """PostgreSQL: the open-edges index carries `first_seen`, so a clean-up plan reads the
    million edges it orders by follow date from the index alone, not the table."""
    if not is_postgres(con):
        return
    con.execute(OPEN_EDGES_WITH_FIRST_SEEN_DDL)


OPEN_EDGES_WITH_FIRST_SEEN_DDL = """
DROP INDEX follow_edges_open;
CREATE INDEX follow_edges_open ON follow_edges (account_id, kind, user_id) INCLUDE (first_seen)
    WHERE ended IS NULL
"""


def schema_version(con: Connection) -> int:
    """How many migrations the store records (0 for a new store)."""
    return len(applied_migrations(con))


def applied_migrations(con: Connection) -> list[str]:
    """Names of the migrations recorded in this database, in the order applied."""
    # Asked first so that a read-only connection can answer too (0 for a new store).
    exists = con.execute(
        """SELECT count(*) FROM information_schema.tables
           WHERE table_name = 'schema_migrations' AND table_catalog = current_database()"""
    ).fetchall()
    if not exists[0][0]:
        return []
    rows = con.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()
    return [str(name) for (name,) in rows]


def apply_migrations(con: Connection, *, where: str) -> list[str]:
    """Apply every registered migration not yet recorded, each in its own transaction.

    Returns the names applied now (empty when the schema is current).

    Raises:
        SchemaTooNew: the store records a migration this followflow does not know
            (`where` names the store in the message).
    """
    con.execute(SCHEMA_MIGRATIONS_DDL)
    done = set(applied_migrations(con))
    unknown = done - {name for name, _ in MIGRATIONS}
    if unknown:
        raise SchemaTooNew(where, found=len(done), known=len(MIGRATIONS))
    applied: list[str] = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        con.begin()
        try:
            fn(con)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [name, datetime.now(UTC)])
            con.commit()
        except BaseException:
            con.rollback()
            raise
        applied.append(name)
    return applied
