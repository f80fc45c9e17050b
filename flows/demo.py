"""The `demo` flow: snapshot, churn, snapshot again, follow back, report; on the emulator.

Run by `followflow demo`, which starts the emulator and points the settings at it. Churn
goes through the emulator's admin API, so the flow works against any emulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from prefect import flow

from flows.follow_back import follow_back
from flows.params import FollowBackParams, SnapshotParams
from flows.snapshot_followers import snapshot_followers
from followflow.campaigns import spending
from followflow.report import write_account_report
from followflow.settings import get_settings
from followflow.store.connection import connect
from tasks.campaign import CampaignResult, budgets_from
from tasks.listing import ListOutcome

ACCOUNTS = ("ff_demo", "ff_alice", "ff_bob")
CAMPAIGN_ACCOUNT = "ff_demo"
# Followers gained and lost per account between the two snapshots.
CHURN = {"ff_demo": (60, 25), "ff_alice": (20, 8), "ff_bob": (5, 3)}
FOLLOWS = 25


@dataclass
class DemoSummary:
    """What the demo did, for the terminal."""

    snapshots: list[ListOutcome]
    campaign: CampaignResult
    follows_left: int
    follows_limit: int
    app_follows_left: int
    app_follows_limit: int

    def table(self) -> str:
        lines = [f"{'account':<12}{'followers':>10}{'following':>10}{'gained':>8}{'lost':>6}  lost"]
        followers = {o.account: o for o in self.snapshots if o.kind == "followers"}
        following = {o.account: o for o in self.snapshots if o.kind == "following"}
        for account, o in followers.items():
            reasons: dict[str, int] = {}
            for reason in o.lost_reasons.values():
                reasons[reason] = reasons.get(reason, 0) + 1
            why = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) or "-"
            lines.append(
                f"@{account:<11}{o.users_read:>10,}{following[account].users_read:>10,}"
                f"{len(o.gained_ids):>8}{len(o.lost_ids):>6}  {why}"
            )
        c = self.campaign
        lines += [
            "",
            f"follow-back @{CAMPAIGN_ACCOUNT}: followed {c.count('following')}, requested "
            f"{c.count('pending_follow')} (protected accounts); {c.stopped}",
            f"budget left: {self.follows_left} of {self.follows_limit} follows for "
            f"@{CAMPAIGN_ACCOUNT} today, {self.app_follows_left} of {self.app_follows_limit} "
            "for the app",
        ]
        return "\n".join(lines)


def churn(account_ids: dict[str, int]) -> None:
    """Let followers come and go, through the emulator's admin API."""
    base = get_settings().x_base_url
    with httpx.Client(base_url=base, timeout=30) as admin:
        for username, (gained, lost) in CHURN.items():
            body = {"user_id": str(account_ids[username]), "gained": gained, "lost": lost}
            admin.post("/_emulator/churn", json=body).raise_for_status()


@flow(name="demo", log_prints=True)
def demo(report_path: Path) -> DemoSummary:
    """The main job on the emulator: snapshot, churn, snapshot, follow-back, report."""
    first = snapshot_followers(SnapshotParams(accounts=list(ACCOUNTS), lists="both"))
    churn({o.account: o.account_id for o in first})
    second = snapshot_followers(SnapshotParams(accounts=list(ACCOUNTS), lists="both"))
    campaign = follow_back(
        FollowBackParams(
            account=CAMPAIGN_ACCOUNT,
            live=True,
            approved=True,
            max_follows=FOLLOWS,
            spread_over_day=False,
            refresh="none",
        )
    )
    settings = get_settings()
    write_account_report(settings, CAMPAIGN_ACCOUNT, report_path)
    account_id = next(o.account_id for o in second if o.account == CAMPAIGN_ACCOUNT)
    with connect(settings.store) as con:
        budget = spending.budget_status(
            con, settings.app_name, account_id, datetime.now(UTC), budgets_from(settings)
        )
    return DemoSummary(
        second,
        campaign,
        budget.user_follows.left,
        budget.user_follows.limit,
        budget.app_follows.left,
        budget.app_follows.limit,
    )
