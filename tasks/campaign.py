"""Carrying out a plan: reserve in the ledger, act, record the outcome, paced and budgeted.

Shared by `follow-back` and `unfollow-cleanup`. Every action is reserved in one short
DuckDB transaction before it is sent and completed after, so two campaigns on one app
never overspend together, and a crash leaves a reserved row that `recover` settles from
what X shows (the target's `connection_status`) before anything is re-sent.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from prefect.logging import get_run_logger

from followflow.campaigns import ledger, spending
from followflow.campaigns.budgets import Budgets
from followflow.campaigns.pacing import Pacer
from followflow.settings import Settings
from followflow.store.connection import connect
from followflow.xapi.errors import (
    DailyCapReached,
    RateLimited,
    RateLimitUnknown,
    ServerError,
    TransportError,
    XAPIError,
)
from tasks.actions import follow_user, relationships, unfollow_user

Action = Literal["follow", "unfollow"]
RELATION_BATCH = 100
DONE_FOLLOW = ("following", "pending_follow")
# A 15-minute window wait longer than this ends the run; the next run carries on.
MAX_WINDOW_WAIT_S = 960.0


@dataclass(frozen=True)
class ActionRow:
    """One line of a campaign report: what happened to one target, and why."""

    target_id: int
    action: str
    result: str  # following | pending_follow | unfollowed | skipped | failed
    detail: str = ""


@dataclass
class CampaignResult:
    """What a campaign run did, and why it stopped."""

    rows: list[ActionRow]
    stopped: str = "plan done"
    parked_until: datetime | None = None

    def count(self, *results: str) -> int:
        return sum(1 for row in self.rows if row.result in results)


def budgets_from(settings: Settings) -> Budgets:
    """The ledger's budgets, over the configured window."""
    return Budgets.from_settings(settings, window_s=settings.budget_window_s)


