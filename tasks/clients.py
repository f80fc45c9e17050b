"""One XClient per principal per process, so rate-limit state learned from headers is shared.

Two tasks reading with the same token in one process must see the same bucket state, or
the second sends a request the first already knows would be refused.
"""

from __future__ import annotations

import threading

from followflow.settings import Settings
from followflow.xapi.auth import XAuth, auth_from_settings
from followflow.xapi.client import XClient

_clients: dict[tuple[str, str], XClient] = {}
_guard = threading.Lock()


def client_for(settings: Settings, *, for_writes: bool, user_id: int | None = None) -> XClient:
    """The process-wide client for the credentials Settings give this account and purpose."""
    user_context = for_writes or (settings.read_with_user_tokens and user_id is not None)
    auth: XAuth = auth_from_settings(settings, user_context, user_id=user_id)
    key = (settings.x_base_url, auth.principal)
    with _guard:
        client = _clients.get(key)
        if client is None:
            client = XClient(
                settings.x_base_url,
                auth,
                max_retries=settings.max_retries,
                backoff_base_s=settings.backoff_base_s,
                backoff_max_s=settings.backoff_max_s,
                # Waits for a window reset happen in the flow, outside the bucket's
                # concurrency slot, so other processes can use the bucket meanwhile.
                max_rate_limit_wait_s=0.0,
                timeout_s=settings.request_timeout_s,
            )
            _clients[key] = client
        return client


def forget_clients() -> None:
    """Close and drop every cached client (tests, and after settings change)."""
    with _guard:
        for client in _clients.values():
            client.close()
        _clients.clear()
