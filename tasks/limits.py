"""Global concurrency limits: how requests on one X bucket are coordinated across processes.

A limit named `x:<bucket>:<principal>` has one slot. A process holds it while it sends a
run of requests on that bucket, so it always knows the bucket's state from the headers of
its own responses; it releases the slot before sleeping for a window reset, so another
process can take its turn. One slot per bucket, held across many requests, keeps the cost
of Prefect's acquire/release (45-65 ms on a real server) off the per-request path.

Prefect never creates a limit on its own, and `strict=False` silently runs unthrottled
when one is missing, so the project creates its limits and acquires them strictly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.concurrency._asyncio import _discard_cleanup_lease
from prefect.concurrency._leases import maintain_concurrency_lease
from prefect.concurrency._sync import (
    acquire_concurrency_slots_with_lease,
    release_concurrency_slots_with_lease,
)
from prefect.exceptions import ObjectAlreadyExists

from tasks import leases

# How long a crashed holder keeps a slot before the server's lease expires.
SLOT_LEASE_SECONDS = 120.0


def x_limit_name(bucket: str, principal: str) -> str:
    """The global limit guarding one X rate-limit bucket, e.g. `x:followers:user-42`."""
    return f"x:{bucket}:{principal}"


def campaign_limit_name(account_id: int) -> str:
    """The global limit serializing campaigns of one account."""
    return f"campaign:{account_id}"


def ensure_limits(*names: str) -> None:
    """Create one-slot global concurrency limits, idempotently (racing creators included)."""
    with get_client(sync_client=True) as client:
        for name in names:
            try:
                client.upsert_global_concurrency_limit_by_name(name, limit=1)
            except ObjectAlreadyExists:
                pass  # another process created it between our read and our create


@contextmanager
def hold(name: str, *, timeout_s: float | None = None) -> Iterator[None]:
    """Hold the single slot of limit `name`; a missing limit is an error, never a free pass.

    Prefect's `concurrency()` with the lease noted in the journal (leases.py), so a run
    after a crash gets the dead process's slot back at once instead of after the lease.
    """
    leases.release_orphans()
    granted = acquire_concurrency_slots_with_lease(
        [name], 1, timeout_seconds=timeout_s, lease_duration=SLOT_LEASE_SECONDS, strict=True
    )
    note = leases.record(granted.lease_id, name)
    try:
        with maintain_concurrency_lease(
            granted.lease_id, SLOT_LEASE_SECONDS, raise_on_lease_renewal_failure=True
        ):
            yield
    finally:
        release_concurrency_slots_with_lease(granted.lease_id)
        _discard_cleanup_lease(granted.lease_id)
        leases.forget(note)
