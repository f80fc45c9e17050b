"""Serve the three deployments from one process (`followflow serve`).

snapshot-followers runs every FOLLOWFLOW_SNAPSHOT_INTERVAL_HOURS (6 h), follow-back daily
on FOLLOWFLOW_FOLLOW_BACK_CRON (a dry run unless FOLLOWFLOW_SCHEDULED_FOLLOW_BACK_LIVE),
unfollow-cleanup has no schedule. Runs started from the UI take the same typed parameters.
Schedules are not paused when this process stops: a restart carries on where it was.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from pydantic import BaseModel

from flows.follow_back import follow_back
from flows.params import FollowBackParams, SnapshotParams, UnfollowCleanupParams
from flows.snapshot_followers import snapshot_followers
from flows.unfollow_cleanup import unfollow_cleanup
from followflow.settings import Settings, get_settings


class NoAccounts(Exception):
    """The deployments need FOLLOWFLOW_ACCOUNTS to know whom to snapshot."""


def defaults(params: BaseModel) -> dict[str, Any]:
    """A deployment's default parameters. Unset optional fields are left out: the forms
    publish them as plain fields (`followflow.form_schema`), and Prefect rejects a
    deployment whose defaults hold null for such a field."""
    return {"params": params.model_dump(mode="json", exclude_none=True)}


def build_deployments(settings: Settings) -> list[RunnerDeployment]:
    """The three deployments, with default parameters taken from the settings."""
    if not settings.accounts:
        raise NoAccounts("set FOLLOWFLOW_ACCOUNTS, e.g. FOLLOWFLOW_ACCOUNTS='[\"your_name\"]'")
    first = settings.accounts[0]
    snapshot = SnapshotParams(accounts=settings.accounts)
    campaign = FollowBackParams(
        account=first,
        live=settings.scheduled_follow_back_live,
        approved=settings.scheduled_follow_back_live,
        max_follows=settings.scheduled_max_follows,
    )
    cleanup = UnfollowCleanupParams(account=first)
    deployments = [
        snapshot_followers.to_deployment(
            name="snapshot-followers",
            interval=timedelta(hours=settings.snapshot_interval_hours),
            parameters=defaults(snapshot),
        ),
        follow_back.to_deployment(
            name="follow-back",
            cron=settings.follow_back_cron,
            parameters=defaults(campaign),
        ),
        unfollow_cleanup.to_deployment(
            name="unfollow-cleanup",
            parameters=defaults(cleanup),
        ),
    ]
    # `to_deployment` returns a coroutine only when called from async code; this is sync.
    return [d for d in deployments if isinstance(d, RunnerDeployment)]


def main() -> None:
    """Serve until stopped; schedules stay active when the process stops."""
    serve(*build_deployments(get_settings()), pause_on_shutdown=False)


if __name__ == "__main__":
    main()
