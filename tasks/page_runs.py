"""Reading a listing's pages in a few Prefect task runs, within the bucket's rate limit.

One task run (`read-pages`, named e.g. `read followers of @ff_million: pages 1-300`) reads
a stretch of pages: until the window is spent, the listing ends, or PAGES_PER_RUN pages.
A task run per page made the Prefect server record 1,000 runs for a 1,000,000-follower
listing, about 23 s of its CPU on two cores: more than a bare tweepy loop needs to read
the whole list (BENCHMARKS.md). Under X's limits a run is one window's pages (15 on the
default preset); with limits off a few runs read the whole listing.

The listing holds its bucket's global concurrency slot across runs, gives it up while a
spent window runs out (so another process can take its turn) and takes it back just
before the reset. A `Cursor` is the resume point: it moves only once a page's consumer
has kept it, so a run that Prefect retries after a transient error starts at the first
page not kept, never re-reading one. A transient error after some pages ends the run
early instead, and the next run starts at once with a fresh retry budget: a long run
must not fail on its third unrelated hiccup when a page each would have survived it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from prefect import task
from prefect.cache_policies import NO_CACHE

from followflow.settings import Settings
from followflow.xapi.errors import RateLimited, XAPIError
from followflow.xapi.models import Page
from followflow.xapi.ratelimit import RateLimit
from tasks import prefetch
from tasks.clients import client_for
from tasks.limits import hold
from tasks.listing import Account, Kind, ReadBudget
from tasks.reads import fetch_page, request_page
from tasks.retry import RETRY_DELAYS_S, is_transient, retry_transient

# The most pages one task run reads: a window's worth on X's most generous read preset
# (300 requests per 15 minutes), so under any limit a run is at most one window. With
# limits off that is ~4 s of reading (quiet machine) and 5 runs for 1,000,000 followers
# (BENCHMARKS.md): the server's cost per run (~23-40 ms of CPU) and the caller's
# (~5-16 ms) no longer count, and the UI shows a listing as a handful of runs.
PAGES_PER_RUN = 300
# How long before a window's reset a waiting listing takes its bucket's slot back
# (an acquire costs ~26 ms on a local server, with rare longer stalls).
SLOT_LEAD_S = 0.5

Logger = logging.LoggerAdapter[logging.Logger] | logging.Logger
# Keeps one page (spools, applies, reports it) and says whether to read on.
PageSink = Callable[[int, Page], bool]


class Cursor:
    """Where a listing stands: the pages kept so far and the token of the next one.

    Shared by reference with the task runs that move it (a plain class: Prefect passes it
    through untouched), so a retried run resumes where its failed attempt stopped.
    """

    def __init__(self, pages: int = 0, token: str | None = None) -> None:
        self.pages, self.token = pages, token

    @property
    def finished(self) -> bool:
        return self.pages > 0 and self.token is None


@dataclass(frozen=True)
class RunEnd:
    """Why a task run stopped reading; `error` is the 429 or the transient error."""

    reason: Literal[
        "listing ended", "sink stopped", "read cap", "window spent", "page limit", "interrupted"
    ]
    error: XAPIError | None = None


@task(
    name="read-pages",
    task_run_name="read {kind} of @{username}: pages {first}-{last}",
    retries=len(RETRY_DELAYS_S),
    retry_delay_seconds=RETRY_DELAYS_S,
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
)
def read_pages(
    kind: Kind,
    username: str,
    first: int,
    last: int,
    *,
    account: Account,
    cursor: Cursor,
    page_size: int,
    budget: ReadBudget,
    keep: PageSink,
    send_ahead: bool,
) -> RunEnd:
    """Read pages `first` to at most `last` of a listing from `cursor`, keeping each."""
    start = cursor.pages
    while cursor.pages < last:
        if not budget.allows(page_size):
            return RunEnd("read cap")
        try:
            page = fetch_page(kind, account.id, cursor.token, page_size=page_size)
        except RateLimited as error:
            return RunEnd("window spent", error)
        except XAPIError as error:
            if is_transient(error) and cursor.pages > start:
                return RunEnd("interrupted", error)
            raise
        budget.spend(page.result_count)
        reading_on = keep(cursor.pages + 1, page)
        cursor.pages, cursor.token = cursor.pages + 1, page.next_token
        if cursor.token is None:
            return RunEnd("listing ended")
        if not reading_on:
            return RunEnd("sink stopped")
        # Not past the run's last page: the next run may start only after a window's
        # reset, and a response fetched for it now would be a stale refusal by then.
        if send_ahead and cursor.pages < last and budget.allows(page_size):
            _send_ahead(kind, account, cursor.token, page_size)
    return RunEnd("page limit")


def _send_ahead(kind: Kind, account: Account, token: str, size: int) -> None:
    """Request the page at `token` now; the next `fetch_page` picks the response up."""
    prefetch.start(
        kind, account.id, token, size, lambda: request_page(kind, account.id, token, page_size=size)
    )


def _next_run(
    read: Callable[..., RunEnd],
    account: Account,
    kind: Kind,
    cursor: Cursor,
    keep: PageSink,
    settings: Settings,
    budget: ReadBudget,
    send_ahead: bool,
) -> RunEnd:
    """The next run's pages from `cursor`, by `read`: `read_pages` as a task run of its own,
    or its plain function inside a caller's task run."""
    first = cursor.pages + 1
    last = cursor.pages + _pages_this_run(account, kind, cursor, settings)
    return read(
        kind,
        account.username,
        first,
        last,
        account=account,
        cursor=cursor,
        page_size=settings.page_size,
        budget=budget,
        keep=keep,
        send_ahead=send_ahead,
    )


