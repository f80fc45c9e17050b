"""What the ledger's rolling 24-hour window has spent, and what X has parked.

A budget's use is the count of `reserved` + `done` rows in the window (failed rows never
count); a row's time in the window is `completed_at` when set (the request was sent
before it) and `reserved_at` otherwise, so a slow request never leaves the window early.
`budget_state` holds the parks: a budget X said is spent, until its reset.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from followflow.campaigns.budgets import Budgets, Instant, as_utc
from followflow.campaigns.ledger_sql import begin, first, one, rollback
from followflow.store.dialect import Connection

log = logging.getLogger(__name__)

Action = Literal["follow", "unfollow"]
Scope = Literal["user", "app", "parked"]


@dataclass(frozen=True)
class BudgetExhausted:
    """No room for this action until `reset_at` (None: a budget of 0 never frees up)."""

    action: Action
    scope: Scope
    used: int
    limit: int
    reset_at: datetime | None
    source: str | None = None


@dataclass(frozen=True)
class BudgetLine:
    """One budget's use over the current window."""

    action: Action
    scope: Literal["user", "app"]
    used: int
    limit: int
    parked_until: datetime | None
    next_reset: datetime | None

    @property
    def left(self) -> int:
        """Actions this budget still allows now (0 while parked)."""
        return 0 if self.parked_until is not None else max(self.limit - self.used, 0)


@dataclass(frozen=True)
class BudgetStatus:
    """The three budgets of one account on one app at `at`."""

    at: datetime
    user_follows: BudgetLine
    app_follows: BudgetLine
    app_unfollows: BudgetLine

    @property
    def follows_left(self) -> int:
        """Follows the account may still send now."""
        return min(self.user_follows.left, self.app_follows.left)

    @property
    def unfollows_left(self) -> int:
        """Unfollows the account may still send now."""
        return self.app_unfollows.left

    def lines(self) -> tuple[BudgetLine, BudgetLine, BudgetLine]:
        """The three lines, for tables."""
        return (self.user_follows, self.app_follows, self.app_unfollows)


def spent(
    con: Connection,
    app_id: str,
    account_id: int,
    action: Action,
    at: datetime,
    budgets: Budgets,
) -> BudgetExhausted | None:
    parked = _parked(con, app_id, account_id, action, at)
    if parked is not None:
        reset_at, source = parked
        return BudgetExhausted(action, "parked", 0, 0, reset_at, source)
    for line in _lines(con, app_id, account_id, action, at, budgets):
        if line.used >= line.limit:
            reset = _reset_at(con, app_id, account_id, action, line, at, budgets)
            return BudgetExhausted(action, line.scope, line.used, line.limit, reset)
    return None


def _limits(action: Action, budgets: Budgets) -> list[tuple[Literal["user", "app"], int]]:
    if action == "follow":
        return [
            ("user", budgets.follow_budget_per_user),
            ("app", budgets.follow_budget_per_app),
        ]
    return [("app", budgets.unfollow_budget_per_app)]


_IN_WINDOW = """status IN ('reserved', 'done') AND action = ?
                AND coalesce(completed_at, reserved_at) > ?"""


def _scope_filter(scope: Literal["user", "app"]) -> str:
    # X's per-user cap counts the account's follows through any app.
    return "account_id = ?" if scope == "user" else "app_id = ?"


def _lines(
    con: Connection,
    app_id: str,
    account_id: int,
    action: Action,
    at: datetime,
    budgets: Budgets,
) -> list[BudgetLine]:
    since = at - timedelta(seconds=budgets.window_s)
    (user_used, app_used) = one(
        con.execute(
            f"""SELECT count(*) FILTER (WHERE account_id = ?),
                       count(*) FILTER (WHERE app_id = ?)
                FROM actions WHERE {_IN_WINDOW}""",
            [account_id, app_id, action, since],
        )
    )
    used = {"user": int(user_used), "app": int(app_used)}
    return [
        BudgetLine(action, scope, used[scope], limit, None, None)
        for scope, limit in _limits(action, budgets)
    ]


