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

What a window has spent, and the parks X asked for, are counted in spending.py; the
transaction helpers are in ledger_sql.py.

Outcomes: `following` / `pending_follow` (follow done), `unfollowed` (unfollow done),
`not_following` (a crashed follow that never landed: failed, may be retried), or the
error class name of a failure. A failure is permanent (the planner never picks the target
again) unless `complete(..., reason=RETRYABLE)` or its outcome is in RETRYABLE_OUTCOMES.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from followflow.campaigns.budgets import Budgets, Instant, as_utc
from followflow.campaigns.ledger_sql import LedgerError, begin, first, one, rollback
from followflow.campaigns.spending import Action, BudgetExhausted, spent
from followflow.store.dialect import (
    WRITE_CONFLICTS,
    Connection,
    is_postgres,
)

log = logging.getLogger(__name__)

Status = Literal["done", "failed"]

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
        begin(con)
        try:
            result = _reserve(con, app_id, account_id, action, target_id, run_id, at, budgets)
            con.execute("COMMIT")
        except WRITE_CONFLICTS as error:
            # A concurrent writer committed first; count again with its rows included.
            rollback(con)
            log.debug("reservation conflict, retrying: %s", error)
            continue
        except BaseException:
            rollback(con)
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

    exhausted = spent(con, app_id, account_id, action, at, budgets)
    if exhausted is not None:
        return exhausted

    # Previous attempts all failed (a reserved or done one raised above); numbering them
    # keeps the key unique per attempt and equal for two racing reservations of one target.
    key = f"{action}:{account_id}:{target_id}:{len(previous)}"
    (action_id,) = one(
        con.execute(
            """INSERT INTO actions (idempotency_key, run_id, app_id, account_id, target_id,
                                   action, status, reserved_at)
               VALUES (?, ?, ?, ?, ?, ?, 'reserved', ?) RETURNING action_id""",
            [key, run_id, app_id, account_id, target_id, action, at],
        )
    )
    return Reservation(int(action_id), key, run_id, app_id, account_id, target_id, action, at)


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
    begin(con)
    try:
        row = first(
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
        rollback(con)
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
