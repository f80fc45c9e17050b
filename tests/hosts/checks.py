"""What the many-hosts tests check after runs: the store against the emulator's truth,
the campaign ledger against the emulator's action log, budgets in every window."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import psycopg

from followflow.emulator.state import ActionRecord
from tests.hosts.followflow_hosts import Followflow
from tests.windows import most_in_any_window

LANDED = {"following", "pending_follow"}


def stored(store_url: str, view: str, column: str, account_id: int) -> set[int]:
    """One account's current list in the store (`current_followers`/`current_following`)."""
    with psycopg.connect(store_url) as connection:
        rows = connection.execute(
            f"SELECT {column} FROM {view} WHERE account_id = %s", (account_id,)
        ).fetchall()
    return {row[0] for row in rows}


def assert_lists_exact(followflow: Followflow, user_id: int) -> None:
    """Both stored lists of `user_id` equal the emulator's truth now."""
    truth = followflow.emulator.emulator
    url = followflow.store_url
    assert stored(url, "current_followers", "follower_id", user_id) == set(
        truth.truth_followers(user_id)
    ), f"followers of {user_id}"
    assert stored(url, "current_following", "followed_id", user_id) == set(
        truth.truth_following(user_id)
    ), f"following of {user_id}"


def follows_landed(followflow: Followflow) -> list[ActionRecord]:
    """Every follow the emulator carried out, in order."""
    log = followflow.emulator.emulator.action_log
    return [a for a in log if a.action == "follow" and a.result in LANDED]


def budget_peaks(sent: Sequence[ActionRecord], window_s: float) -> tuple[dict[int, int], int]:
    """The most follows in any window: per account, and for the app."""
    by_account: dict[int, list[float]] = defaultdict(list)
    for action in sent:
        by_account[action.source_id].append(action.at)
    per_user = {src: most_in_any_window(ts, window_s) for src, ts in by_account.items()}
    return per_user, most_in_any_window([a.at for a in sent], window_s)


def followed_twice(sent: Sequence[ActionRecord]) -> list[tuple[int, int]]:
    """(account, target) pairs the emulator saw followed more than once."""
    pairs = Counter((a.source_id, a.target_id) for a in sent)
    return [pair for pair, n in pairs.items() if n > 1]


def ledger_done(store_url: str) -> set[tuple[int, int]]:
    """(account, target) of every follow the store's ledger records as done."""
    with psycopg.connect(store_url) as connection:
        rows = connection.execute(
            "SELECT account_id, target_id FROM actions WHERE action = 'follow' AND status = 'done'"
        ).fetchall()
    return {(row[0], row[1]) for row in rows}
