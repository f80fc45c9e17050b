"""Reading one list of one account into the store, page by page, within the rate limits.

`snapshot_list` is the unit the snapshot flow runs concurrently per account and list. It
holds the bucket's global concurrency slot while it reads a run of pages, keeps every page
on disk as it arrives and stages them in DuckDB about once a second (one short transaction
for all of them), and gives the slot up while it sleeps for a window reset. Only a complete
listing is applied to the edge history; anything that cannot finish is left `partial` with
its checkpoint, and the next run resumes from there.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

import pyarrow as pa
from prefect import task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from prefect.transactions import get_transaction

from followflow import progress
from followflow.settings import Settings, get_settings
from followflow.store import events as store_events
from followflow.store import head as store_head
from followflow.store import snapshots as store_snapshots
from followflow.store.errors import StoreError
from followflow.store.folding import BackgroundFolder
from followflow.store.records import Checkpoint, SnapshotDiff
from followflow.xapi.errors import (
    InvalidPaginationToken,
    RateLimited,
    UserNotFound,
    UserSuspended,
    XAPIError,
)
from followflow.xapi.models import Page
from tasks import prefetch
from tasks.clients import client_for
from tasks.limits import hold, x_limit_name
from tasks.reads import fetch_followers_page, fetch_following_page, lookup_users, request_page

Kind = Literal["followers", "following"]
Status = Literal["complete", "partial", "failed", "skipped"]

# Progress artifacts cost an API round trip; a few updates a second is plenty for a human.
PROGRESS_EVERY_S = 1.0
ETA_LOG_EVERY_S = 30.0
# How long before a window's reset a waiting listing takes its bucket's slot back
# (an acquire costs ~26 ms on a local server, with rare longer stalls).
SLOT_LEAD_S = 0.5
LOOKUP_BATCH = 100
# Consecutive known followers that mark the end of the new ones in head mode.
KNOWN_RUN = 20
# How often fetched pages (each on disk the moment it arrives) are staged in DuckDB: a
# transaction costs ~20 ms, and other processes get at the file between two of them.
FOLD_EVERY_S = 1.0


@dataclass(frozen=True)
class Account:
    """An account resolved from a username or id, with its list sizes from the profile."""

    id: int
    username: str
    followers_count: int
    following_count: int

    def expected(self, kind: Kind) -> int:
        return self.followers_count if kind == "followers" else self.following_count


@dataclass
class ListOutcome:
    """How reading one list ended."""

    account: str
    account_id: int
    kind: Kind
    mode: str
    status: Status
    snapshot_id: int | None = None
    pages: int = 0
    users_read: int = 0
    requests: int = 0
    gained_ids: list[int] = field(default_factory=list)
    lost_ids: list[int] = field(default_factory=list)
    lost_reasons: dict[int, str] = field(default_factory=dict)
    baseline: bool = False
    error: str | None = None


class ReadCapReached(Exception):
    """The run's read cap would be exceeded by the next page."""


class ReadBudget:
    """Users a run may still read (FOLLOWFLOW_MAX_READS_PER_RUN), shared by its listings."""

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.read = 0
        self._lock = threading.Lock()

    def allows(self, users: int) -> bool:
        with self._lock:
            return self.cap is None or self.read + users <= self.cap

    def spend(self, users: int) -> None:
        with self._lock:
            self.read += users


def _artifact_key(account: Account, kind: Kind) -> str:
    return f"snapshot-{kind}-{account.id}"


class _ProgressReporter:
    """Progress to the terminal (in-process listeners) and to a Prefect progress artifact."""

    def __init__(self, account: Account, kind: Kind, page_size: int, clock: Callable[[], float]):
        self.account, self.kind, self.clock = account, kind, clock
        self.users_expected = account.expected(kind)
        self.pages_expected = max(1, math.ceil(self.users_expected / page_size))
        # Created with the first page, not before it: a run's listings start together and
        # an API call each would hold back their first requests.
        self.artifact_id: UUID | None = None
        self.last_update = 0.0
        self.started = clock()
        self.last_log = self.started
        self.logger = get_run_logger()

    def _log_eta(self, pages: int, expected: int, now: float) -> None:
        if now - self.last_log < ETA_LOG_EVERY_S or pages == 0:
            return
        self.last_log = now
        rate = pages / max(now - self.started, 1e-9)
        eta = max(expected - pages, 0) / rate
        self.logger.info(
            "@%s %s: page %d of ~%d; about %.0f s to go at %.2f pages/s",
            self.account.username,
            self.kind,
            pages,
            expected,
            eta,
            rate,
        )

    def update(self, pages: int, users: int, *, finished: bool = False) -> None:
        expected = max(self.pages_expected, pages)
        progress.report(
            progress.Progress(
                account=self.account.username,
                kind=self.kind,
                pages_done=pages,
                pages_expected=expected if not finished else pages,
                users_seen=users,
                users_expected=max(self.users_expected, users),
                finished=finished,
            )
        )
        now = self.clock()
        self._log_eta(pages, expected, now)
        done = 100.0 if finished else min(99.0, 100.0 * pages / expected)
        if self.artifact_id is None:
            self.last_update = now
            # Called from sync code it returns the id; Prefect types it maybe-a-coroutine.
            self.artifact_id = create_progress_artifact(  # type: ignore[assignment]
                progress=done,
                key=_artifact_key(self.account, self.kind),
                description=(
                    f"{self.kind} of @{self.account.username}: pages read of pages expected"
                ),
            )
        elif finished or now - self.last_update >= PROGRESS_EVERY_S:
            self.last_update = now
            update_progress_artifact(self.artifact_id, done)