def _reset_at(
    con: Connection,
    app_id: str,
    account_id: int,
    action: Action,
    line: BudgetLine,
    at: datetime,
    budgets: Budgets,
) -> datetime | None:
    """When enough rows leave the window for one more action (None: nothing ever will)."""
    if line.used < line.limit or line.used == 0:
        return None
    since = at - timedelta(seconds=budgets.window_s)
    owner = account_id if line.scope == "user" else app_id
    row = first(
        con.execute(
            f"""SELECT coalesce(completed_at, reserved_at) AS t FROM actions
            WHERE {_IN_WINDOW} AND {_scope_filter(line.scope)}
            ORDER BY t LIMIT 1 OFFSET ?""",
            [action, since, owner, line.used - line.limit],
        )
    )
    if row is None:
        return None
    ages_out: datetime = row[0] + timedelta(seconds=budgets.window_s)
    return as_utc(ages_out)


def _parked(
    con: Connection, app_id: str, account_id: int, action: Action, at: datetime
) -> tuple[datetime, str] | None:
    row = first(
        con.execute(
            """SELECT reset_at, source FROM budget_state
           WHERE app_id = ? AND action = ? AND (account_id = ? OR account_id IS NULL)
             AND reset_at > ?
           ORDER BY reset_at DESC LIMIT 1""",
            [app_id, action, account_id, at],
        )
    )
    return None if row is None else (as_utc(row[0]), str(row[1]))


def park(
    con: Connection,
    app_id: str,
    account_id: int | None,
    action: Action,
    reset_at: Instant,
    source: str,
    *,
    now: Instant | None = None,
) -> None:
    """Park a budget until `reset_at` because X said it is spent (account_id None: whole app).

    An existing later reset is kept: two sources may disagree, and the later one is safe.
    """
    reset = as_utc(reset_at)
    updated = as_utc(now) if now is not None else datetime.now(tz=reset.tzinfo)
    begin(con)
    try:
        hit = con.execute(
            """UPDATE budget_state
               SET reset_at = greatest(reset_at, ?), source = ?, updated_at = ?
               WHERE app_id = ? AND account_id IS NOT DISTINCT FROM ? AND action = ?
               RETURNING 1""",
            [reset, source, updated, app_id, account_id, action],
        ).fetchall()
        if not hit:
            con.execute(
                """INSERT INTO budget_state (app_id, account_id, action, reset_at, source,
                                             updated_at)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                [app_id, account_id, action, reset, source, updated],
            )
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    log.info(
        "parked %s budget of app %s account %s until %s (%s)",
        action,
        app_id,
        account_id,
        reset.isoformat(),
        source,
    )


def budget_status(
    con: Connection,
    app_id: str,
    account_id: int,
    now: Instant,
    budgets: Budgets,
) -> BudgetStatus:
    """Used and left of each budget, and when each frees up (oldest row ages out, or park)."""
    at = as_utc(now)
    begin(con)
    try:
        lines: list[BudgetLine] = []
        action: Action
        for action in ("follow", "unfollow"):
            parked = _parked(con, app_id, account_id, action, at)
            for line in _lines(con, app_id, account_id, action, at, budgets):
                lines.append(_with_reset(con, app_id, account_id, line, parked, at, budgets))
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise
    return BudgetStatus(at, lines[0], lines[1], lines[2])


def _with_reset(
    con: Connection,
    app_id: str,
    account_id: int,
    line: BudgetLine,
    parked: tuple[datetime, str] | None,
    at: datetime,
    budgets: Budgets,
) -> BudgetLine:
    if parked is not None:
        return BudgetLine(line.action, line.scope, line.used, line.limit, parked[0], parked[0])
    next_reset = None
    if line.used > 0:
        # The oldest row's ageing out is the next time room grows; when the budget is
        # spent, the first time there is room again is the better answer.
        spent = line.used >= line.limit
        probe = line if spent else BudgetLine(line.action, line.scope, 1, 1, None, None)
        next_reset = _reset_at(con, app_id, account_id, line.action, probe, at, budgets)
    return BudgetLine(line.action, line.scope, line.used, line.limit, None, next_reset)
