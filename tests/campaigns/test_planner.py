"""Follow-back and clean-up plans on real DuckDB files built through the store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import duckdb
import pytest
from pydantic import ValidationError

from followflow.campaigns.budgets import Budgets
from followflow.campaigns.filters import CandidateFilters, CandidateOrder
from followflow.campaigns.ledger import RETRYABLE
from followflow.campaigns.plan_query import DESCRIBED_ROWS
from followflow.campaigns.planner import Plan, plan_follow_back, plan_unfollow_cleanup
from followflow.campaigns.spending import budget_status
from followflow.store.connection import DbPath
from tests.campaigns.world import ACCOUNT, T0, db, ledger_row, profile, profiles, snapshot


def follow_back(
    store: DbPath,
    followers: Sequence[dict[str, Any]],
    *,
    following: Sequence[int] = (),
    filters: CandidateFilters | None = None,
    order: CandidateOrder = CandidateOrder.NEWEST_FOLLOWERS_FIRST,
    limit: int | None = None,
) -> Plan:
    with db(store) as con:
        snapshot(con, "followers", profiles(followers))
        snapshot(con, "following", list(following))
        return plan_follow_back(con, ACCOUNT, filters, order, limit, now=T0)


def one(store: DbPath, filters: CandidateFilters, **fields: Any) -> str:
    """The reason given for a single follower with the profile `fields`."""
    plan = follow_back(store, [profile(7, **fields)], filters=filters)
    assert plan.considered == 1
    return plan.first_rows(1)[0].reason


def test_followers_not_followed_are_candidates(store: DbPath) -> None:
    plan = follow_back(store, [profile(i) for i in (1, 2, 3, 4)], following=[2, 4, 99])
    assert sorted(plan.target_ids) == [1, 3]
    assert plan.counts == {"included": 2}
    assert plan.reason_of(2) is None  # already followed: not part of a follow-back plan


def test_empty_account_gives_empty_plan(store: DbPath) -> None:
    plan = follow_back(store, [], following=[5])
    assert plan.target_ids == ()
    assert plan.counts == {}
    assert "0 to follow out of 0" in plan.as_markdown()


@pytest.mark.parametrize(
    ("filters", "fields", "reason"),
    [
        (CandidateFilters(), {"protected": True}, "protected"),
        (CandidateFilters(exclude_protected=False), {"protected": True}, "included"),
        (CandidateFilters(min_followers=10), {"followers_count": 9}, "too_few_followers"),
        (CandidateFilters(min_followers=10), {"followers_count": 10}, "included"),
        (CandidateFilters(max_followers=10), {"followers_count": 11}, "too_many_followers"),
        (CandidateFilters(max_followers=10), {"followers_count": 10}, "included"),
        (CandidateFilters(min_following=5), {"following_count": 4}, "too_few_following"),
        (CandidateFilters(max_following=5), {"following_count": 6}, "too_many_following"),
        (
            CandidateFilters(min_follower_ratio=0.5),
            {"followers_count": 4, "following_count": 10},
            "ratio_too_low",
        ),
        (
            CandidateFilters(min_follower_ratio=0.5),
            {"followers_count": 5, "following_count": 10},
            "included",
        ),
        (
            CandidateFilters(max_follower_ratio=2),
            {"followers_count": 30, "following_count": 10},
            "ratio_too_high",
        ),
        (
            CandidateFilters(max_follower_ratio=2),
            {"followers_count": 1, "following_count": 0},
            "ratio_too_high",
        ),
        (
            CandidateFilters(min_account_age_days=30),
            {"created_at": T0 - timedelta(days=29)},
            "account_too_new",
        ),
        (
            CandidateFilters(min_account_age_days=30),
            {"created_at": T0 - timedelta(days=30)},
            "included",
        ),
        (CandidateFilters(min_account_age_days=30), {"created_at": None}, "account_too_new"),
        (
            CandidateFilters(exclude_default_avatar=True),
            {"default_profile_image": True},
            "default_avatar",
        ),
        (CandidateFilters(), {"default_profile_image": True}, "included"),
        (
            CandidateFilters(bio_include=("Python", "rust")),
            {"description": "I write PYTHON daily"},
            "included",
        ),
        (
            CandidateFilters(bio_include=("python", "rust")),
            {"description": "gardening"},
            "missing_bio_keyword",
        ),
        (CandidateFilters(bio_include=("python",)), {"description": None}, "missing_bio_keyword"),
        (
            CandidateFilters(bio_exclude=("crypto", "NFT")),
            {"description": "Buy my nft now"},
            "excluded_bio_keyword",
        ),
        (CandidateFilters(bio_exclude=("crypto",)), {"description": "bakery"}, "included"),
        (CandidateFilters(verified_only=True), {"verified": False}, "not_verified"),
        (CandidateFilters(verified_only=True), {"verified": True}, "included"),
        (CandidateFilters(exclude_verified=True), {"verified": True}, "verified"),
        (CandidateFilters(exclude_verified=True), {"verified": False}, "included"),
        (CandidateFilters(denylist=(7,)), {}, "denylisted"),
        (CandidateFilters(denylist=("@User7",)), {}, "denylisted"),
        (CandidateFilters(allowlist=("user7",)), {"protected": True}, "allowlisted"),
        (CandidateFilters(allowlist=(7,), denylist=(7,)), {}, "denylisted"),
    ],
)
def test_each_filter(
    store: DbPath, filters: CandidateFilters, fields: dict[str, Any], reason: str
) -> None:
    assert one(store, filters, **fields) == reason


def test_first_applicable_reason_wins_and_allowlist_is_included(store: DbPath) -> None:
    filters = CandidateFilters(min_followers=50, allowlist=(2,))
    plan = follow_back(
        store,
        [
            profile(1, protected=True, followers_count=1),
            profile(2, protected=True, followers_count=1),
            profile(3, followers_count=1),
        ],
        filters=filters,
    )
    assert plan.reason_of(1) == "protected"
    assert plan.reason_of(2) == "allowlisted"
    assert plan.reason_of(3) == "too_few_followers"
    assert plan.target_ids == (2,)


def test_filters_validate() -> None:
    with pytest.raises(ValidationError):
        CandidateFilters(min_followers=10, max_followers=5)
    with pytest.raises(ValidationError):
        CandidateFilters(verified_only=True, exclude_verified=True)
    with pytest.raises(ValidationError):
        CandidateFilters(bio_include=(" ",))
    with pytest.raises(ValidationError):
        CandidateFilters(min_followers=-1)
    with pytest.raises(ValidationError):
        CandidateFilters(colour="red")  # type: ignore[call-arg]
    filters = CandidateFilters(allowlist=(5, "@Bob"), denylist=("Eve",))
    assert filters.allowlist_ids() == [5]
    assert filters.allowlist_usernames() == ["bob"]
    assert filters.denylist_usernames() == ["eve"]
    with pytest.raises(ValidationError):
        filters.exclude_protected = False  # type: ignore[misc]


def test_ledger_exclusions(store: DbPath) -> None:
    with db(store) as con:
        snapshot(con, "followers", profiles(profile(i) for i in range(1, 11)))
        snapshot(con, "following", [])
        ledger_row(con, 1, status="reserved", outcome=None)
        ledger_row(con, 2, status="done", outcome="following")
        ledger_row(con, 3, status="done", outcome="pending_follow")
        ledger_row(con, 4, action="unfollow", status="done", outcome="unfollowed")
        ledger_row(con, 5, status="failed", outcome="Forbidden")
        ledger_row(con, 6, status="failed", outcome="not_following")
        ledger_row(con, 7, status="failed", outcome="ServerError", reason=RETRYABLE)
        ledger_row(con, 8, status="done", outcome="following")
        ledger_row(con, 8, action="unfollow", status="done", outcome="unfollowed")
        ledger_row(con, 9, status="done", outcome="following", account_id=2)  # other account
        plan = plan_follow_back(con, ACCOUNT, now=T0)
    assert {i: plan.reason_of(i) for i in range(1, 11)} == {
        1: "in_flight",
        2: "already_followed",
        3: "already_pending",
        4: "unfollowed_before",
        5: "failed_permanently",
        6: "included",
        7: "included",
        8: "unfollowed_before",
        9: "included",
        10: "included",
    }


def _ordered_world(con: duckdb.DuckDBPyConnection) -> None:
    counts = {1: 50, 2: 10, 3: 30, 4: 20, 5: 40, 6: 60, 7: 5, 8: 70}
    rows = [profile(i, followers_count=c) for i, c in counts.items()]
    # A baseline of 1..5, then 6 and 7 appear an hour later, then 8.
    snapshot(con, "followers", profiles(rows[:5]))
    snapshot(con, "followers", profiles(rows[:7]), now=T0 + timedelta(hours=1))
    snapshot(con, "followers", profiles(rows), now=T0 + timedelta(hours=2))
    snapshot(con, "following", [])


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (CandidateOrder.NEWEST_FOLLOWERS_FIRST, (8, 7, 6, 5, 4, 3, 2, 1)),
        (CandidateOrder.OLDEST_FIRST, (1, 2, 3, 4, 5, 6, 7, 8)),
        (CandidateOrder.MOST_FOLLOWERS_FIRST, (8, 6, 1, 5, 3, 4, 2, 7)),
        (CandidateOrder.FEWEST_FOLLOWERS_FIRST, (7, 2, 4, 3, 5, 1, 6, 8)),
    ],
)
def test_orders(store: DbPath, order: CandidateOrder, expected: tuple[int, ...]) -> None:
    with db(store) as con:
        _ordered_world(con)
        plan = plan_follow_back(con, ACCOUNT, order=order, now=T0)
    assert plan.target_ids == expected


def test_default_order_is_newest_first_and_limit_marks_the_rest(store: DbPath) -> None:
    with db(store) as con:
        _ordered_world(con)
        ledger_row(con, 7, status="done", outcome="pending_follow")
        plan = plan_follow_back(con, ACCOUNT, limit=3, now=T0)
    assert plan.target_ids == (8, 6, 5)
    assert [r.user_id for r in plan.first_rows(4)] == [8, 7, 6, 5]
    assert plan.reason_of(4) == "beyond_limit"
    assert plan.counts == {"already_pending": 1, "included": 3, "beyond_limit": 4}
    assert plan.first_rows(1)[0].at == T0 + timedelta(hours=2)


def test_markdown_explains_the_plan(store: DbPath) -> None:
    with db(store) as con:
        page = [profile(1, username="alice"), profile(2, protected=True), profile(3)]
        snapshot(con, "followers", profiles(page))
        snapshot(con, "following", [])
        plan = plan_follow_back(con, ACCOUNT, now=T0)
        ledger_row(con, 50, at=T0 - timedelta(hours=1))
        status = budget_status(con, "app", ACCOUNT, T0, Budgets())
    text = plan.as_markdown(max_rows=2, budget=status)
    assert "2 to follow out of 3 considered" in text
    assert "| included | 2 |" in text and "| protected | 1 |" in text
    assert "Budget left: **399** follows, next reset 2026-01-01 23:00 UTC" in text
    assert "| 1 | @user3 (3) | 100 | 100 | yes | included |" in text
    assert "| 2 | @user2 (2) | 100 | 100 | no | protected |" in text
    assert "@alice" not in text  # only max_rows rows


def test_a_plan_describes_its_first_users_and_explains_them_all(store: DbPath) -> None:
    everyone = DESCRIBED_ROWS + 5
    with db(store) as con:
        snapshot(con, "followers", profiles(profile(i) for i in range(1, everyone + 1)))
        snapshot(con, "following", [2, everyone + 1])  # no profile for everyone + 1
        follow = plan_follow_back(con, ACCOUNT, now=T0)
        unfollow = plan_unfollow_cleanup(con, ACCOUNT, 7, now=T0)
    shown = follow.first_rows(everyone)
    assert len(shown) == DESCRIBED_ROWS  # newest first: one snapshot, so by id, descending
    assert [(r.user_id, r.username) for r in shown[:2]] == [
        (everyone, f"user{everyone}"),
        (everyone - 1, f"user{everyone - 1}"),
    ]
    assert all(r.followers_count == 100 and r.following_count == 100 for r in shown)
    assert follow.considered == everyone - 1 and follow.reason_of(1) == "included"
    assert [(r.user_id, r.username, r.followers_count) for r in unfollow.first_rows(5)] == [
        (2, "user2", 100),
        (everyone + 1, None, None),
    ]


def test_unfollow_cleanup(store: DbPath) -> None:
    day = timedelta(days=1)
    with db(store) as con:
        snapshot(con, "followers", [3, 10])
        following = profiles(profile(i) for i in (1, 2, 3, 4, 5))
        snapshot(con, "following", following, now=T0 - 10 * day)
        # 6 and 7 were followed three days ago: still inside the grace period.
        snapshot(con, "following", [1, 2, 3, 4, 5, 6, 7], now=T0 - 3 * day)
        ledger_row(con, 5, action="unfollow", status="reserved", outcome=None)
        ledger_row(con, 7, action="unfollow", status="done", outcome="unfollowed")
        plan = plan_unfollow_cleanup(con, ACCOUNT, 7, allowlist=["@USER2"], now=T0)
        short = plan_unfollow_cleanup(con, ACCOUNT, 2, allowlist=[], now=T0, limit=2)
    assert plan.kind == "unfollow"
    assert {i: plan.reason_of(i) for i in range(1, 8)} == {
        1: "included",
        2: "allowlisted",
        3: "follows_back",
        4: "included",
        5: "in_flight",
        6: "within_grace",
        7: "already_unfollowed",
    }
    assert plan.target_ids == (1, 4)
    assert plan.reason_of(10) is None  # a follower we do not follow is not ours to unfollow
    assert short.target_ids == (1, 2)  # longest followed first, then by id
    assert short.reason_of(4) == "beyond_limit" and short.reason_of(6) == "beyond_limit"
    assert "2 to unfollow out of 7 considered" in plan.as_markdown()
