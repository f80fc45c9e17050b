"""Turning what people type (usernames, @names, ids) into accounts, and checking credentials."""

from __future__ import annotations

from datetime import UTC, datetime

from followflow.settings import Settings, get_settings
from followflow.store.connection import transaction
from followflow.store.users import upsert_users
from followflow.xapi.models import User, users_table
from tasks.clients import client_for
from tasks.listing import Account
from tasks.reads import lookup_usernames, lookup_users


class AccountError(Exception):
    """An account cannot be used: unknown, suspended, or without the credentials needed."""


def resolve_accounts(refs: list[str]) -> tuple[list[Account], dict[str, str]]:
    """Profiles of the accounts named by username or id, and a reason for each one missing."""
    ids = [int(ref) for ref in refs if ref.isdigit()]
    names = [ref for ref in refs if not ref.isdigit()]
    found_users: list[User] = []
    problems: dict[str, str] = {}
    if ids:
        by_id = lookup_users(ids, len(ids))
        found_users += by_id.users
        problems |= _problems(by_id.missing)
    if names:
        by_name = lookup_usernames(names, len(names))
        found_users += by_name.users
        problems |= _problems(by_name.missing)
    found = [_account(u.id, u.username, u.followers_count, u.following_count) for u in found_users]
    remember_profiles(found_users)
    by_key = {str(a.id): a for a in found} | {a.username.lower(): a for a in found}
    accounts = [by_key[ref.lower()] for ref in refs if ref.lower() in by_key]
    return list(dict.fromkeys(accounts)), problems


def remember_profiles(users: list[User]) -> None:
    """Keep the accounts' own profiles in `users`, so reports find them by username."""
    if not users:
        return
    table = users_table([_as_x_json(u) for u in users], _now())
    with transaction(get_settings().store) as con:
        upsert_users(con, table, _now())


def _as_x_json(user: User) -> dict[str, object]:
    """The user as X sends it (metrics nested), the shape `users_table` reads."""
    flat = user.model_dump(mode="json", exclude={"connection_status"})
    metrics = {
        key: flat.pop(key)
        for key in ("followers_count", "following_count", "tweet_count", "listed_count")
    }
    return flat | {"id": str(user.id), "public_metrics": metrics}


def _now() -> datetime:
    return datetime.now(UTC)


def _account(user_id: int, username: str, followers: int | None, following: int | None) -> Account:
    return Account(user_id, username, followers or 0, following or 0)


def _problems(missing: list) -> dict[str, str]:  # type: ignore[type-arg]
    problems: dict[str, str] = {}
    for problem in missing:
        ref = str(problem.value or problem.resource_id)
        if problem.account_state == "suspended":
            problems[ref] = f"{ref}: the account is suspended on X"
        else:
            problems[ref] = f"{ref}: no such account on X (check the spelling)"
    return problems


def resolve_one(ref: str) -> Account:
    """The one account `ref` names, or AccountError saying why not."""
    accounts, problems = resolve_accounts([ref])
    if not accounts:
        raise AccountError(next(iter(problems.values()), f"{ref}: no such account on X"))
    return accounts[0]


def writer_check(settings: Settings, account: Account) -> None:
    """Fail before planning when the credentials cannot act for `account`."""
    principal = client_for(settings, for_writes=True, user_id=account.id).principal
    if principal != f"user-{account.id}":
        raise AccountError(
            f"the configured user credentials belong to {principal}, not @{account.username}; "
            "set FOLLOWFLOW_ACCESS_TOKEN/_SECRET for it or run `followflow auth login`"
        )
