"""One XClient per principal per process, so rate-limit state learned from headers is shared.

Two tasks reading with the same token in one process must see the same bucket state, or
the second sends a request the first already knows would be refused.

OAuth 2.0 tokens in a Prefect Secret block are shared by every host, so the block is
changed only while holding the one slot of the global limit `tokens:<block>`: measured
without it (tests/reliability/test_token_race.py), two hosts refreshing one account at
once both spent its refresh token, and the emulator refused the second, as X does.
"""

from __future__ import annotations

import threading

import httpx

from followflow.settings import Settings
from followflow.xapi.auth import XAuth, auth_from_settings
from followflow.xapi.client import XClient
from followflow.xapi.tokens import SecretBlockTokenStore, TokenStore
from tasks.limits import ensure_limits, hold

_clients: dict[tuple[str, str], XClient] = {}
# The client each (settings, purpose, account) got, so asking again skips building its
# auth: for tokens in a Secret block that is a read of the whole block (every account's
# tokens) from the Prefect server. A fleet of 500 accounts asked twice per listing, 2,000
# reads of a 500-account block in one run, and the server ran out of database connections.
# The settings object is kept with its client, so its id cannot be reused by another.
_asked: dict[tuple[int, bool, int | None], tuple[Settings, XClient]] = {}
_block_stores: dict[str, SecretBlockTokenStore] = {}
# One connection pool for every client of the process: a client of its own costs ~23 ms of
# CPU to make (httpx loads the CA bundle for every new pool), and a run reading 200
# accounts with their own tokens made 200 of them before its first read.
_transport: httpx.HTTPTransport | None = None
_guard = threading.Lock()


def token_limit_name(block_name: str) -> str:
    """The global limit that hosts sharing the token block `block_name` take turns on."""
    return f"tokens:{block_name}"


def _token_store(settings: Settings) -> TokenStore | None:
    """The Secret block store, locked across hosts; None means the settings' own (a file)."""
    block = settings.token_store_block
    if not block:
        return None
    with _guard:
        store = _block_stores.get(block)
        if store is None:
            name = token_limit_name(block)
            ensure_limits(name)
            store = SecretBlockTokenStore(block, lock=lambda: hold(name))
            _block_stores[block] = store
        return store


def client_for(settings: Settings, *, for_writes: bool, user_id: int | None = None) -> XClient:
    """The process-wide client for the credentials Settings give this account and purpose."""
    user_context = for_writes or (settings.read_with_user_tokens and user_id is not None)
    asked = (id(settings), user_context, user_id if user_context else None)
    with _guard:
        known = _asked.get(asked)
        if known is not None and known[0] is settings:
            return known[1]
    auth: XAuth = auth_from_settings(
        settings, user_context, user_id=user_id, store=_token_store(settings)
    )
    key = (settings.x_base_url, auth.principal)
    with _guard:
        client = _clients.get(key)
        if client is None:
            client = XClient(
                settings.x_base_url,
                auth,
                transport=_shared_transport(),
                max_retries=settings.max_retries,
                backoff_base_s=settings.backoff_base_s,
                backoff_max_s=settings.backoff_max_s,
                # Waits for a window reset happen in the flow, outside the bucket's
                # concurrency slot, so other processes can use the bucket meanwhile.
                max_rate_limit_wait_s=0.0,
                timeout_s=settings.request_timeout_s,
            )
            _clients[key] = client
        _asked[asked] = (settings, client)
        return client


def _shared_transport() -> httpx.HTTPTransport:
    global _transport
    if _transport is None:
        _transport = httpx.HTTPTransport()
    return _transport


def forget_clients() -> None:
    """Close and drop every cached client (tests, and after settings change)."""
    global _transport
    with _guard:
        for client in _clients.values():
            client.close()
        _clients.clear()
        _transport = None
        _asked.clear()
        _block_stores.clear()
