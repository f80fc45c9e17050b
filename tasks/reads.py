"""Prefect tasks for the read endpoints: a followers page, a following page, lookups, me.

Each wraps one client call. Retries re-run the call only for transient errors; a spent
15-minute window is not retried here but handed to the flow, which waits outside the
bucket's concurrency slot. Reads are never cached: a snapshot must see X as it is now.
"""

from __future__ import annotations

from collections.abc import Sequence

from followflow.settings import get_settings
from followflow.xapi.models import Kind, LookupResult, Page, User
from tasks import prefetch
from tasks.clients import client_for
from tasks.retry import read_task


def request_page(
    kind: Kind, account_id: int, token: str | None, *, page_size: int, user_id: int | None
) -> Page:
    """Send the request for one page of a listing (outside any task: see prefetch.py)."""
    settings = get_settings()
    client = client_for(settings, for_writes=False, user_id=user_id)
    return client.get_page(kind, account_id, max_results=page_size, pagination_token=token)


def _fetch_page(
    kind: Kind, account_id: int, token: str | None, *, page_size: int, user_id: int | None
) -> Page:
    sent_ahead = prefetch.take(kind, account_id, token, page_size)
    if sent_ahead is not None:
        return sent_ahead.result()
    return request_page(kind, account_id, token, page_size=page_size, user_id=user_id)


@read_task("followers-page", "followers-page-{page_no}-{account}")
def fetch_followers_page(
    account: str, account_id: int, page_no: int, token: str | None, page_size: int = 1000
) -> Page:
    """One page of who follows `account`, starting at `token` (None: the newest)."""
    return _fetch_page("followers", account_id, token, page_size=page_size, user_id=account_id)


@read_task("following-page", "following-page-{page_no}-{account}")
def fetch_following_page(
    account: str, account_id: int, page_no: int, token: str | None, page_size: int = 1000
) -> Page:
    """One page of whom `account` follows, starting at `token` (None: the newest)."""
    return _fetch_page("following", account_id, token, page_size=page_size, user_id=account_id)


@read_task("lookup-users", "lookup-users-{count}")
def lookup_users(ids: Sequence[int], count: int) -> LookupResult:
    """Profiles of `ids` (batches of 100); the missing come back as problems with reasons."""
    return client_for(get_settings(), for_writes=False).lookup_users(ids)


@read_task("lookup-usernames", "lookup-usernames-{count}")
def lookup_usernames(usernames: Sequence[str], count: int) -> LookupResult:
    """Profiles of `usernames` (batches of 100); the missing come back as problems."""
    return client_for(get_settings(), for_writes=False).lookup_usernames(usernames)


@read_task("me", "me")
def get_me(user_id: int | None = None) -> User:
    """The account the user-context credentials belong to."""
    return client_for(get_settings(), for_writes=True, user_id=user_id).me()
