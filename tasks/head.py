"""Head mode: read a listing from the newest until known users appear; record the new ones.

A head read stages nothing: what it found is applied whole at the end, or not at all.
"""

from __future__ import annotations

import pyarrow as pa

from followflow.settings import Settings
from followflow.store import head as store_head
from followflow.store.records import SnapshotDiff
from followflow.xapi.models import Page
from tasks.listing import Account, Kind, ListOutcome, ReadBudget
from tasks.listing_progress import ProgressReporter
from tasks.page_runs import Cursor, Logger, read_listing

# Consecutive known followers that mark the end of the new ones in head mode.
KNOWN_RUN = 20


def old_followers_start(ids: list[int], known: set[int]) -> int:
    """Where the already-known part of a newest-first page begins (len(ids) if it doesn't).

    A known id alone does not end the new part: someone who unfollowed and followed again
    between two runs is known yet sits at the top. The old part begins where a run of
    KNOWN_RUN known ids begins (a run cut by the page's end is confirmed on the next page).
    """
    run = 0
    for position, user_id in enumerate(ids):
        run = run + 1 if user_id in known else 0
        if run == KNOWN_RUN:
            return position - KNOWN_RUN + 1
    return len(ids)


def read_head(
    account: Account,
    kind: Kind,
    settings: Settings,
    budget: ReadBudget,
    outcome: ListOutcome,
    limit_name: str,
    reporter: ProgressReporter,
    logger: Logger,
) -> SnapshotDiff:
    """Read from the newest until known followers appear; record only the new ones."""
    db = settings.store
    new_pages: list[pa.Table] = []

    def keep(page_no: int, page: Page) -> bool:
        outcome.requests += 1
        outcome.pages = page_no
        ids = page.user_ids.to_pylist()
        known = store_head.known_followers(db, account.id, ids, kind)
        stop_at = old_followers_start(ids, known)
        fresh = [i for i, user_id in enumerate(ids[:stop_at]) if user_id not in known]
        table = page.as_arrow().take(pa.array(fresh, pa.int64()))
        new_pages.append(table)
        outcome.users_read += table.num_rows
        reporter.update(outcome.pages, outcome.users_read)
        return stop_at == len(ids)

    # No request is sent ahead: the read stops at the first known followers, and a page
    # requested past them would be paid for and thrown away.
    read_listing(
        account,
        kind,
        Cursor(),
        keep,
        settings=settings,
        budget=budget,
        limit_name=limit_name,
        send_ahead=False,
        logger=logger,
    )
    new_users = pa.concat_tables(new_pages) if new_pages else []
    return store_head.apply_head(db, account.id, new_users, kind)
