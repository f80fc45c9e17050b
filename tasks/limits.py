"""Global concurrency limits: how requests on one X bucket are coordinated across processes.

A limit named `x:<bucket>:<principal>` has one slot. A process holds it while it sends a
run of requests on that bucket, so it always knows the bucket's state from the headers of
its own responses; it releases the slot before sleeping for a window reset, so another
process can take its turn. One slot per bucket, held across many requests, keeps the cost
of an acquire and release (~26 ms on a local server, bench/prefect_overhead.py) off the
per-request path.

Prefect never creates a limit on its own, and its `concurrency(strict=False)` silently
runs unthrottled when one is missing, so the project creates its limits and taking a slot
of a missing one is an error (slots.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.client.schemas.responses import GlobalConcurrencyLimitResponse
from prefect.concurrency._leases import maintain_concurrency_lease
from prefect.exceptions import ObjectAlreadyExists

from tasks import leases, slots

# How long a crashed holder keeps a slot before the server's lease expires.
SLOT_LEASE_SECONDS = 120.0
# Most slots a run takes ahead. A slot taken ahead is not renewed until its listing starts;
# a run of 84 accounts (168 listings, bench/fleet.py, load 8) took its slots for minutes,
# the first leases expired (410 Gone on renewal) and the runs crashed. The first ones are
# the largest listings, the ones whose start decides the run's length.
TAKE_AHEAD_MAX = 20
# The most limits the Prefect server lists in one answer (PREFECT_SERVER_API_DEFAULT_LIMIT),
# and how many missing ones are created at once (one client, httpx's pool is thread-safe).
LIMITS_PAGE = 200
CREATING_AT_ONCE = 8


def x_limit_name(bucket: str, principal: str) -> str:
    """The global limit guarding one X rate-limit bucket, e.g. `x:followers:user-42`."""
    return f"x:{bucket}:{principal}"


def campaign_limit_name(account_id: int) -> str:
    """The global limit serializing campaigns of one account."""
    return f"campaign:{account_id}"


def ensure_limits(*names: str) -> None:
    """Create one-slot global concurrency limits, idempotently (racing creators included).

    The limits there are read in pages of LIMITS_PAGE first, and only the missing ones are
    created, CREATING_AT_ONCE at a time: a run of 100 accounts names 200 limits, and asking
    for each by name, then creating it, was 400 requests in a row before its first read.
    """
    wanted = dict.fromkeys(names)
    if not wanted:
        return
    with get_client(sync_client=True) as client:
        existing = {limit.name: limit.limit for limit in _all_limits(client)}

        def create(name: str) -> None:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1)
                )
            except ObjectAlreadyExists:
                pass  # another process created it between our read and our create

        missing = [name for name in wanted if name not in existing]
        with ThreadPoolExecutor(CREATING_AT_ONCE, thread_name_prefix="limits") as pool:
            list(pool.map(create, missing))  # list(): a failed create raises here
        for name in wanted:
            if name in existing and existing[name] != 1:
                client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=1))


def _all_limits(client: SyncPrefectClient) -> Iterator[GlobalConcurrencyLimitResponse]:
    offset = 0
    while True:
        page = client.read_global_concurrency_limits(limit=LIMITS_PAGE, offset=offset)
        yield from page
        if len(page) < LIMITS_PAGE:
            return
        offset += len(page)


@dataclass(frozen=True)
class _Held:
    lease_id: UUID
    note: Path | None  # the journal entry (leases.py)


# Slots a flow took for its listings just before starting them (`taken_ahead`), by name.
_ahead: dict[str, _Held] = {}
_ahead_lock = threading.Lock()


def _take(names: Sequence[str], timeout_s: float | None) -> _Held:
    lease_id = slots.acquire(names, SLOT_LEASE_SECONDS, timeout_s)
    return _Held(lease_id, leases.record(lease_id, " ".join(names)))


def _give_back(held: _Held) -> None:
    slots.release(held.lease_id)
    leases.forget(held.note)


@contextmanager
def taken_ahead(names: Iterable[str]) -> Iterator[None]:
    """Take the free slots of `names` now, in order, for the listings the block starts.

    Listings starting together took their slots at the same moment and their writes
    collided in the Prefect server's SQLite (503s, retried): in the ten-accounts run the
    last listing got its slot 1.9 s after the first. Taken one after another before the
    tasks exist, the largest listing's first, they are ready when the listings start.
    A slot another process holds is left for its listing to wait for in `hold`, and so are
    the slots past the first TAKE_AHEAD_MAX; slots no listing used are given back when the
    block ends.
    """
    leases.release_orphans()
    mine: dict[str, _Held] = {}
    try:
        for name in list(dict.fromkeys(names))[:TAKE_AHEAD_MAX]:
            try:
                held = _take([name], timeout_s=0)
            except slots.SlotTimeout:
                continue
            mine[name] = held
            with _ahead_lock:
                _ahead[name] = held
        yield
    finally:
        with _ahead_lock:
            unused = [_ahead.pop(name) for name, held in mine.items() if _ahead.get(name) == held]
        for held in unused:
            _give_back(held)


@contextmanager
def hold(name: str, *, timeout_s: float | None = None) -> Iterator[None]:
    """Hold the single slot of limit `name`; a missing limit is an error, never a free pass.

    Uses the slot if `taken_ahead` took it for this listing, else takes it, waiting while
    another holder has it (`slots.SlotTimeout` past `timeout_s`). The lease is renewed
    while held and noted in the journal (leases.py), so a run after a crash gets the dead
    process's slot back at once instead of after the lease.
    """
    with _ahead_lock:
        held = _ahead.pop(name, None)
    if held is None:
        leases.release_orphans()
        held = _take([name], timeout_s)
    with _kept(held):
        yield


@contextmanager
def hold_all_if_free(names: Sequence[str]) -> Iterator[bool]:
    """Hold the slots of every limit in `names` under one lease, if all are free now.

    Yields True while they are held (one acquire, one renewal loop and one release for
    all of them, where a `hold` each costs ~13 ms of the Prefect server's CPU: a fleet's
    thousand small listings spent more on their slots than on reading), or False, holding
    none, when another holder has any of them.
    """
    leases.release_orphans()
    try:
        held = _take(list(dict.fromkeys(names)), timeout_s=0)
    except slots.SlotTimeout:
        yield False
        return
    with _kept(held):
        yield True


@contextmanager
def _kept(held: _Held) -> Iterator[None]:
    """Renew `held` while the block runs, and give it back at the end."""
    try:
        with maintain_concurrency_lease(
            held.lease_id, SLOT_LEASE_SECONDS, raise_on_lease_renewal_failure=True
        ):
            yield
    finally:
        _give_back(held)
