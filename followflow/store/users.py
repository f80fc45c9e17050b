"""The `users` table: the latest profile of every user seen, upserted in bulk from Arrow.

`users` has no index on `user_id` (migration m007): DuckDB's primary-key index made every
new user an index insert, and the first snapshot of 1,000,000 followers spent 3.0 s and
~100 MB more on its profiles than an update plus an anti-joined insert (1.8 s). Every
write goes through `upsert_users`, under the process's write lock and DuckDB's one-writer
file lock, so a user is never stored twice. PostgreSQL keeps the key and upserts with
ON CONFLICT, since writers on many hosts run at once there.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from followflow.store.dialect import Connection, is_postgres

# Column -> DuckDB type, in table order; `state` and `updated_at` are set by the store.
PROFILE_COLUMNS: dict[str, str] = {
    "user_id": "BIGINT",
    "username": "VARCHAR",
    "name": "VARCHAR",
    "created_at": "TIMESTAMPTZ",
    "description": "VARCHAR",
    "location": "VARCHAR",
    "url": "VARCHAR",
    "protected": "BOOLEAN",
    "verified": "BOOLEAN",
    "verified_type": "VARCHAR",
    "profile_image_url": "VARCHAR",
    "default_profile_image": "BOOLEAN",
    "followers_count": "BIGINT",
    "following_count": "BIGINT",
    "tweet_count": "BIGINT",
    "listed_count": "BIGINT",
    "state": "VARCHAR",
}

_VIEW = "_ff_page_users"


def profile_columns(table: pa.Table) -> list[str]:
    """The users columns present in `table`, in table order; requires `user_id`."""
    present = set(table.column_names)
    if "user_id" not in present:
        raise ValueError(f"a page of users needs a user_id column (got {table.column_names})")
    return [name for name in PROFILE_COLUMNS if name in present]


def upsert_users(con: Connection, table: pa.Table, now: datetime) -> None:
    """Insert or update the profiles in `table` (columns absent are kept).

    Users without a `state` column are marked 'active': X listed them, so they exist.
    `updated_at` is the table's own column when it has one (when the page was fetched),
    else `now`.
    """
    if table.num_rows == 0:
        return
    columns = profile_columns(table)
    selected = [f'CAST("{c}" AS {PROFILE_COLUMNS[c]}) AS "{c}"' for c in columns]
    targets = list(columns)
    if "state" not in columns:
        selected.append("'active' AS state")
        targets.append("state")
    params: list[object] = []
    if "updated_at" in table.column_names:
        selected.append('CAST("updated_at" AS TIMESTAMPTZ) AS "updated_at"')
    else:
        selected.append("?::TIMESTAMPTZ AS updated_at")
        params.append(now)
    targets.append("updated_at")
    updates = ", ".join(f'"{c}" = page."{c}"' for c in targets if c != "user_id")
    # An X page can repeat a user when the list shifts under the paginator; a batch without
    # repeats skips the hashing of every column that removing them costs.
    ids = table.column("user_id")
    distinct = "DISTINCT ON (user_id)" if pc.count_distinct(ids).as_py() < len(ids) else ""
    page = f"(SELECT {distinct} {', '.join(selected)} FROM {_VIEW})"
    columns_sql = ", ".join(f'"{c}"' for c in targets)
    con.register(_VIEW, table)
    try:
        if is_postgres(con):
            # Writers on other hosts upsert at the same time: the key arbitrates. Rows are
            # locked in the order they come, so every writer comes in user_id order: two
            # snapshots of accounts that share followers, each locking in its own page
            # order, deadlocked on a 500-account fleet (bench/fleet.py).
            excluded = ", ".join(f'"{c}" = excluded."{c}"' for c in targets if c != "user_id")
            con.execute(
                f"""INSERT INTO users ({columns_sql})
                    SELECT * FROM {page} AS page ORDER BY user_id
                    ON CONFLICT (user_id) DO UPDATE SET {excluded}""",
                params,
            )
            return
        # DuckDB: one writer per file, and no key (see above): update, then insert the rest.
        con.execute(
            f"UPDATE users SET {updates} FROM {page} AS page WHERE users.user_id = page.user_id",
            params,
        )
        con.execute(
            f"""INSERT INTO users ({columns_sql})
                SELECT * FROM {page} AS page
                WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = page.user_id)""",
            params,
        )
    finally:
        con.unregister(_VIEW)
