"""The `unfollow-cleanup` flow: unfollow accounts that never followed back. Opt-in only.

X's rules frown on bulk automated unfollowing, so this flow is off unless
FOLLOWFLOW_UNFOLLOW_CLEANUP_ENABLED is set, only considers accounts followed at least a
grace period ago, never touches the allowlist, and asks for approval of every batch, even
when scheduled. The 500-per-app daily unfollow budget is counted in the same ledger.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from prefect import flow, get_run_logger

from flows.accounts import AccountError, resolve_one, writer_check
from flows.follow_back import refresh_snapshots, report, run_id, wait_for_approval
from flows.params import UnfollowCleanupParams
from followflow.campaigns import spending
from followflow.campaigns.planner import plan_unfollow_cleanup
from followflow.settings import get_settings
from followflow.store.connection import connect
from tasks.campaign import CampaignResult, budgets_from, execute, pacer_from, recover
from tasks.limits import campaign_limit_name, ensure_limits, hold, x_limit_name


@flow(name="unfollow-cleanup", log_prints=True)
def unfollow_cleanup(params: UnfollowCleanupParams) -> CampaignResult:
    """Unfollow accounts that do not follow back, batch by approved batch."""
    logger = get_run_logger()
    settings = get_settings()
    if not settings.unfollow_cleanup_enabled:
        raise AccountError(
            "unfollow clean-up is off; set FOLLOWFLOW_UNFOLLOW_CLEANUP_ENABLED=true to allow it"
        )
    account = resolve_one(params.account)
    if params.live:
        writer_check(settings, account)
    grace_days = params.grace_days or settings.unfollow_grace_days
    campaign = campaign_limit_name(account.id)
    ensure_limits(campaign, x_limit_name("unfollow", f"user-{account.id}"))
    with hold(campaign):
        refresh_snapshots(account.id, "full")
        if params.live:
            recover(settings, account.username, account.id)
        now = datetime.now(UTC)
        with connect(settings.store) as con:
            plan = plan_unfollow_cleanup(con, account.id, grace_days, params.allowlist, now)
            budget = spending.budget_status(
                con, settings.app_name, account.id, now, budgets_from(settings)
            )
        targets = list(plan.target_ids[: min(params.max_unfollows, budget.unfollows_left)])
        description = plan.as_markdown(max_rows=20, budget=budget)
        logger.info(
            "@%s: %d not following back after %d days; %d this run, %d unfollows left today",
            account.username,
            len(plan.target_ids),
            grace_days,
            len(targets),
            budget.unfollows_left,
        )
        if not params.live:
            result = CampaignResult(rows=[], stopped="dry run: nothing sent")
            report(result, plan, True, description)
            return result
        result = CampaignResult(rows=[])
        pacer = pacer_from(settings, spread_over_day=False)
        for start in range(0, len(targets), params.batch_size):
            batch = targets[start : start + params.batch_size]
            answer = wait_for_approval(
                f"**Batch {start // params.batch_size + 1}**: unfollow {len(batch)} "
                f"accounts.\n\n{description}",
                params.approval_timeout_s,
                # Keyed by the batch's targets, not its position: a suspended run is re-run
                # from the top after earlier batches were sent, and its plan starts later;
                # an answer must never be reused for targets it was not given for.
                key=f"approve-unfollow-{account.id}-{batch_digest(batch)}",
            )
            if not answer.approve:
                result.stopped = "batch rejected: nothing more sent"
                break
            if answer.max_actions is not None:
                batch = batch[: answer.max_actions]
            done = execute(
                settings,
                action="unfollow",
                account=account.username,
                account_id=account.id,
                targets=batch,
                run_id=run_id(),
                pacer=pacer,
                logger=logger,
            )
            result.rows += done.rows
            result.stopped, result.parked_until = done.stopped, done.parked_until
            if done.stopped != "plan done":
                break
        report(result, plan, False, description)
        return result


def batch_digest(batch: list[int]) -> str:
    """A short name for exactly these targets, for the batch's approval key."""
    return hashlib.sha256(",".join(map(str, batch)).encode()).hexdigest()[:16]
