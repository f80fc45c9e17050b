"""The action ledger: reserve a row before a follow or unfollow is sent, complete it after.

The rolling-window count of `reserved` + `done` rows is the budget (DESIGN.md §4). Each
function here takes a connection and runs exactly one short transaction, so campaigns in
other processes (which must open the DuckDB file in turn) and on other cursors of this
process interleave between reservations, never inside one. Pass a connection from
`followflow.store.connection.connect()`, not one already inside a transaction.

Why a reservation cannot overspend under concurrency: DuckDB transactions are snapshot
isolated, so two cursors could both count 399 and both insert (write skew). Two processes
can never have the file open at once, so the only overlapping transactions are within one
process, and a process-wide lock around each reservation serializes those. A reservation
that still hits a write conflict (another writer of `actions`) is rolled back and retried.

On PostgreSQL many processes on many hosts reserve at once, and READ COMMITTED alone has
the same write skew. Each reservation therefore first takes two transaction-scoped
advisory locks, on its app and on its account (always in that order, so two never wait
on each other in a cycle). Any two reservations that count a common budget share one of
those keys, so they run one after the other; and since a lock is released only at
COMMIT, the second one's counts (each statement reads what was committed before it
started) include the first one's row. SERIALIZABLE would be exact too, but would abort
and retry every racing reservation of a busy app instead of queueing it for ~1 ms.

A row's time in the window is `completed_at` when set (the request was sent before it) and
`reserved_at` otherwise, so a slow request never leaves the window early.

Outcomes: `following` / `pending_follow` (follow done), `unfollowed` (unfollow done),
`not_following` (a crashed follow that never landed: failed, may be retried), or the
error class name of a failure. A failure is permanent (the planner never picks the target
again) unless `complete(..., reason=RETRYABLE)` or its outcome is in RETRYABLE_OUTCOMES.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from followflow.campaigns.budgets import Budgets, Instant, as_utc
from followflow.store.dialect import (
    ALREADY_IN_TRANSACTION,
    WRITE_CONFLICTS,
    Connection,
    is_postgres,
)

log = logging.getLogger(__name__)

Action = Literal["follow", "unfollow"]
Status = Literal["done", "failed"]
Scope = Literal["user", "app", "parked"]

RETRYABLE = "retryable"
"""`reason` of a failed row whose target may be tried again (X refused before acting)."""
RETRYABLE_OUTCOMES = ("not_following", "RateLimited", "DailyCapReached")
"""Failure outcomes that never made X act, so the target stays a candidate."""

_CONFLICT_RETRIES = 20
# The two keys a reservation serializes on (see the module's docstring); a hash collision
# only queues two unrelated reservations, it never lets one through.
_LOCK_BUDGET_SCOPES = (
    "SELECT pg_advisory_xact_lock(hashtextextended(?, 0)), "
    "pg_advisory_xact_lock(hashtextextended(?, 0))"
)
_RESERVE_LOCK = threading.Lock()


class LedgerError(Exception):
    """The ledger refused an operation; the message names the action, never a secret."""


class AlreadyReserved(LedgerError):
    """The same action on the same target is reserved and has no outcome yet."""

    def __init__(self, action_id: int, key: str) -> None:
        super().__init__(f"{key} is already reserved as action {action_id}")
        self.action_id = action_id


class AlreadyDone(LedgerError):
    """The same action on the same target was already done: sending it again would repeat it."""

    def __init__(self, action_id: int, outcome: str | None) -> None:
        super().__init__(f"already done as action {action_id} (outcome {outcome})")
        self.action_id = action_id
        self.outcome = outcome


@dataclass(frozen=True)
class Reservation:
    """A reserved ledger row: the right to send one action now."""

    action_id: int
    idempotency_key: str
    run_id: str
    app_id: str
    account_id: int
    target_id: int
    action: Action
    reserved_at: datetime


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


def reserve(
    con: Connection,
    *,
    app_id: str,
    account_id: int,
    action: Action,
    target_id: int,
    run_id: str,
    now: Instant,
    budgets: Budgets,
) -> Reservation | BudgetExhausted:
    """Reserve one action in one transaction, or say which budget is spent and until when.

    Raises:
        AlreadyReserved: the same action on the same target awaits its outcome.
        AlreadyDone: the same action on the same target already took effect.
        LedgerError: the reservation kept conflicting with concurrent ones.
    """
    at = as_utc(now)
    with _RESERVE_LOCK:
        return _reserve_retrying(con, app_id, account_id, action, target_id, run_id, at, budgets)


def _reserve_retrying(
    con: Connection,
    app_id: str,
    account_id: int,
    action: Action,
    target_id: int,
    run_id: str,
    at: datetime,
    budgets: Budgets,
) -> Reservation | BudgetExhausted:
    for _ in range(_CONFLICT_RETRIES):
        _begin(con)
        try:
            result = _reserve(con, app_id, account_id, action, target_id, run_id, at, budgets)
            con.execute("COMMIT")
        except WRITE_CONFLICTS as error:
            # A concurrent writer committed first; count again with its rows included.
            _rollback(con)
            log.debug("reservation conflict, retrying: %s", error)
            continue
        except BaseException:
            _rollback(con)
            raise
        return result
    raise LedgerError(f"{action} of {target_id}: reservation conflicted {_CONFLICT_RETRIES} times")


def _reserve(
    con: Connection,
    app_id: str,
    account_id: int,
    action: Action,
    target_id: int,
    run_id: str,
    at: datetime,
    budgets: Budgets,
) -> Reservation | BudgetExhausted:
    if is_postgres(con):
        con.execute(_LOCK_BUDGET_SCOPES, [f"app:{app_id}", f"account:{account_id}"]).fetchall()
    previous = con.execute(
        """SELECT action_id, idempotency_key, status, outcome FROM actions
           WHERE account_id = ? AND action = ? AND target_id = ?
           ORDER BY action_id""",
        [account_id, action, target_id],
    ).fetchall()
    for action_id, key, status, outcome in previous:
        if status == "reserved":
            raise AlreadyReserved(action_id, key)
        if status == "done":
            raise AlreadyDone(action_id, outcome)

    spent = _spent(con, app_id, account_id, action, at, budgets)
    if spent is not None:
        return spent

    # Previous attempts all failed (a reserved or done one raised above); numbering them
    # keeps the key unique per attempt and equal for two racing reservations of one target.
    key = f"{action}:{account_id}:{target_id}:{len(previous)}"
    (action_id,) = _one(
        con.execute(
            """INSERT INTO actions (idempotency_key, run_id, app_id, account_id, target_id,
                                   action, status, reserved_at)
               VALUES (?, ?, ?, ?, ?, ?, 'reserved', ?) RETURNING action_id""",
            [key, run_id, app_id, account_id, target_id, action, at],
        )
    )
    return Reservation(int(action_id), key, run_id, app_id, account_id, target_id, action, at)


def _spent(
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
    (user_used, app_used) = _one(
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
    row = _first(
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
    row = _first(
        con.execute(
            """SELECT reset_at, source FROM budget_state
           WHERE app_id = ? AND action = ? AND (account_id = ? OR account_id IS NULL)
             AND reset_at > ?
           ORDER BY reset_at DESC LIMIT 1""",
            [app_id, action, account_id, at],
        )
    )
    return None if row is None else (as_utc(row[0]), str(row[1]))


def complete(
    con: Connection,
    action_id: int,
    outcome: str,
    status: Status,
    now: Instant,
    *,
    reason: str | None = None,
) -> None:
    """Record a reserved action's outcome.

    Only complete when X's answer is known. After an ambiguous failure (a timeout or a
    reset connection after sending), leave the row reserved: `unresolved` hands it back and
    `resolve_from_following` settles it from the account's following list.

    Raises:
        LedgerError: the action is unknown or already completed.
    """
    if status not in ("done", "failed"):
        raise ValueError(f"status must be 'done' or 'failed', not {status!r}")
    rows = con.execute(
        """UPDATE actions SET status = ?, outcome = ?, reason = ?, completed_at = ?
           WHERE action_id = ? AND status = 'reserved' RETURNING action_id""",
        [status, outcome, reason, as_utc(now), action_id],
    ).fetchall()
    if not rows:
        raise LedgerError(f"action {action_id} is not reserved (unknown or already completed)")


def resolve_from_following(
    con: Connection,
    action_id: int,
    is_following: bool,
    is_pending: bool,
    now: Instant,
) -> str:
    """Settle a reservation left by a crash from what X shows now; returns the outcome.

    A follow that shows as following or pending took effect (done); otherwise it never
    landed (failed, `not_following`, retryable). An unfollow took effect when the target no
    longer shows as followed.
    """
    _begin(con)
    try:
        row = _first(
            con.execute(
                "SELECT action FROM actions WHERE action_id = ? AND status = 'reserved'",
                [action_id],
            )
        )
        if row is None:
            raise LedgerError(f"action {action_id} is not reserved (unknown or already completed)")
        status, outcome, reason = _resolution(row[0], is_following, is_pending)
        con.execute(
            """UPDATE actions SET status = ?, outcome = ?, reason = ?, completed_at = ?
               WHERE action_id = ?""",
            [status, outcome, reason, as_utc(now), action_id],
        )
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise
    log.info("resolved action %d after a crash: %s (%s)", action_id, outcome, status)
    return outcome


def _resolution(action: str, is_following: bool, is_pending: bool) -> tuple[str, str, str]:
    if action == "follow":
        if is_following:
            return "done", "following", "resolved"
        if is_pending:
            return "done", "pending_follow", "resolved"
        return "failed", "not_following", RETRYABLE
    if is_following or is_pending:
        return "failed", "following", RETRYABLE
    return "done", "unfollowed", "resolved"


def unresolved(con: Connection, account_id: int) -> list[Reservation]:
    """Reserved rows of the account with no outcome, oldest first (left by a crash)."""
    rows = con.execute(
        """SELECT action_id, idempotency_key, run_id, app_id, account_id, target_id, action,
                  reserved_at
           FROM actions WHERE account_id = ? AND status = 'reserved' ORDER BY action_id""",
        [account_id],
    ).fetchall()
    return [
        Reservation(int(r[0]), r[1], r[2], r[3], int(r[4]), int(r[5]), r[6], as_utc(r[7]))
        for r in rows
    ]


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
    _begin(con)
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
        _rollback(con)
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
    _begin(con)
    try:
        lines: list[BudgetLine] = []
        action: Action
        for action in ("follow", "unfollow"):
            parked = _parked(con, app_id, account_id, action, at)
            for line in _lines(con, app_id, account_id, action, at, budgets):
                lines.append(_with_reset(con, app_id, account_id, line, parked, at, budgets))
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
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


def _one(result: Connection) -> tuple[Any, ...]:
    row = _first(result)
    if row is None:  # aggregates always return a row; this guards the type only
        raise LedgerError("query returned no row")
    return row


def _first(rows: list[Any] | Connection) -> tuple[Any, ...] | None:
    # Read results to the end: DuckDB 2.0 refuses register() on a connection whose last
    # result is half read, and callers share the connection.
    fetched = rows if isinstance(rows, list) else rows.fetchall()
    return tuple(fetched[0]) if fetched else None


def _begin(con: Connection) -> None:
    try:
        con.begin()
    except ALREADY_IN_TRANSACTION as error:
        # DuckDB has already aborted the caller's transaction; say why, loudly.
        raise LedgerError(
            "the ledger runs its own transaction: pass a connection from "
            "followflow.store.connection.connect(), not one inside transaction()"
        ) from error


def _rollback(con: Connection) -> None:
    try:
        con.execute("ROLLBACK")
    except ALREADY_IN_TRANSACTION:
        pass  # a failed COMMIT has already rolled the transaction back
