"""How a plan's one statement runs and comes back as Arrow, on either backend.

DuckDB plans it well as it is. PostgreSQL plans from statistics, which lag a bulk write
until autovacuum analyzes (a first snapshot applied minutes before a campaign): from those
it took a million-row table for a few rows and chose nested loops. So on PostgreSQL the
statement runs in a transaction of its own, with the settings below, after an ANALYZE of
the tables it reads when they changed a lot since their last one.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from followflow.campaigns.ledger_sql import begin, rollback
from followflow.store.dialect import Connection, is_postgres

# Every join of a plan meets a whole list (followers, following, profiles), so the joins
# are merge joins, along the open-edges index and the users key: stale statistics cannot
# talk the planner into nested loops, and on two busy cores this took 1.0 s where parallel
# hash joins took 1.4 s (1M x 1M). JIT would compile the expressions for about 0.2 s, more
# than it saves. A million ids sort in memory with 128 MB; with 4 MB they spill to disk.
_PLAN_SETTINGS = (
    "enable_nestloop = off",
    "enable_hashjoin = off",
    "jit = off",
    "work_mem = '128MB'",
)

_READ_TABLES = ("follow_edges", "follow_events", "users", "actions")

# Autovacuum's own rule with its default settings (50 rows + 10% of the table): a table past
# it would be analyzed within the minute anyway; the plan does that now instead of
# waiting. reltuples is -1 before a table's first ANALYZE.
_STALE_SQL = """
SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.schemaname = current_schema() AND s.relname = ANY(?)
  AND s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)
ORDER BY s.relname
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


def read_plan(con: Connection, sql: str, params: dict[str, Any]) -> pa.Table:
    """The plan statement's rows as an Arrow table, its `seen_at` a UTC timestamp."""
    if not is_postgres(con):
        return _arrow(con, sql, params)
    analyze_stale_tables(con)
    begin(con)
    try:
        for setting in _PLAN_SETTINGS:
            con.execute(f"SET LOCAL {setting}")
        table = _arrow(con, sql, params)
        con.commit()
    except BaseException:
        rollback(con)
        raise
    index = table.schema.get_field_index("seen_at")
    return table.set_column(index, "seen_at", table["seen_at"].cast(pa.timestamp("us", tz="UTC")))


def analyze_stale_tables(con: Connection) -> list[str]:
    """PostgreSQL: ANALYZE each table a plan reads that changed a lot since its last
    ANALYZE; the names analyzed. A few milliseconds when none did."""
    stale = [str(row[0]) for row in con.execute(_STALE_SQL, [list(_READ_TABLES)]).fetchall()]
    for table in stale:  # names from the fixed list above, never from input
        con.execute(f"ANALYZE {table}")
    return stale


def _arrow(con: Connection, sql: str, params: dict[str, Any]) -> pa.Table:
    # A relation hands Arrow its rows without the extra copy a DB-API result makes.
    relation = con.sql(sql, params=params)
    if relation is None:
        raise RuntimeError("a plan query returned no relation")
    return relation.to_arrow_table()
