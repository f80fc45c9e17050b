"""Prefect tasks for the write endpoints (follow, unfollow) and the relation check after a crash.

Actions are never cached and never retried by Prefect: re-sending a follow whose first
attempt may have landed is exactly what the ledger exists to prevent. An ambiguous failure
is settled by asking X about the relationship (`relationships`) instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.cache_policies import NO_CACHE

from followflow.settings import get_settings
from followflow.xapi.models import DEFAULT_USER_FIELDS, FollowResult, UnfollowResult
from tasks.clients import client_for
from tasks.retry import read_task


@task(
    name="follow", task_run_name="follow-{target_id}-by-{account}", retries=0, cache_policy=NO_CACHE
)
def follow_user(account: str, account_id: int, target_id: int) -> FollowResult:
    """Follow `target_id` as `account` (needs user-context credentials for that account)."""
    return client_for(get_settings(), for_writes=True, user_id=account_id).follow(
        account_id, target_id
    )


@task(
    name="unfollow",
    task_run_name="unfollow-{target_id}-by-{account}",
    retries=0,
    cache_policy=NO_CACHE,
)
def unfollow_user(account: str, account_id: int, target_id: int) -> UnfollowResult:
    """Unfollow `target_id` as `account` (needs user-context credentials for that account)."""
    return client_for(get_settings(), for_writes=True, user_id=account_id).unfollow(
        account_id, target_id
    )


@read_task("relationships", "relationships-{account}-{count}")
def relationships(
    account: str, account_id: int, target_ids: Sequence[int], count: int
) -> dict[int, tuple[str, ...]]:
    """How `account` relates to each target now (X's `connection_status`), by user id."""
    client = client_for(get_settings(), for_writes=True, user_id=account_id)
    result = client.lookup_users(
        target_ids, user_fields=(*DEFAULT_USER_FIELDS, "connection_status")
    )
    return {user.id: user.connection_status for user in result.users}
