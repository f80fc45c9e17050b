"""Reading many short lists in one task run, under one lease for all their slots.

A list that fits in one rate-limit window (a fleet's typical account: a few pages) costs
more in Prefect than in reading when it is a listing of its own: two task runs, a slot
acquire, renewal and release, a live progress artifact, about 80 ms of the Prefect server's
CPU against ~5 ms of X's (bench/fleet.py). Here a `snapshot-short-lists` run reads up to
SHORT_LISTS_PER_RUN of them, SHORT_LISTS_AT_ONCE at a time, each with the same snapshot
lifecycle as a listing of its own (`read_full`: resume, spool, fold, complete or partial),
with one progress artifact for the run (lists read of lists given) instead of one each.

They never wait for a window's reset nor retry inside the run: a list whose window turns
out spent, or that meets a transient error, is handed back with its pages kept, and the
flow reads it on as a listing of its own (`snapshot_list`, with its own slot and retries).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from followflow.settings import get_settings
from followflow.store.errors import StoreError
from tasks.clients import client_for
from tasks.limits import hold, hold_all_if_free, x_limit_name
from tasks.listing import Account, Kind, ListOutcome, ReadBudget
from tasks.listing_progress import ListsProgress, ProgressReporter
from tasks.page_runs import Cursor, HandOver, PageSink, read_within_window
from tasks.snapshot import read_full

# Lists per task run: enough that a fleet's runs are a few dozen, few enough that one
# run's lease does not keep many buckets from other processes for long.
SHORT_LISTS_PER_RUN = 50
# Lists read at once within a run: each waits on X and on the store most of the time.
SHORT_LISTS_AT_ONCE = 8

Listing = tuple[Account, Kind]


def short_list_runs(listings: list[Listing]) -> list[list[Listing]]:
    """`listings` dealt into runs of at most SHORT_LISTS_PER_RUN, in the order given."""
    size = SHORT_LISTS_PER_RUN
    return [listings[start : start + size] for start in range(0, len(listings), size)]


@dataclass
class ShortListsRead:
    """What a run of short lists ended with: an outcome per list read, and the lists
    handed back to be read on as listings of their own."""

    outcomes: list[ListOutcome] = field(default_factory=list)
    handed_over: list[Listing] = field(default_factory=list)


@task(
    name="snapshot-short-lists",
    task_run_name="snapshot {count} short lists from @{first}",
    cache_policy=NO_CACHE,
)
def snapshot_short_lists(
    listings: list[Listing], budget: ReadBudget, count: int, first: str
) -> ShortListsRead:
    """Read lists that each fit in one window, full mode, under one lease for all their
    slots (each its own slot if any is held elsewhere); `count` and `first` name the run."""
    settings = get_settings()
    names = [
        x_limit_name(kind, client_for(settings, for_writes=False, user_id=account.id).principal)
        for account, kind in listings
    ]
    read = ShortListsRead()
    progress = ListsProgress(
        len(listings), f"short lists read of {count}, from @{first}", time.monotonic
    )
    with hold_all_if_free(names) as held_here:
        buckets = _Buckets(names, held_here)
        context = contextvars.copy_context()
        with ThreadPoolExecutor(SHORT_LISTS_AT_ONCE, thread_name_prefix="short-list") as pool:
            # Each thread reads in a copy of the task run's context, where Prefect's logger
            # finds its run; the artifact is updated from this thread, whose API client
            # Prefect reuses (from another thread, its update opened a client of its own).
            reading = {
                pool.submit(context.copy().run, _read_short, listing, name, budget, buckets): (
                    listing
                )
                for listing, name in zip(listings, names, strict=True)
            }
            for future in as_completed(reading):
                outcome = future.result()
                if outcome is None:
                    read.handed_over.append(reading[future])
                else:
                    read.outcomes.append(outcome)
                progress.list_ended()
    return read


def _read_short(
    listing: Listing, limit_name: str, budget: ReadBudget, buckets: _Buckets
) -> ListOutcome | None:
    """One list within its window; None when it is handed over."""
    account, kind = listing
    settings = get_settings()
    logger = get_run_logger()
    reporter = ProgressReporter(account, kind, settings.page_size, time.monotonic, detailed=False)

    def read(cursor: Cursor, keep: PageSink) -> None:
        with buckets.turn(limit_name):
            read_within_window(account, kind, cursor, keep, settings=settings, budget=budget)

    try:
        return read_full(account, kind, "full", read, reporter, logger)
    except HandOver as reason:
        logger.info("%s: reading on as a listing of its own", reason)
        return None
    except StoreError as error:  # the snapshot could not even start: the others go on
        failed = ListOutcome(account.username, account.id, kind, "full", status="partial")
        failed.error = f"{type(error).__name__}: {error}"
        return failed


class _Buckets:
    """When a list may send on its bucket. Under the run's lease (one slot per bucket, as a
    listing of its own holds), lists sharing a bucket (reads with the app's token) take
    turns within the run, or together they would overspend its window; without the
    lease, each list holds its bucket's slot."""

    def __init__(self, names: list[str], held_here: bool) -> None:
        self.held_here = held_here
        self._turns = {name: threading.Lock() for name in names}

    @contextmanager
    def turn(self, limit_name: str) -> Iterator[None]:
        if not self.held_here:
            with hold(limit_name):
                yield
            return
        with self._turns[limit_name]:
            yield