def _window(account: Account, kind: Kind, settings: Settings) -> RateLimit | None:
    """The bucket's window as this process's last response on it reported it."""
    client = client_for(settings, for_writes=False, user_id=account.id)
    return client.rate_limits.get(client.bucket(kind))


def _pages_this_run(account: Account, kind: Kind, cursor: Cursor, settings: Settings) -> int:
    """How many pages the next run reads at most: the window's rest, the listing's rest
    (from the profile's count, which churn can make wrong) and PAGES_PER_RUN.

    Bounded by the window, a run's name says which pages it reads. Before any response
    on the bucket has told the window, the configured reads per window stand in for it.
    """
    window = _window(account, kind, settings)
    if window is None:
        allowance: int | None = settings.reads_per_window
    else:
        reset_passed = window.reset_at is not None and window.reset_at <= time.time()
        allowance = window.limit if reset_passed else window.remaining
    pages = min(PAGES_PER_RUN, allowance) if allowance else PAGES_PER_RUN
    pages_left = -(-account.expected(kind) // settings.page_size) - cursor.pages
    return min(pages, pages_left) if pages_left > 0 else pages


def _resume_at(
    reset_at: float | None, settings: Settings, limit_name: str, logger: Logger
) -> float | None:
    """When to send again after a spent window; None when that is too far away to wait."""
    reset_at = reset_at if reset_at is not None else time.time() + 60
    wait = max(0.0, reset_at - time.time()) + settings.rate_limit_margin_s
    if wait > settings.max_rate_limit_wait_s:
        return None
    logger.info(
        "%s: window spent; waiting %.1f s for the reset at %s",
        limit_name,
        wait,
        datetime.fromtimestamp(reset_at, UTC).strftime("%H:%M:%S"),
    )
    return time.time() + wait


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def read_listing(
    account: Account,
    kind: Kind,
    cursor: Cursor,
    keep: PageSink,
    *,
    settings: Settings,
    budget: ReadBudget,
    limit_name: str,
    send_ahead: bool,
    logger: Logger,
) -> None:
    """Read from `cursor` until the listing ends or `keep` stops it, run after run.

    Raises ReadCapReached when the run's cap cannot pay the next page, the XAPIError a
    run could not get past, and whatever `keep` raises.
    """
    resume_at: float | None = None
    while True:
        if resume_at is not None:
            _sleep_until(resume_at - SLOT_LEAD_S)
        with hold(limit_name):
            if resume_at is not None:
                _sleep_until(resume_at)
                resume_at = None
            while resume_at is None:
                window = _window(account, kind, settings)
                if window is not None and window.exhausted(time.time()):
                    # Known spent: wait without a run (one that cannot wait raises below).
                    resume_at = _resume_at(window.reset_at, settings, limit_name, logger)
                    if resume_at is not None:
                        break
                end = _next_run(
                    read_pages, account, kind, cursor, keep, settings, budget, send_ahead
                )
                if end.reason in ("listing ended", "sink stopped"):
                    return
                if end.reason == "read cap":
                    raise budget.exceeded()
                if isinstance(end.error, RateLimited):
                    resume_at = _resume_at(end.error.reset_at, settings, limit_name, logger)
                    if resume_at is None:
                        raise end.error
                elif end.error is not None:
                    logger.warning(
                        "@%s %s: page %d failed (%s); reading on from there",
                        account.username,
                        kind,
                        cursor.pages + 1,
                        type(end.error).__name__,
                    )


class HandOver(Exception):
    """A listing read within a window it shares with others could not finish there: the
    window was spent, or a transient error came. Its pages so far are kept (the snapshot
    stays open at its checkpoint); it goes on as a listing of its own, with its own slot,
    window waits and retries."""


def read_within_window(
    account: Account,
    kind: Kind,
    cursor: Cursor,
    keep: PageSink,
    *,
    settings: Settings,
    budget: ReadBudget,
) -> None:
    """Read from `cursor` to the listing's end in one go, as a plain call, while the
    caller holds the bucket's slot (tasks/short_lists.py).

    Raises HandOver instead of waiting for a window's reset or retrying, ReadCapReached
    when the run's cap cannot pay the next page, and the XAPIError of a hard failure.
    """
    window = _window(account, kind, settings)
    if window is not None and window.exhausted(time.time()):
        raise HandOver(f"@{account.username} {kind}: window spent")
    try:
        end = _next_run(read_pages.fn, account, kind, cursor, keep, settings, budget, True)
    except XAPIError as error:
        if is_transient(error):
            raise HandOver(f"@{account.username} {kind}: {type(error).__name__}") from error
        raise
    if end.reason in ("listing ended", "sink stopped"):
        return
    if end.reason == "read cap":
        raise budget.exceeded()
    raise HandOver(f"@{account.username} {kind}: {end.reason} after page {cursor.pages}")
