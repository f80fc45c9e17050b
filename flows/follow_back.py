"""The `follow-back` flow: follow the account's followers it does not follow yet, safely.

A dry run (the default) plans and reports. A live run pauses with its plan for approval
unless approved in advance (scheduled runs), then follows within the daily budgets, paced,
one ledger reservation per follow. Campaigns of one account never overlap: they hold the
global concurrency limit `campaign:<account>` for the whole run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import get_run_context
from prefect.flow_runs import pause_flow_run, suspend_flow_run
from prefect.input import RunInput
from pydantic import ConfigDict, Field

from flows.accounts import resolve_one, writer_check
from flows.params import FollowBackParams, SnapshotParams
from flows.snapshot_followers import snapshot_followers
from followflow.campaigns import spending
from followflow.campaigns.planner import Plan, plan_follow_back
from followflow.form_schema import plain_optional_fields
from followflow.settings import get_settings
from followflow.store.connection import connect
from followflow.store.history import latest_snapshots
from tasks.campaign import CampaignResult, budgets_from, execute, pacer_from, recover
from tasks.limits import campaign_limit_name, ensure_limits, hold, x_limit_name

# A wait for approval longer than this suspends the run (no process held) when possible.
PAUSE_LIMIT_S = 3600
# How often a paused run asks the server whether it was resumed (Prefect's default is 10 s,
# which leaves whoever clicked "Resume" in the UI looking at a run that does nothing).
APPROVAL_POLL_S = 2


class PlanApproval(RunInput):
    """The answer to a paused campaign: approve or reject, optionally fewer actions."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=plain_optional_fields)

    approve: bool = Field(default=False, description="Send the actions in this plan.")
    max_actions: int | None = Field(
        default=None, ge=0, description="Send at most this many (default: the whole plan)."
    )


def wait_for_approval(description: str, timeout_s: int, key: str) -> PlanApproval:
    """Pause (or, for long waits from a deployment, suspend) until someone answers."""
    context = get_run_context()
    flow_run = getattr(context, "flow_run", None)
    long_wait = timeout_s > PAUSE_LIMIT_S and flow_run is not None and flow_run.deployment_id
    form = PlanApproval.with_initial_data(description=description, approve=False)
    if long_wait:
        return suspend_flow_run(wait_for_input=form, timeout=timeout_s, key=key)
    return pause_flow_run(
        wait_for_input=form, timeout=timeout_s, poll_interval=APPROVAL_POLL_S, key=key
    )


def refresh_snapshots(account_id: int, mode: str) -> None:
    """Bring followers and following up to date; a list never read fully is read in full."""
    if mode == "none":
        return
    settings = get_settings()
    complete = {
        s.kind
        for s in latest_snapshots(settings.store, account_id, status="complete")
        if s.mode == "full"
    }
    for kind in ("followers", "following"):
        kind_mode = mode if kind in complete else "full"
        snapshot_followers(SnapshotParams(accounts=[str(account_id)], lists=kind, mode=kind_mode))


def report(result: CampaignResult, plan: Plan, dry_run: bool, budget_md: str) -> None:
    """A table artifact of actions taken and skipped, and a markdown summary with budgets."""
    rows = [
        {"user_id": str(r.target_id), "action": r.action, "result": r.result, "detail": r.detail}
        for r in result.rows
    ]
    done = {r.target_id for r in result.rows}
    rows += [
        {"user_id": str(row.user_id), "action": "none", "result": "skipped", "detail": row.reason}
        for row in plan.first_rows(200)
        if row.user_id not in done and not (dry_run and row.included)
    ][:200]
    if dry_run:
        rows = [
            {"user_id": str(t), "action": plan.kind, "result": "planned", "detail": "dry run"}
            for t in plan.target_ids[:200]
        ] + rows
    create_table_artifact(rows, key=f"{plan.kind}-actions", description="Actions and skips")
    lines = [
        f"# {'Dry run' if dry_run else 'Campaign'}: {plan.kind} for account {plan.account_id}",
        "",
        f"- planned: {len(plan.target_ids)} of {plan.considered} considered",
        f"- done: {result.count('following', 'pending_follow', 'unfollowed')}; "
        f"failed: {result.count('failed')}; stopped because: {result.stopped}",
    ]
    if result.parked_until is not None:
        lines.append(f"- budget frees up at {result.parked_until:%Y-%m-%d %H:%M:%S} UTC")
    create_markdown_artifact(
        "\n".join([*lines, "", budget_md]), key=f"{plan.kind}-report", description="Campaign"
    )


@flow(name="follow-back", log_prints=True)
def follow_back(params: FollowBackParams) -> CampaignResult:
    """Follow back the account's followers, within the budgets, after approval."""
    logger = get_run_logger()
    settings = get_settings()
    account = resolve_one(params.account)
    if params.live:
        writer_check(settings, account)
    campaign = campaign_limit_name(account.id)
    ensure_limits(campaign, x_limit_name("follow", f"user-{account.id}"))
    with hold(campaign):
        refresh_snapshots(account.id, params.refresh)
        if params.live:
            recover(settings, account.username, account.id)
        with connect(settings.store) as con:
            plan = plan_follow_back(con, account.id, params.filters, params.order)
            budget = spending.budget_status(
                con, settings.app_name, account.id, datetime.now(UTC), budgets_from(settings)
            )
        # Not cut to the budget left: execute() stops at the budget and records when it
        # frees up (parks), so a run that starts with the budget spent says so.
        targets = list(plan.target_ids[: params.max_follows])
        description = plan.as_markdown(max_rows=20, budget=budget)
        logger.info(
            "@%s: %d candidates, %d planned this run, %d follows left in the budget",
            account.username,
            len(plan.target_ids),
            len(targets),
            budget.follows_left,
        )
        if not params.live:
            result = CampaignResult(rows=[], stopped="dry run: nothing sent")
            report(result, plan, True, description)
            return result
        if not params.approved and targets:
            answer = wait_for_approval(
                description, params.approval_timeout_s, key=f"approve-{account.id}"
            )
            if not answer.approve:
                result = CampaignResult(rows=[], stopped="rejected: nothing sent")
                report(result, plan, False, description)
                return result
            if answer.max_actions is not None:
                targets = targets[: answer.max_actions]
        result = execute(
            settings,
            action="follow",
            account=account.username,
            account_id=account.id,
            targets=targets,
            run_id=run_id(),
            pacer=pacer_from(settings, spread_over_day=params.spread_over_day),
            logger=logger,
        )
        report(result, plan, False, description)
        logger.info(
            "@%s: followed %d, failed %d; %s",
            account.username,
            result.count("following", "pending_follow"),
            result.count("failed"),
            result.stopped,
        )
        return result


def run_id() -> str:
    context = get_run_context()
    flow_run = getattr(context, "flow_run", None)
    return str(flow_run.id) if flow_run is not None else uuid4().hex