def _failure(error: Exception) -> tuple[Status, str]:
    """`failed` when the account itself is gone (nothing to resume), else `partial`."""
    if isinstance(error, UserNotFound | UserSuspended):
        return "failed", str(error)
    return "partial", f"{type(error).__name__}: {error}"


def _send_ahead(account: Account, kind: Kind, token: str, size: int) -> None:
    """Request the page at `token` now; the next page task picks the response up."""
    prefetch.start(
        kind,
        account.id,
        token,
        size,
        lambda: request_page(kind, account.id, token, page_size=size, user_id=account.id),
    )


def _fetch(kind: Kind, account: Account, page_no: int, token: str | None, size: int) -> Page:
    fetch = fetch_followers_page if kind == "followers" else fetch_following_page
    return fetch(account.username, account.id, page_no, token, size)


def _resume_at(
    error: RateLimited,
    settings: Settings,
    limit_name: str,
    logger: logging.LoggerAdapter[logging.Logger] | logging.Logger,
) -> float:
    """When to send again after a spent window; raises when that is too far away."""
    reset_at = error.reset_at if error.reset_at is not None else time.time() + 60
    wait = max(0.0, reset_at - time.time()) + settings.rate_limit_margin_s
    if wait > settings.max_rate_limit_wait_s:
        raise error
    logger.info(
        "%s: window spent; waiting %.1f s for the reset at %s",
        limit_name,
        wait,
        datetime.fromtimestamp(reset_at, UTC).strftime("%H:%M:%S"),
    )
    return time.time() + wait


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def _pages(
    account: Account,
    kind: Kind,
    token: str | None,
    page_no: int,
    settings: Settings,
    budget: ReadBudget,
    limit_name: str,
    logger: logging.LoggerAdapter[logging.Logger] | logging.Logger,
) -> Generator[Page, None, None]:
    """Pages from `token` on, one task each, holding the bucket's slot between window waits.

    The slot is given up while a spent window runs out, so another process can take its
    turn, and taken back just before the reset, so the first request of the new window
    is not late by an acquire's round trip.
    """
    resume_at: float | None = None
    while True:
        if resume_at is not None:
            _sleep_until(resume_at - SLOT_LEAD_S)
        with hold(limit_name):
            if resume_at is not None:
                _sleep_until(resume_at)
                resume_at = None
            while True:
                if not budget.allows(settings.page_size):
                    raise ReadCapReached(
                        f"the run's read cap of {budget.cap} users would be exceeded; "
                        "raise FOLLOWFLOW_MAX_READS_PER_RUN or --max-reads to read on"
                    )
                try:
                    page = _fetch(kind, account, page_no + 1, token, settings.page_size)
                except RateLimited as error:
                    resume_at = _resume_at(error, settings, limit_name, logger)
                    break
                budget.spend(page.result_count)
                page_no, token = page_no + 1, page.next_token
                yield page
                _forget_finished_page_tasks()
                if token is None:
                    return


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
    db = settings.store
    outcome = ListOutcome(account.username, account.id, kind, mode, status="partial")
    principal = client_for(settings, for_writes=False, user_id=account.id).principal
    limit_name = x_limit_name(kind, principal)
    reporter = _ProgressReporter(account, kind, settings.page_size, time.monotonic)
    if mode == "head":
        # A head run stages nothing: it is applied whole at the end, or not at all.
        try:
            _read_head(account, kind, settings, budget, outcome, limit_name, reporter, logger)
        except (XAPIError, ReadCapReached, StoreError) as error:
            outcome.status, outcome.error = _failure(error)
        reporter.update(outcome.pages, outcome.users_read, finished=True)
        return outcome
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
        _read_full(
            account, kind, checkpoint, settings, budget, outcome, limit_name, reporter, logger
        )
    except (XAPIError, ReadCapReached, StoreError) as error:
        outcome.status, outcome.error = _failure(error)
        if outcome.status == "failed":
            store_snapshots.mark_failed(db, checkpoint.snapshot_id, outcome.error)
        else:
            store_snapshots.mark_partial(db, checkpoint.snapshot_id, outcome.error)
    reporter.update(outcome.pages, outcome.users_read, finished=True)
    return outcome


