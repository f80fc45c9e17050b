"""How a plan's statement runs and comes back as Arrow, on either backend, with the
profiles of the users a report shows.

DuckDB plans it well as it is. PostgreSQL plans from statistics, which lag a bulk write
until autovacuum analyzes (a first snapshot applied minutes before a campaign): from those
it took the new rows for a few and chose nested loops: 16 s to plan over 10,000 followers
instead of 0.02 s. So on PostgreSQL the statement runs in a transaction of its own whose
settings leave no plan but merge joins. An ANALYZE of the tables a plan reads when they
changed a lot was measured too, and is not done: the counts it would go by
(pg_stat_user_tables) reach other sessions only some time after the writer commits, so a
plan right after a first snapshot still saw fresh tables and took the 16 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from followflow.campaigns.ledger_sql import begin, rollback
from followflow.store.dialect import Connection, is_postgres

# Every join of a plan meets a whole list (followers, following, profiles), so the joins
# are merge joins, along the open-edges index and the users key: stale statistics cannot
# talk the planner into nested loops, and on two busy cores the follow-back statement took
# 1.0 s where parallel hash joins took 1.4 s (1M x 1M). No parallel workers: each one
# repeated the whole sort of the followers and the scan of the users (EXPLAIN's loops=3),
# 3.2 CPU seconds for a clean-up plan instead of 2.8. JIT would compile the expressions
# for about 0.2 s, more than it saves. A million ids sort in memory with 128 MB; with the
# default 4 MB they spill to temp files.
_PLAN_SETTINGS = (
    "enable_nestloop = off",
    "enable_hashjoin = off",
    "max_parallel_workers_per_gather = 0",
    "jit = off",
    "work_mem = '128MB'",
)


# The first users of a plan that come with their profile: the longest table a report shows.
DESCRIBED_ROWS = 200

_PROFILES_SQL = """
SELECT user_id, username, followers_count, following_count FROM users
WHERE user_id = ANY($ids::BIGINT[])
"""


def seen_at(con: Connection, column: str = "seen_at") -> str:
    """The select-list item for a plan's `seen_at`: the timestamp `column`.

    PostgreSQL sends it as microseconds since the epoch (`read_plan` turns them back into
    timestamps): psycopg would make a datetime object of each, a million per plan, only
    for Arrow to take them apart again.
    """
    if is_postgres(con):
        return f"CAST(round(date_part('epoch', {column}) * 1000000) AS BIGINT) AS seen_at"
    return f"{column} AS seen_at"


def read_plan(con: Connection, sql: str, params: dict[str, Any]) -> tuple[pa.Table, pa.Table]:
    """The plan statement's rows as an Arrow table, its `seen_at` a UTC timestamp, and the
    profiles of its first DESCRIBED_ROWS users (on PostgreSQL, in the same transaction)."""
    if not is_postgres(con):
        table = _arrow(con, sql, params)
        return table, _profiles(con, table)
    with _planned_for_lists(con):
        table = _arrow(con, sql, params)
        profiles = _profiles(con, table)
    index = table.schema.get_field_index("seen_at")
    seen = table["seen_at"].cast(pa.timestamp("us", tz="UTC"))
    return table.set_column(index, "seen_at", seen), profiles


def _profiles(con: Connection, table: pa.Table) -> pa.Table:
    ids = table["user_id"].slice(0, DESCRIBED_ROWS).to_pylist()
    return _arrow(con, _PROFILES_SQL, {"ids": ids})


@contextmanager
def _planned_for_lists(con: Connection) -> Iterator[None]:
    """PostgreSQL: one transaction whose statements are planned with `_PLAN_SETTINGS`."""
    begin(con)
    try:
        for setting in _PLAN_SETTINGS:
            con.execute(f"SET LOCAL {setting}")
        yield
        con.commit()
    except BaseException:
        rollback(con)
        raise


def _arrow(con: Connection, sql: str, params: dict[str, Any]) -> pa.Table:
    # A relation hands Arrow its rows without the extra copy a DB-API result makes.
    relation = con.sql(sql, params=params)
    if relation is None:
        raise RuntimeError("a plan query returned no relation")
    return relation.to_arrow_table()
