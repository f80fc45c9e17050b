"""Reading one list of one account into the store, within the rate limits.

`snapshot_list` is the unit the snapshot flow runs concurrently per account and list. It
reads the pages in a few task runs (page_runs.py), keeps every page on disk as it
arrives and stages them in the store about once a second (one short transaction for all
of them). Only a complete listing is applied to the edge history; anything that cannot
finish is left `partial` with its checkpoint, and the next run resumes from there.
`read_full` is that lifecycle for any way of reading the pages: lists that fit in one
window are read many to a task run (short_lists.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from followflow.settings import get_settings
from followflow.store import events as store_events
from followflow.store import snapshots as store_snapshots
from followflow.store.errors import StoreError
from followflow.store.folding import BackgroundFolder
from followflow.store.records import Checkpoint, SnapshotDiff
from followflow.xapi.errors import InvalidPaginationToken, UserNotFound, UserSuspended, XAPIError
from followflow.xapi.models import Page
from tasks import prefetch
from tasks.clients import client_for
from tasks.head import read_head
from tasks.limits import x_limit_name
from tasks.listing import Account, Kind, ListOutcome, ReadBudget, ReadCapReached, Status
from tasks.listing_progress import ProgressReporter
from tasks.page_runs import Cursor, Logger, PageSink, read_listing
from tasks.reads import lookup_users

LOOKUP_BATCH = 100
# How a listing's pages are read from the cursor, each handed to the sink: run after run
# with window waits (a listing of its own), or within one window (tasks/short_lists.py).
Reader = Callable[[Cursor, PageSink], None]
# How often fetched pages (each on disk the moment it arrives) are staged in DuckDB: a
# transaction costs ~20 ms, and other processes get at the file between two of them.
FOLD_EVERY_S = 1.0


def _failure(error: Exception) -> tuple[Status, str]:
    """`failed` when the account itself is gone (nothing to resume), else `partial`."""
    if isinstance(error, UserNotFound | UserSuspended):
        return "failed", str(error)
    return "partial", f"{type(error).__name__}: {error}"


def _classify_lost(lost_ids: list[int]) -> dict[int, str]:
    """Why each lost user is gone: still there (unfollowed), suspended, or deactivated."""
    reasons: dict[int, str] = {}
    for start in range(0, len(lost_ids), LOOKUP_BATCH):
        batch = lost_ids[start : start + LOOKUP_BATCH]
        result = lookup_users(batch, len(batch))
        for user in result.users:
            reasons[user.id] = "unfollowed"
        for problem in result.missing:
            if problem.resource_id is None:
                continue
            state = problem.account_state
            reasons[int(problem.resource_id)] = (
                "suspended" if state == "suspended" else "deactivated"
            )
    return reasons


@task(
    name="snapshot-list", task_run_name="snapshot-{kind}-{account.username}", cache_policy=NO_CACHE
)
def snapshot_list(account: Account, kind: Kind, mode: str, budget: ReadBudget) -> ListOutcome:
    """Read one list of one account into the store; complete, or leave it partial to resume."""
    logger = get_run_logger()
    settings = get_settings()
    principal = client_for(settings, for_writes=False, user_id=account.id).principal
    limit_name = x_limit_name(kind, principal)
    reporter = ProgressReporter(account, kind, settings.page_size, time.monotonic)
    if mode == "head":
        outcome = ListOutcome(account.username, account.id, kind, mode, status="partial")
        try:
            diff = read_head(account, kind, settings, budget, outcome, limit_name, reporter, logger)
            outcome.snapshot_id = diff.snapshot_id
            _record_diff(diff, outcome, kind)
        except (XAPIError, ReadCapReached, StoreError) as error:
            outcome.status, outcome.error = _failure(error)
        reporter.update(outcome.pages, outcome.users_read, finished=True)
        return outcome

    def read(cursor: Cursor, keep: PageSink) -> None:
        read_listing(
            account,
            kind,
            cursor,
            keep,
            settings=settings,
            budget=budget,
            limit_name=limit_name,
            send_ahead=True,
            logger=logger,
        )

    return read_full(account, kind, mode, read, reporter, logger)


def read_full(
    account: Account,
    kind: Kind,
    mode: str,
    read: Reader,
    reporter: ProgressReporter,
    logger: Logger,
) -> ListOutcome:
    """Read a whole list with `read` into a snapshot (resumed where one was left) and
    apply it; the outcome says how it ended (HandOver from `read` passes through)."""
    db = get_settings().store
    outcome = ListOutcome(account.username, account.id, kind, mode, status="partial")
    checkpoint = store_snapshots.start_or_resume(db, account.id, kind, mode, account.expected(kind))
    outcome.snapshot_id = checkpoint.snapshot_id
    if checkpoint.resumed:
        logger.info(
            "@%s %s: resuming snapshot %d after page %d",
            account.username,
            kind,
            checkpoint.snapshot_id,
            checkpoint.pages_done,
        )
    try:
        diff = _read_pages(account, kind, checkpoint, read, outcome, reporter, logger)
        _record_diff(diff, outcome, kind)
    except (XAPIError, ReadCapReached, StoreError) as error:
        outcome.status, outcome.error = _failure(error)
        try:
            if outcome.status == "failed":
                store_snapshots.mark_failed(db, checkpoint.snapshot_id, outcome.error)
            else:
                store_snapshots.mark_partial(db, checkpoint.snapshot_id, outcome.error)
        except StoreError as unmarked:
            # The store itself failed (locked past the timeout, gone): the snapshot stays
            # open at its last checkpoint, and the next run resumes it as it would a
            # partial one. The outcome reports the first error, with this one beside it.
            outcome.error += f" (and it could not be marked: {type(unmarked).__name__})"
    reporter.update(outcome.pages, outcome.users_read, finished=True)
    return outcome


def _read_pages(
    account: Account,
    kind: Kind,
    checkpoint: Checkpoint,
    read: Reader,
    outcome: ListOutcome,
    reporter: ProgressReporter,
    logger: Logger,
) -> SnapshotDiff:
    """Read the whole list from the checkpoint on, every page spooled as it arrives."""
    db, snapshot_id = get_settings().store, checkpoint.snapshot_id
    cursor = Cursor(checkpoint.pages_done, checkpoint.next_token)
    users = checkpoint.users_seen
    while not cursor.finished:
        try:
            # The folder stops before a restart, so it cannot stage the old token's pages.
            with BackgroundFolder(db, snapshot_id, FOLD_EVERY_S) as folder:

                def keep(page_no: int, page: Page) -> bool:
                    nonlocal users
                    outcome.requests += 1
                    store_snapshots.spool_page(
                        db, snapshot_id, page_no, page.as_arrow(), page.next_token
                    )
                    users += page.result_count
                    outcome.pages, outcome.users_read = page_no, users
                    reporter.update(page_no, users)
                    folder.check()
                    return True

                read(cursor, keep)
        except InvalidPaginationToken:
            logger.warning("@%s %s: X rejected the saved token; restarting", account.username, kind)
            store_snapshots.restart(db, snapshot_id)
            cursor, users = Cursor(), 0
        finally:
            prefetch.drop(kind, account.id)
    return store_snapshots.complete(db, snapshot_id)


def _record_diff(diff: SnapshotDiff, outcome: ListOutcome, kind: Kind) -> None:
    outcome.status = "complete"
    outcome.baseline = diff.baseline
    outcome.gained_ids, outcome.lost_ids = diff.gained_ids, diff.lost_ids
    if diff.lost_ids and kind == "followers":
        outcome.lost_reasons = _classify_lost(diff.lost_ids)
        store_events.record_lost_reasons(
            get_settings().store, diff.snapshot_id, outcome.lost_reasons
        )
