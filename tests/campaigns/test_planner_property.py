"""Property: for any graph, ledger and filters, the plan matches a plain-Python model of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from followflow.campaigns.filters import CandidateFilters, CandidateOrder
from followflow.campaigns.ledger import RETRYABLE, RETRYABLE_OUTCOMES
from followflow.campaigns.planner import plan_follow_back
from tests.campaigns.world import ACCOUNT, T0, ledger_row, memory_db, profile, profiles, snapshot

IDS = st.integers(min_value=1, max_value=40)
WORDS = ("python", "Rust", "crypto", "NFT", "garden", "")


@dataclass(frozen=True)
class LedgerRow:
    target_id: int
    action: str
    status: str
    outcome: str | None
    reason: str | None


ledger_rows = st.builds(
    LedgerRow,
    target_id=IDS,
    action=st.sampled_from(["follow", "unfollow"]),
    status=st.sampled_from(["reserved", "done", "failed"]),
    outcome=st.sampled_from(
        [None, "following", "pending_follow", "unfollowed", "not_following", "Forbidden"]
    ),
    reason=st.sampled_from([None, RETRYABLE]),
)

user_profiles = st.fixed_dictionaries(
    {
        "protected": st.booleans(),
        "verified": st.booleans(),
        "default_profile_image": st.booleans(),
        "followers_count": st.integers(0, 50),
        "following_count": st.integers(0, 50),
        "age_days": st.integers(0, 60),
        "description": st.one_of(
            st.none(), st.lists(st.sampled_from(WORDS), max_size=3).map(" ".join)
        ),
    }
)


@st.composite
def candidate_filters(draw: st.DrawFn) -> CandidateFilters:
    maybe_count = st.one_of(st.none(), st.integers(0, 50))
    maybe_ratio = st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 2.0]))
    refs = st.lists(st.one_of(IDS, IDS.map(lambda i: f"@USER{i}")), max_size=4).map(tuple)
    keywords = st.lists(st.sampled_from(["python", "RUST", "crypto", "nft"]), max_size=2)
    try:
        return CandidateFilters(
            min_followers=draw(maybe_count),
            max_followers=draw(maybe_count),
            min_following=draw(maybe_count),
            max_following=draw(maybe_count),
            min_follower_ratio=draw(maybe_ratio),
            max_follower_ratio=draw(maybe_ratio),
            min_account_age_days=draw(st.one_of(st.none(), st.integers(0, 60))),
            exclude_protected=draw(st.booleans()),
            exclude_default_avatar=draw(st.booleans()),
            bio_include=tuple(draw(keywords)),
            bio_exclude=tuple(draw(keywords)),
            verified_only=draw(st.booleans()),
            exclude_verified=draw(st.booleans()),
            allowlist=draw(refs),
            denylist=draw(refs),
        )
    except ValidationError:
        return CandidateFilters()


def model_reason(
    uid: int,
    prof: dict[str, Any] | None,
    state: str,
    ledger: list[LedgerRow],
    f: CandidateFilters,
) -> str:
    """The reason the spec gives, written independently of the SQL."""
    mine = [r for r in ledger if r.target_id == uid]
    if any(r.status == "reserved" for r in mine):
        return "in_flight"
    if any(r.action == "unfollow" and r.status == "done" for r in mine):
        return "unfollowed_before"
    follows_done = [r for r in mine if r.action == "follow" and r.status == "done"]
    if any(r.outcome != "pending_follow" for r in follows_done):
        return "already_followed"
    if follows_done:
        return "already_pending"
    for r in mine:
        retryable = r.reason == RETRYABLE or r.outcome in RETRYABLE_OUTCOMES
        if r.action == "follow" and r.status == "failed" and not retryable:
            return "failed_permanently"
    name = f"user{uid}"
    refs = {str(x).lstrip("@").lower() if isinstance(x, str) else x for x in f.denylist}
    if uid in refs or (prof is not None and name in refs):  # names need a profile
        return "denylisted"
    if state in ("suspended", "deactivated"):
        return "inactive"
    allow = {str(x).lstrip("@").lower() if isinstance(x, str) else x for x in f.allowlist}
    if uid in allow or (prof is not None and name in allow):
        return "allowlisted"
    if prof is None:
        return "no_profile"
    fol, ing = prof["followers_count"], prof["following_count"]
    ratio = float("inf") if ing == 0 else fol / ing
    bio = (prof["description"] or "").lower()
    checks = [
        ("protected", f.exclude_protected and prof["protected"]),
        ("default_avatar", f.exclude_default_avatar and prof["default_profile_image"]),
        ("not_verified", f.verified_only and not prof["verified"]),
        ("verified", f.exclude_verified and prof["verified"]),
        ("too_few_followers", f.min_followers is not None and fol < f.min_followers),
        ("too_many_followers", f.max_followers is not None and fol > f.max_followers),
        ("too_few_following", f.min_following is not None and ing < f.min_following),
        ("too_many_following", f.max_following is not None and ing > f.max_following),
        ("ratio_too_low", f.min_follower_ratio is not None and ratio < f.min_follower_ratio),
        ("ratio_too_high", f.max_follower_ratio is not None and ratio > f.max_follower_ratio),
        (
            "account_too_new",
            f.min_account_age_days is not None and prof["age_days"] < f.min_account_age_days,
        ),
        ("missing_bio_keyword", bool(f.bio_include) and not any(k in bio for k in f.bio_include)),
        ("excluded_bio_keyword", any(k in bio for k in f.bio_exclude)),
    ]
    return next((reason for reason, hit in checks if hit), "included")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.frozensets(IDS, max_size=25),
    followers=st.frozensets(IDS, max_size=25),
    following=st.frozensets(IDS, max_size=25),
    profs=st.dictionaries(IDS, user_profiles),
    states=st.dictionaries(IDS, st.sampled_from(["suspended", "deactivated"]), max_size=3),
    ledger=st.lists(ledger_rows, max_size=15),
    filters=candidate_filters(),
    order=st.sampled_from(list(CandidateOrder)),
    limit=st.one_of(st.none(), st.integers(0, 10)),
)
def test_plan_matches_the_model(
    before: frozenset[int],
    followers: frozenset[int],
    following: frozenset[int],
    profs: dict[int, dict[str, Any]],
    states: dict[int, str],
    ledger: list[LedgerRow],
    filters: CandidateFilters,
    order: CandidateOrder,
    limit: int | None,
) -> None:
    con = memory_db()
    try:
        pages = [
            profile(
                uid,
                created_at=T0 - timedelta(days=p["age_days"]),
                **{k: v for k, v in p.items() if k != "age_days"},
            )
            for uid, p in profs.items()
        ]
        if before:
            snapshot(con, "followers", sorted(before), now=T0 - timedelta(days=1))
        snapshot(con, "followers", sorted(followers))
        snapshot(con, "following", sorted(following))
        if pages:
            snapshot(con, "following", profiles(pages), account_id=999)  # profiles only
        for uid, state in states.items():
            con.execute("UPDATE users SET state = ? WHERE user_id = ?", [state, uid])
        for r in ledger:
            ledger_row(
                con,
                r.target_id,
                action=r.action,
                status=r.status,
                outcome=r.outcome,
                reason=r.reason,
            )
        plan = plan_follow_back(con, ACCOUNT, filters, order, limit, now=T0)
    finally:
        con.close()

    candidates = followers - following
    rows = plan.rows.to_pylist()
    assert sorted(r["user_id"] for r in rows) == sorted(candidates)  # each exactly once
    assert len(set(plan.target_ids)) == len(plan.target_ids)
    assert set(plan.target_ids) <= candidates

    def state_of(uid: int) -> str:
        # A state needs a users row to live in.
        return states.get(uid, "active") if uid in profs else "active"

    expected = {
        uid: model_reason(uid, profs.get(uid), state_of(uid), ledger, filters) for uid in candidates
    }
    eligible = [r["user_id"] for r in rows if expected[r["user_id"]] in ("included", "allowlisted")]
    keep = eligible if limit is None else eligible[:limit]
    for r in rows:
        uid = r["user_id"]
        want = "beyond_limit" if uid in eligible and uid not in keep else expected[uid]
        assert r["reason"] == want, uid
        assert r["included"] == (uid in keep)
    assert list(plan.target_ids) == keep
    assert sum(plan.counts.values()) == len(candidates)

    # The order: newest followers are the ones gained after the baseline.
    gained = followers - before if before else frozenset()
    key = {
        CandidateOrder.NEWEST_FOLLOWERS_FIRST: lambda u: (u not in gained, -u),
        CandidateOrder.OLDEST_FIRST: lambda u: (u in gained, u),
        CandidateOrder.MOST_FOLLOWERS_FIRST: lambda u: (
            u not in profs,
            -profs[u]["followers_count"] if u in profs else 0,
            -u,
        ),
        CandidateOrder.FEWEST_FOLLOWERS_FIRST: lambda u: (
            u not in profs,
            profs[u]["followers_count"] if u in profs else 0,
            u,
        ),
    }[order]
    assert [r["user_id"] for r in rows] == sorted(candidates, key=key)