def pacer_from(settings: Settings, *, spread_over_day: bool) -> Pacer:
    """A pacer for one account's actions from the settings."""
    return Pacer(
        min_spacing_s=settings.action_min_spacing_s,
        jitter_s=settings.action_min_spacing_s / 2,
        day_spread=spread_over_day,
        day_s=settings.budget_window_s,
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _relations(account: str, account_id: int, targets: Sequence[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, tuple[str, ...]] = {}
    for start in range(0, len(targets), RELATION_BATCH):
        batch = list(targets[start : start + RELATION_BATCH])
        found |= relationships(account, account_id, batch, len(batch))
    return found


def recover(settings: Settings, account: str, account_id: int) -> int:
    """Settle reservations a crash left without an outcome, from X's view of each target.

    Returns how many were settled. Nothing is re-sent here; a follow that never landed
    becomes a retryable failure and is planned again.
    """
    with connect(settings.store) as con:
        pending = ledger.unresolved(con, account_id)
    if not pending:
        return 0
    relations = _relations(account, account_id, [r.target_id for r in pending])
    with connect(settings.store) as con:
        for reservation in pending:
            status = relations.get(reservation.target_id, ())
            ledger.resolve_from_following(
                con,
                reservation.action_id,
                is_following="following" in status,
                is_pending="follow_request_sent" in status,
                now=_now(),
            )
    get_run_logger().info("settled %d action(s) left open by an earlier run", len(pending))
    return len(pending)


def _send(action: Action, account: str, account_id: int, target_id: int) -> str:
    """Send one action; returns the ledger outcome X's answer means."""
    if action == "follow":
        result = follow_user(account, account_id, target_id)
        return "pending_follow" if result.pending_follow else "following"
    unfollow_user(account, account_id, target_id)
    return "unfollowed"


def execute(
    settings: Settings,
    *,
    action: Action,
    account: str,
    account_id: int,
    targets: Sequence[int],
    run_id: str,
    pacer: Pacer,
    logger: logging.LoggerAdapter[logging.Logger] | logging.Logger,
) -> CampaignResult:
    """Act on `targets` in order until done, out of budget, or stopped by X; never twice."""
    budgets = budgets_from(settings)
    result = CampaignResult(rows=[])
    for target_id in targets:
        with connect(settings.store) as con:
            status = spending.budget_status(con, settings.app_name, account_id, _now(), budgets)
        left = status.follows_left if action == "follow" else status.unfollows_left
        if left > 0:  # spent: the reservation below parks at once, no point pacing first
            delay = pacer.wait(budget_left=left)
            if delay.seconds > 0:
                logger.info("pacing: waited %.1f s (%s)", delay.seconds, delay.reason)
        with connect(settings.store) as con:
            try:
                reservation = ledger.reserve(
                    con,
                    app_id=settings.app_name,
                    account_id=account_id,
                    action=action,
                    target_id=target_id,
                    run_id=run_id,
                    now=_now(),
                    budgets=budgets,
                )
            except (ledger.AlreadyReserved, ledger.AlreadyDone) as why:
                result.rows.append(ActionRow(target_id, action, "skipped", type(why).__name__))
                continue
        if isinstance(reservation, spending.BudgetExhausted):
            spent = f"{reservation.used}/{reservation.limit}"
            result.stopped = f"{reservation.scope} {action} budget spent ({spent})"
            result.parked_until = reservation.reset_at
            break
        outcome = _act(settings, action, account, account_id, target_id, reservation, logger)
        pacer.record()
        if isinstance(outcome, DailyCapReached):
            reset = datetime.fromtimestamp(outcome.reset_at, UTC) if outcome.reset_at else None
            result.stopped = f"X's 24-hour {outcome.cap} cap for {action}s is spent"
            result.parked_until = reset
            result.rows.append(ActionRow(target_id, action, "failed", "DailyCapReached"))
            break
        result.rows.append(outcome)
        if outcome.result == "failed" and outcome.detail == "stop":
            result.stopped = "X kept refusing; stopped to be safe"
            break
    return result


def _act(
    settings: Settings,
    action: Action,
    account: str,
    account_id: int,
    target_id: int,
    reservation: ledger.Reservation,
    logger: logging.LoggerAdapter[logging.Logger] | logging.Logger,
) -> ActionRow | DailyCapReached:
    """Send one reserved action and record what X said; settle ambiguity by asking X."""
    for attempt in range(2):
        try:
            outcome = _send(action, account, account_id, target_id)
        except DailyCapReached as cap:
            with connect(settings.store) as con:
                ledger.complete(
                    con,
                    reservation.action_id,
                    "DailyCapReached",
                    "failed",
                    _now(),
                    reason=ledger.RETRYABLE,
                )
                if cap.reset_at is not None:
                    spending.park(
                        con,
                        settings.app_name,
                        account_id if cap.cap == "user" else None,
                        action,
                        datetime.fromtimestamp(cap.reset_at, UTC),
                        "x-24h-cap",
                    )
            return cap
        except RateLimitUnknown:
            # 429s without reset headers outlasted the client's backoff: stop, and keep the
            # target a candidate (X acted on nothing), instead of failing it for good.
            with connect(settings.store) as con:
                ledger.complete(
                    con,
                    reservation.action_id,
                    "RateLimitUnknown",
                    "failed",
                    _now(),
                    reason=ledger.RETRYABLE,
                )
            return ActionRow(target_id, action, "failed", "stop")
        except RateLimited as limited:
            wait = (
                (limited.reset_at or time.time() + 60) - time.time() + settings.rate_limit_margin_s
            )
            if attempt == 0 and 0 <= wait <= MAX_WINDOW_WAIT_S:
                logger.info("%s window spent; waiting %.1f s for its reset", action, wait)
                time.sleep(wait + random.uniform(0, 0.1))
                continue
            with connect(settings.store) as con:
                ledger.complete(
                    con,
                    reservation.action_id,
                    "RateLimited",
                    "failed",
                    _now(),
                    reason=ledger.RETRYABLE,
                )
            return ActionRow(target_id, action, "failed", "stop")
        except (TransportError, ServerError) as unclear:
            # The request may have landed: ask X rather than guess or re-send.
            logger.warning("%s of %d unclear (%s); checking with X", action, target_id, unclear)
            relation = _relations(account, account_id, [target_id]).get(target_id, ())
            with connect(settings.store) as con:
                outcome = ledger.resolve_from_following(
                    con,
                    reservation.action_id,
                    is_following="following" in relation,
                    is_pending="follow_request_sent" in relation,
                    now=_now(),
                )
            landed = outcome in (("unfollowed",) if action == "unfollow" else DONE_FOLLOW)
            return ActionRow(
                target_id,
                action,
                outcome if landed else "failed",
                "settled after an unclear answer" + ("" if landed else f": {outcome}, retryable"),
            )
        except XAPIError as refused:
            with connect(settings.store) as con:
                ledger.complete(
                    con, reservation.action_id, type(refused).__name__, "failed", _now()
                )
            return ActionRow(target_id, action, "failed", str(refused))
        with connect(settings.store) as con:
            ledger.complete(con, reservation.action_id, outcome, "done", _now())
        return ActionRow(target_id, action, outcome)
    raise AssertionError("unreachable: the loop returns on its last attempt")
