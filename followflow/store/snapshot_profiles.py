"""Upserting the profiles a snapshot's pages carry into `users`.

On DuckDB the profiles of spooled pages reach `users` when the snapshot completes, from
the page files, a few pages per transaction: upserting them at every fold made DuckDB
rewrite the growing `users` table and its index each time (measured on 1,000,000
followers: 22.5 s and 545 MB for the snapshot, against 14.6 s and 301 MB without). On
PostgreSQL they go in the fold that stages their ids (`upserted_at_fold`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import islice

import pyarrow as pa

from followflow.store import spool
from followflow.store.connection import DbPath, kept_open, transaction
from followflow.store.dialect import Connection
from followflow.store.location import PostgresUrl
from followflow.store.records import utc_now
from followflow.store.users import upsert_users

# Pages of profiles per transaction, and per attachment of the file, when a snapshot
# completes: DuckDB keeps a transaction's new rows in memory until it commits, and an
# attached file's until a checkpoint. With these bounds a 1,000,000-follower snapshot peaked
# at ~340 MB; one attachment for all of them, at ~400 MB (BENCHMARKS.md).
PROFILE_PAGES_PER_TRANSACTION = 50
PROFILE_PAGES_PER_ATTACH = 500


def upserted_at_fold(db: DbPath) -> bool:
    """Whether a page's profiles go into `users` in the fold that stages its ids
    (PostgreSQL), or when the snapshot completes (DuckDB).

    A PostgreSQL upsert writes only its own rows and their key entries, whatever the size
    of the table, and in the background fold it runs while the next pages are read rather
    than after the last one: ~6 of the server's CPU seconds for a 1,000,000-follower
    snapshot (BENCHMARKS.md). Their ids and profiles then land in one transaction, so a
    snapshot resumed on another host keeps the profiles of the pages read on the first.
    """
    return isinstance(db, PostgresUrl)


def upsert_profiles(con: Connection, pages: Sequence[pa.Table], now: datetime) -> None:
    """Upsert the profiles of `pages`, one statement per run of pages with the same columns."""
    run: list[pa.Table] = []
    for page in [*pages, None]:
        if run and (page is None or page.schema != run[0].schema):
            if run[0].num_columns > 1:
                upsert_users(con, pa.concat_tables(run), now)
            run = []
        if page is not None:
            run.append(page)


def upsert_spooled_profiles(db: DbPath, snapshot_id: int) -> None:
    """Upsert the profiles of every page spooled for a snapshot, a few pages at a time
    (when they are not `upserted_at_fold`).

    A transaction per PROFILE_PAGES_PER_TRANSACTION pages keeps each one's new rows
    small; letting the file go after PROFILE_PAGES_PER_ATTACH checkpoints it, which moves
    the rows written so far out of memory. A crash in between leaves some profiles newer
    than others, never wrong. Each page carries its fetch time as `updated_at`.
    """
    pages = (p.users for p in spool.readable(db, snapshot_id) if p.users.num_columns > 1)
    batches = iter(lambda: list(islice(pages, PROFILE_PAGES_PER_TRANSACTION)), [])
    per_attach = PROFILE_PAGES_PER_ATTACH // PROFILE_PAGES_PER_TRANSACTION
    while True:
        with kept_open(db):
            upserted = 0
            for batch in islice(batches, per_attach):
                with transaction(db) as con:
                    upsert_profiles(con, batch, utc_now(None))
                upserted += 1
        if upserted < per_attach:
            return