def _forget_finished_page_tasks() -> None:
    """Let go of the page tasks this task has run, and of the pages they returned.

    Prefect keeps each nested task run's transaction, with its return value, on the parent
    task's transaction until the parent ends: for a long read that is every page of users
    in memory (measured: 230 MB after 150 pages; 1,000,000 followers would not fit in
    400 MB). Page tasks persist nothing and have no commit or rollback hooks, so once a
    page is staged its transaction has nothing left to do.
    """
    transaction = get_transaction()
    if transaction is not None:
        transaction.children.clear()


def _read_full(
    account: Account,
    kind: Kind,
    checkpoint: Checkpoint,
    settings: Settings,
    budget: ReadBudget,
    outcome: ListOutcome,
    limit_name: str,
    reporter: _ProgressReporter,
    logger: logging.LoggerAdapter[logging.Logger] | logging.Logger,
) -> None:
    db, snapshot_id = settings.store, checkpoint.snapshot_id
    token, pages, users = checkpoint.next_token, checkpoint.pages_done, checkpoint.users_seen
    while not (pages > 0 and token is None):
        try:
            listing = _pages(account, kind, token, pages, settings, budget, limit_name, logger)
            # The folder stops before a restart, so it cannot stage the old token's pages.
            with BackgroundFolder(db, snapshot_id, FOLD_EVERY_S) as folder:
                for page in listing:
                    outcome.requests += 1
                    store_snapshots.spool_page(
                        db, snapshot_id, pages + 1, page.as_arrow(), page.next_token
                    )
                    pages, users, token = pages + 1, users + page.result_count, page.next_token
                    if token is not None and budget.allows(settings.page_size):
                        _send_ahead(account, kind, token, settings.page_size)
                    outcome.pages, outcome.users_read = pages, users
                    reporter.update(pages, users)
                    folder.check()
        except InvalidPaginationToken:
            logger.warning("@%s %s: X rejected the saved token; restarting", account.username, kind)
            store_snapshots.restart(db, snapshot_id)
            token, pages, users = None, 0, 0
        finally:
            prefetch.drop(kind, account.id)
    diff = store_snapshots.complete(db, snapshot_id)
    _record_diff(diff, outcome, kind)


def _record_diff(diff: SnapshotDiff, outcome: ListOutcome, kind: Kind) -> None:
    outcome.status = "complete"
    outcome.baseline = diff.baseline
    outcome.gained_ids, outcome.lost_ids = diff.gained_ids, diff.lost_ids
    if diff.lost_ids and kind == "followers":
        outcome.lost_reasons = _classify_lost(diff.lost_ids)
        store_events.record_lost_reasons(
            get_settings().store, diff.snapshot_id, outcome.lost_reasons
        )


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


def _read_head(
    account: Account,
    kind: Kind,
    settings: Settings,
    budget: ReadBudget,
    outcome: ListOutcome,
    limit_name: str,
    reporter: _ProgressReporter,
    logger: logging.LoggerAdapter[logging.Logger] | logging.Logger,
) -> None:
    """Read from the newest until known followers appear; record only the new ones."""
    db = settings.store
    new_pages: list[pa.Table] = []
    # Closing the generator early gives the bucket's slot back at once.
    with closing(_pages(account, kind, None, 0, settings, budget, limit_name, logger)) as pages:
        for page in pages:
            outcome.requests += 1
            outcome.pages += 1
            ids = page.user_ids.to_pylist()
            known = store_head.known_followers(db, account.id, ids, kind)
            stop_at = old_followers_start(ids, known)
            fresh = [i for i, user_id in enumerate(ids[:stop_at]) if user_id not in known]
            table = page.as_arrow().take(pa.array(fresh, pa.int64()))
            new_pages.append(table)
            outcome.users_read += table.num_rows
            reporter.update(outcome.pages, outcome.users_read)
            if stop_at < len(ids):
                break
    new_users = pa.concat_tables(new_pages) if new_pages else []
    diff = store_head.apply_head(db, account.id, new_users, kind)
    outcome.snapshot_id = diff.snapshot_id
    _record_diff(diff, outcome, kind)
