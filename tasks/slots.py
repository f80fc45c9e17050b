"""Taking and giving back one global concurrency slot, without stalling while the server is busy.

A local Prefect server keeps its state in SQLite and answers 503 when a write collides
with another one: several listings taking their slots at once, or the server's own
task-run recorder. Prefect's client retries a 503 after 2, then 4, then 8 s. Measured in
the ten-accounts run (bench/many_accounts.py), that kept 7 of 10 listings off their free
slots for 2-14 s at the start of the run. The slot calls here go through a client whose
transport sends a request again 50 ms after a 503, doubling to 1 s, with jitter, for up
to 10 s; only then does the 503 reach Prefect's client and its own retries. A 503 is
safe to repeat: the server rolled the transaction back.
"""

from __future__ import annotations

import atexit
import logging
import random
import ssl
import threading
import time
from collections.abc import Sequence
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.settings import (
    PREFECT_API_ENABLE_HTTP2,
    PREFECT_API_SSL_CERT_FILE,
    PREFECT_API_TLS_INSECURE_SKIP_VERIFY,
    PREFECT_API_URL,
)

SERVER_BUSY = 503
SLOT_TAKEN = 423
FIRST_RETRY_S = 0.05
LONGEST_RETRY_S = 1.0
PATIENCE_S = 10.0


class SlotTimeout(TimeoutError):
    """The slot stayed taken by another holder for longer than the caller would wait."""


class LimitMissing(Exception):
    """The global concurrency limit does not exist, so there is no slot to take."""


class ResendWhileBusy(httpx.BaseTransport):
    """Sends a request again, after a short jittered pause, while the server answers 503."""

    def __init__(self, transport: httpx.BaseTransport, patience_s: float = PATIENCE_S) -> None:
        self.transport = transport
        self.patience_s = patience_s

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        delay, give_up_at = FIRST_RETRY_S, time.monotonic() + self.patience_s
        while True:
            response = self.transport.handle_request(request)
            if response.status_code != SERVER_BUSY or time.monotonic() + delay > give_up_at:
                return response
            response.read()
            response.close()
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, LONGEST_RETRY_S)

    def close(self) -> None:
        self.transport.close()


def _tls_verify() -> ssl.SSLContext | bool:
    """The TLS checks Prefect's own client applies to the API (True: httpx's defaults)."""
    if PREFECT_API_TLS_INSECURE_SKIP_VERIFY.value():
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    cert_file = PREFECT_API_SSL_CERT_FILE.value()
    return ssl.create_default_context(cafile=cert_file) if cert_file else True


# One client per API for the life of the process, shared by its threads (httpx's pool is
# thread-safe): a new client costs ~20 ms, a slot call on a kept one ~2 ms.
_clients: dict[str, SyncPrefectClient] = {}
_clients_lock = threading.Lock()


def _client() -> SyncPrefectClient:
    with _clients_lock:
        key = str(PREFECT_API_URL.value())
        client = _clients.get(key)
        if client is None:
            transport = httpx.HTTPTransport(
                verify=_tls_verify(), http2=PREFECT_API_ENABLE_HTTP2.value()
            )
            client = get_client(
                sync_client=True, httpx_settings={"transport": ResendWhileBusy(transport)}
            )
            client.__enter__()  # kept open until the process ends
            _clients[key] = client
        return client


@atexit.register
def _close_clients() -> None:
    # httpcore logs every connection it closes at DEBUG, and by now the log handlers'
    # streams may be closed (pytest's are): that would print a traceback per connection.
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    with _clients_lock:
        for client in _clients.values():
            client.__exit__(None, None, None)
        _clients.clear()


def acquire(names: Sequence[str], lease_s: float, timeout_s: float | None = None) -> UUID:
    """Take the single slot of every limit in `names` under one lease of `lease_s`; returns
    the lease id. All or none: while another holder has any of them, nothing is taken.

    While another holder has a slot, waits as long as the server's Retry-After says and
    asks again, up to `timeout_s` in all (None: for as long as it takes).
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        try:
            response = _client().increment_concurrency_slots_with_lease(
                names=list(names), slots=1, mode="concurrency", lease_duration=lease_s
            )
        except httpx.HTTPStatusError as error:
            if error.response.status_code != SLOT_TAKEN:
                raise
            wait = float(error.response.headers.get("Retry-After", 1.0))
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SlotTimeout(
                        f"a slot of {_named(names)} stayed taken for {timeout_s:g} s"
                    ) from None
                wait = min(wait, left)
            time.sleep(wait)
            continue
        granted = response.json()
        found = {limit["name"] for limit in granted.get("limits", [])}
        missing = [name for name in names if name not in found]
        if missing:
            if granted.get("lease_id"):
                release(UUID(granted["lease_id"]))
            raise LimitMissing(
                f"global concurrency limit {_named(missing)} does not exist; it must be "
                "created (tasks.limits.ensure_limits) before a slot is taken"
            )
        return UUID(granted["lease_id"])


def _named(names: Sequence[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def release(lease_id: UUID) -> None:
    """Give back the slot held under `lease_id`."""
    _client().release_concurrency_slots_with_lease(lease_id)
