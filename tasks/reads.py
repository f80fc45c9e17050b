"""The read endpoints: listing pages, and Prefect tasks for lookups and me.

A listing's pages are plain calls, read many to a task run (page_runs.py); lookups and
me are a task each. Retries re-run a task only for transient errors; a spent 15-minute
window is not retried here but handed to the listing, which waits outside the bucket's
concurrency slot. Reads are never cached: a snapshot must see X as it is now.
"""

from __future__ import annotations

from collections.abc import Sequence

from followflow.settings import get_settings
from followflow.xapi.models import Kind, LookupResult, Page, User
from tasks import prefetch
from tasks.clients import client_for
from tasks.retry import read_task


def request_page(kind: Kind, account_id: int, token: str | None, *, page_size: int) -> Page:
    """Send the request for one page of a listing, with the account's read credentials."""
    client = client_for(get_settings(), for_writes=False, user_id=account_id)
    return client.get_page(kind, account_id, max_results=page_size, pagination_token=token)


def fetch_page(kind: Kind, account_id: int, token: str | None, *, page_size: int) -> Page:
    """One page of a listing: the response to a request sent ahead for it, or a new one."""
    sent_ahead = prefetch.take(kind, account_id, token, page_size)
    if sent_ahead is not None:
        return sent_ahead.result()
    return request_page(kind, account_id, token, page_size=page_size)


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
