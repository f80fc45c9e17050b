"""The follow-back flow against the emulator over loopback, with real Prefect runs."""

from __future__ import annotations

import duckdb
import pytest

from flows.follow_back import follow_back
from flows.params import FollowBackParams
from followflow.campaigns.filters import CandidateFilters

pytestmark = pytest.mark.usefixtures("prefect_harness")


def follows_sent(live, username: str) -> list[int]:  # type: ignore[no-untyped-def]
    source = live.account_id(username)
    return [
        r.target_id
        for r in live.emulator.action_log
        if r.action == "follow" and r.source_id == source
    ]


def ledger_rows(live) -> list[tuple[int, str, str]]:  # type: ignore[no-untyped-def]
    with duckdb.connect(str(live.db_path), read_only=True) as con:
        return con.execute(
            "SELECT target_id, status, outcome FROM actions ORDER BY action_id"
        ).fetchall()


def test_dry_run_plans_and_sends_nothing(live_factory) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(limits=False)
    result = follow_back(FollowBackParams(account="ff_demo"))
    assert result.rows == []
    assert "dry run" in result.stopped
    assert follows_sent(live, "ff_demo") == []


def test_live_approved_run_follows_followers_once(live_factory) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(limits=False)
    account_id = live.account_id("ff_demo")
    params = FollowBackParams(
        account="ff_demo", live=True, approved=True, max_follows=12, spread_over_day=False
    )
    before_following = set(live.emulator.truth_following(account_id))
    followers = set(live.emulator.truth_followers(account_id))
    first = follow_back(params)
    sent = follows_sent(live, "ff_demo")
    assert len(sent) == 12
    assert first.count("following", "pending_follow") == 12
    assert set(sent) <= followers - before_following
    follow_back(params)
    sent = follows_sent(live, "ff_demo")
    assert len(sent) == 24
    assert len(set(sent)) == 24, "no account followed twice"
    rows = ledger_rows(live)
    assert {(t, s) for t, s, _ in rows} == {(t, "done") for t in sent}


def test_budget_stops_the_campaign_cleanly(live_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(limits=False)
    monkeypatch.setenv("FOLLOWFLOW_FOLLOW_BUDGET_PER_USER", "5")
    from followflow.settings import get_settings

    get_settings.cache_clear()
    params = FollowBackParams(
        account="ff_demo", live=True, approved=True, max_follows=50, spread_over_day=False
    )
    follow_back(params)
    assert len(follows_sent(live, "ff_demo")) == 5
    again = follow_back(params)
    assert again.rows == [] or again.count("following", "pending_follow") == 0
    assert len(follows_sent(live, "ff_demo")) == 5


def test_x_daily_cap_below_ours_parks_without_retrying(live_factory) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(limits=True, preset="v2-2026")
    live.emulator.set_day_cap("follow", "app", 3)
    params = FollowBackParams(
        account="ff_demo", live=True, approved=True, max_follows=10, spread_over_day=False
    )
    result = follow_back(params)
    assert len(follows_sent(live, "ff_demo")) == 3
    assert "24-hour" in result.stopped
    assert result.parked_until is not None
    follow_back(params)
    assert len(follows_sent(live, "ff_demo")) == 3, "parked: nothing sent until the reset"


def test_protected_targets_end_pending_and_are_not_requested_again(live_factory) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(limits=False)
    account_id = live.account_id("ff_demo")
    follow_back(FollowBackParams(account="ff_demo"))  # a dry run takes the snapshots
    with duckdb.connect(str(live.db_path), read_only=True) as con:
        followers = con.execute(
            """SELECT f.follower_id, u.protected FROM current_followers f
               JOIN users u ON u.user_id = f.follower_id
               WHERE f.account_id = ? AND f.follower_id NOT IN
                   (SELECT followed_id FROM current_following WHERE account_id = ?)""",
            [account_id, account_id],
        ).fetchall()
    protected = [user for user, is_protected in followers if is_protected][:5]
    assert protected, "the demo graph has protected followers"
    params = FollowBackParams(
        account="ff_demo",
        live=True,
        approved=True,
        max_follows=len(protected),
        spread_over_day=False,
        refresh="none",
        filters=CandidateFilters(
            exclude_protected=False,
            denylist=tuple(user for user, _ in followers if user not in protected),
        ),
    )
    result = follow_back(params)
    assert sorted(r.target_id for r in result.rows if r.result == "pending_follow") == sorted(
        protected
    )
    again = follow_back(params)
    assert again.rows == []
    sent = follows_sent(live, "ff_demo")
    assert sorted(sent) == sorted(protected), "each protected account was requested once"
