"""The `users` table: the latest profile of every user seen, upserted in bulk from Arrow.

`users` has no index on `user_id` (migration m007): DuckDB's primary-key index made every
new user an index insert, and the first snapshot of 1,000,000 followers spent 3.0 s and
~100 MB more on its profiles than an update plus an anti-joined insert (1.8 s). Every
write goes through `upsert_users`, under the process's write lock and DuckDB's one-writer
file lock, so a user is never stored twice. PostgreSQL keeps the key and upserts with
ON CONFLICT, since writers on many hosts run at once there; a page of users it has never
seen goes in by COPY.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from followflow.store.connection import first_row
from followflow.store.dialect import Connection, copy_new_rows, is_postgres

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

# The Arrow type of each, which PostgreSQL's binary COPY needs exactly.
_ARROW_TYPES = {"BIGINT": pa.int64(), "VARCHAR": pa.string(), "BOOLEAN": pa.bool_(),
                "TIMESTAMPTZ": pa.timestamp("us", tz="UTC")}  # fmt: skip
_TIMESTAMP = _ARROW_TYPES["TIMESTAMPTZ"]

_VIEW = "_ff_page_users"
# PostgreSQL: ids of a page looked up before it is COPYed as new users (_copied_as_new).
_SAMPLED_IDS = 32


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
    # An X page can repeat a user when the list shifts under the paginator; a batch without
    # repeats skips the hashing of every column that removing them costs.
    ids = table.column("user_id")
    repeats = pc.count_distinct(ids).as_py() < len(ids)
    if is_postgres(con):
        _upsert_on_postgres(con, table, now, repeats=repeats)
        return
    # DuckDB: one writer per file, and no key (see above): update, then insert the rest.
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
    distinct = "DISTINCT ON (user_id)" if repeats else ""
    page = f"(SELECT {distinct} {', '.join(selected)} FROM {_VIEW})"
    columns_sql = ", ".join(f'"{c}"' for c in targets)
    con.register(_VIEW, table)
    try:
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


def _stored_form(table: pa.Table, now: datetime) -> pa.Table:
    """The page as `users` holds it: its profile columns in the table's types, `state`
    'active' and `updated_at` `now` where it has none, in user_id order."""
    stored = {
        c: table.column(c).cast(_ARROW_TYPES[PROFILE_COLUMNS[c]]) for c in profile_columns(table)
    }
    stored.setdefault("state", pa.repeat(pa.scalar("active"), table.num_rows))
    if "updated_at" in table.column_names:
        stored["updated_at"] = table.column("updated_at").cast(_TIMESTAMP)
    else:
        stored["updated_at"] = pa.repeat(pa.scalar(now, _TIMESTAMP), table.num_rows)
    page = pa.table(stored)
    return page.take(pc.sort_indices(page.column("user_id")))


def _upsert_on_postgres(con: Connection, table: pa.Table, now: datetime, *, repeats: bool) -> None:
    """Writers on other hosts upsert at the same time: the key arbitrates.

    Rows are locked in the order they come, so every writer comes in user_id order: two
    snapshots of accounts that share followers, each locking in its own page order,
    deadlocked on a 500-account fleet (bench/fleet.py).
    """
    page = _stored_form(table, now)
    if not repeats and _copied_as_new(con, page):
        return
    columns = ", ".join(f'"{c}"' for c in page.column_names)
    excluded = ", ".join(f'"{c}" = excluded."{c}"' for c in page.column_names if c != "user_id")
    distinct = "DISTINCT ON (user_id)" if repeats else ""
    con.register(_VIEW, page)
    try:
        con.execute(
            f"""INSERT INTO users ({columns})
                SELECT {distinct} * FROM {_VIEW} ORDER BY user_id
                ON CONFLICT (user_id) DO UPDATE SET {excluded}"""
        )
    finally:
        con.unregister(_VIEW)


def _copied_as_new(con: Connection, page: pa.Table) -> bool:
    """COPY a page of users none of whom is stored yet straight into `users`; False, with
    nothing written, when some are (the upsert then writes the page).

    ON CONFLICT inserts every row speculatively and logs it apart; COPY adds a disk page of
    rows at a time: the 1,000,000 profiles of a first snapshot took 4.0 s instead of 6.6 s
    (scratch measurement, 14 batches, client included). A few of the page's ids are looked
    up first, so that a page of known users (every later snapshot) does not start a COPY
    only to see it fail. The COPY itself decides, all or nothing: a user stored meanwhile by
    a writer on another host, or missed by the sample, fails it whole.
    """
    step = max(1, page.num_rows // _SAMPLED_IDS)
    sample = page.column("user_id").take(pa.array(range(0, page.num_rows, step))).to_pylist()
    known = first_row(
        con.execute("SELECT count(*) FROM users WHERE user_id = ANY(?::BIGINT[])", [sample])
    )
    if known and known[0]:
        return False
    return copy_new_rows(con, "users", page)
