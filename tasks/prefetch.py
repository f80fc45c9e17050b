"""The request for a listing's next page, sent while the current page is still processed.

A listing spends about 5 ms a page waiting for X and about as long again spooling,
reporting and folding the page it has; sending the next request as soon as the current
page is safe on disk lets the two overlap. The next `fetch_page` then takes the response
waiting for it instead of sending its own request, so the task run reading the page
still owns it: its retries re-send the request, and its failure is the page's failure.

Only a page that is already spooled starts the next request, so a crash still loses at
most one fetched page. Head reads do not prefetch: they stop at the first known follower,
and a request sent ahead would be a read paid for and thrown away.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from followflow.xapi.models import Kind, Page

Key = tuple[Kind, int, str, int]

# One request ahead per listing, and as many listings as the snapshot flow runs at once
# (flows/snapshot_followers.py: MAX_LISTINGS); threads start only when needed.
_pool = ThreadPoolExecutor(max_workers=200, thread_name_prefix="prefetch")
_ahead: dict[Key, Future[Page]] = {}
_guard = threading.Lock()


def start(
    kind: Kind, account_id: int, token: str, page_size: int, fetch: Callable[[], Page]
) -> None:
    """Send the request for the page at `token` now; `take` collects the response."""
    future = _pool.submit(fetch)
    with _guard:
        _ahead[(kind, account_id, token, page_size)] = future


def take(kind: Kind, account_id: int, token: str | None, page_size: int) -> Future[Page] | None:
    """The request already sent for the page at `token`, if any (each is taken once)."""
    if token is None:
        return None
    with _guard:
        return _ahead.pop((kind, account_id, token, page_size), None)


def drop(kind: Kind, account_id: int) -> None:
    """Forget the requests sent ahead for a listing that has ended."""
    with _guard:
        for key in [k for k in _ahead if k[:2] == (kind, account_id)]:
            del _ahead[key]
