"""The plan statements on PostgreSQL right after a first snapshot, before any ANALYZE."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from followflow.campaigns.planner import plan_follow_back, plan_unfollow_cleanup
from followflow.store.dialect import Connection
from followflow.store.location import PostgresUrl
from followflow.store.postgres import close_pools
from tests.campaigns.world import ACCOUNT, T0, db, profile, profiles, snapshot

FOLLOWERS = 2_000


class Recording:
    """A connection that keeps each statement the planner runs, with the plan PostgreSQL
    makes for it at that moment: in the planner's transaction, with its settings."""

    def __init__(self, con: Connection) -> None:
        self.con = con
        self.statements: list[tuple[str, Any, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)

    def sql(self, query: str, *, alias: str = "", params: object = None) -> Any:
        self.statements.append((query, params, explain(self.con, query, params)))
        return self.con.sql(query, alias=alias, params=params)


def explain(con: Connection, query: str, params: Any) -> str:
    return "\n".join(row[0] for row in con.execute("EXPLAIN " + query, params).fetchall())


@pytest.fixture
def fresh_store(postgres_url: str):  # type: ignore[no-untyped-def]
    yield PostgresUrl(SecretStr(postgres_url))
    close_pools()


def test_plans_right_after_a_first_snapshot_take_no_nested_loop(fresh_store: PostgresUrl) -> None:
    with db(fresh_store) as con:
        # The minutes before autovacuum gets to the new rows, made to last the test.
        for table in ("follow_edges", "follow_events", "users", "actions"):
            con.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        snapshot(con, "followers", profiles(profile(i) for i in range(1, FOLLOWERS + 1)))
        snapshot(con, "following", list(range(FOLLOWERS // 2 + 1, FOLLOWERS * 3 // 2 + 1)))
        recording = Recording(con)
        follow = plan_follow_back(recording, ACCOUNT, now=T0)  # type: ignore[arg-type]
        unfollow = plan_unfollow_cleanup(recording, ACCOUNT, 0, now=T0)  # type: ignore[arg-type]
        assert len(follow.target_ids) == FOLLOWERS // 2
        assert unfollow.counts == {"follows_back": FOLLOWERS // 2, "included": FOLLOWERS // 2}
        # Each plan runs its statement, then reads the profiles of the users it shows.
        assert len(recording.statements) == 4
        for _, _, planned in recording.statements:
            assert "Nested Loop" not in planned, planned
        for query, params, _ in recording.statements[::2]:
            # The statistics predate the snapshot: left to them, PostgreSQL loops.
            assert "Nested Loop" in explain(con, query, params)
