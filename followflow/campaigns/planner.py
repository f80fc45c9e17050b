"""Campaign plans in the store's SQL: who to follow back (or unfollow), each with a reason.

Every follower the account does not follow appears in a follow-back plan exactly once,
included or not, with the first reason that applies (REASON_PRIORITY order), so a plan can
be explained in an approval dialog or a report. The ledger (`actions`) is consulted as well
as the snapshots, because a snapshot can be older than the last campaign.

A plan keeps every user's id, date and reason, but the profile (name, counts) of only its
first DESCRIBED_ROWS users, the most a report shows: on PostgreSQL each value of a
million-row answer costs the server and psycopg, and a clean-up plan's million profiles
were a third of its time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from followflow.campaigns.budgets import Instant, as_utc
from followflow.campaigns.filters import CandidateFilters, CandidateOrder, UserRef, split_refs
from followflow.campaigns.ledger import RETRYABLE, RETRYABLE_OUTCOMES
from followflow.campaigns.plan_query import DESCRIBED_ROWS, read_plan, seen_at
from followflow.campaigns.spending import BudgetStatus
from followflow.store.dialect import Connection

INCLUDED = "included"
ALLOWLISTED = "allowlisted"
BEYOND_LIMIT = "beyond_limit"

FOLLOW_REASONS = (
    "in_flight",  # a reservation awaits its outcome
    "unfollowed_before",
    "already_followed",  # the ledger says so, the snapshot is older
    "already_pending",  # requested before: pending, or declined since; never asked again
    "failed_permanently",
    "denylisted",
    "inactive",  # suspended or deactivated
    ALLOWLISTED,  # included: bypasses the profile filters below
    "no_profile",
    "protected",
    "default_avatar",
    "not_verified",
    "verified",
    "too_few_followers",
    "too_many_followers",
    "too_few_following",
    "too_many_following",
    "ratio_too_low",
    "ratio_too_high",
    "account_too_new",
    "missing_bio_keyword",
    "excluded_bio_keyword",
    INCLUDED,
    BEYOND_LIMIT,  # would be included, but past the plan's limit
)
UNFOLLOW_REASONS = (
    "in_flight",
    "already_unfollowed",
    "follows_back",
    ALLOWLISTED,
    "within_grace",
    INCLUDED,
    BEYOND_LIMIT,
)

# A plan's SQL answers each reason as its index in FOLLOW_REASONS or UNFOLLOW_REASONS: a
# small integer per row is cheaper to send and convert than the text, for a million rows.
FOLLOW = {reason: code for code, reason in enumerate(FOLLOW_REASONS)}
UNFOLLOW = {reason: code for code, reason in enumerate(UNFOLLOW_REASONS)}

# seen_at is the follower's latest 'gained' event. Followers from the baseline snapshot have
# none (NULL): they are older than every gained one. Ties (one snapshot) go by user id, as X's
# newest-first position is not stored.
_ORDER_SQL = {
    CandidateOrder.NEWEST_FOLLOWERS_FIRST: "seen_at DESC NULLS LAST, user_id DESC",
    CandidateOrder.OLDEST_FIRST: "seen_at ASC NULLS FIRST, user_id ASC",
    CandidateOrder.MOST_FOLLOWERS_FIRST: "followers_count DESC NULLS LAST, user_id DESC",
    CandidateOrder.FEWEST_FOLLOWERS_FIRST: "followers_count ASC NULLS LAST, user_id ASC",
}


@dataclass(frozen=True)
class PlanRow:
    """One user of a plan and why they are in or out."""

    user_id: int
    username: str | None
    followers_count: int | None
    following_count: int | None
    at: datetime | None  # follower first seen (follow-back) or followed since (clean-up)
    reason: str
    included: bool


@dataclass(frozen=True, eq=False)
class Plan:
    """An ordered, explained plan; `target_ids` are the users to act on, in order."""

    kind: Literal["follow", "unfollow"]
    account_id: int
    created_at: datetime
    target_ids: tuple[int, ...]
    counts: Mapping[str, int]
    rows: pa.Table = field(repr=False)  # every user considered, in campaign order
    profiles: pa.Table = field(repr=False)  # of the first DESCRIBED_ROWS users in `rows`

    @property
    def considered(self) -> int:
        """How many users the plan looked at."""
        return int(self.rows.num_rows)

    def first_rows(self, n: int) -> list[PlanRow]:
        """The first n users in campaign order (at most DESCRIBED_ROWS), included or not."""
        head = self.rows.slice(0, min(max(n, 0), DESCRIBED_ROWS)).to_pylist()
        profiles = {p["user_id"]: p for p in self.profiles.to_pylist()}
        no_profile: dict[str, Any] = {}
        return [
            PlanRow(
                user_id=r["user_id"],
                username=profiles.get(r["user_id"], no_profile).get("username"),
                followers_count=profiles.get(r["user_id"], no_profile).get("followers_count"),
                following_count=profiles.get(r["user_id"], no_profile).get("following_count"),
                at=r["seen_at"],
                reason=r["reason"],
                included=r["included"],
            )
            for r in head
        ]

    def reason_of(self, user_id: int) -> str | None:
        """The reason given for one user (None if the plan did not consider them)."""
        mask = pc.equal(self.rows["user_id"], pa.scalar(user_id, pa.int64()))
        hit = self.rows.filter(mask)
        return None if hit.num_rows == 0 else str(hit["reason"][0].as_py())

    def as_markdown(self, max_rows: int = 20, budget: BudgetStatus | None = None) -> str:
        """The plan for a human: counts, budget left, and the first users with reasons."""
        verb = "follow" if self.kind == "follow" else "unfollow"
        lines = [
            f"**{verb} plan for account {self.account_id}**: "
            f"{len(self.target_ids)} to {verb} out of {self.considered} considered.",
            "",
        ]
        if budget is not None:
            left = budget.follows_left if self.kind == "follow" else budget.unfollows_left
            resets = [ln.next_reset for ln in budget.lines() if ln.next_reset is not None]
            when = f", next reset {min(resets):%Y-%m-%d %H:%M} UTC" if resets else ""
            lines += [f"Budget left: **{left}** {verb}s{when}.", ""]
        lines += ["| reason | users |", "|---|---:|"]
        lines += [f"| {reason} | {n} |" for reason, n in self.counts.items()]
        shown = self.first_rows(max_rows)
        if shown:
            lines += [
                "",
                f"First {len(shown)} in order:",
                "",
                "| # | user | followers | following | in | reason |",
                "|---:|---|---:|---:|:---:|---|",
            ]
            for i, r in enumerate(shown, 1):
                who = f"@{r.username} ({r.user_id})" if r.username else str(r.user_id)
                mark = "yes" if r.included else "no"
                lines.append(
                    f"| {i} | {who} | {_num(r.followers_count)} | {_num(r.following_count)} "
                    f"| {mark} | {r.reason} |"
                )
        return "\n".join(lines) + "\n"


def _num(n: int | None) -> str:
    return "" if n is None else f"{n:,}"


_LEDGER_CTE = f"""
ledger AS (
    SELECT target_id,
        bool_or(status = 'reserved') AS in_flight,
        bool_or(action = 'unfollow' AND status = 'done') AS unfollowed,
        bool_or(action = 'follow' AND status = 'done'
                AND coalesce(outcome, '') <> 'pending_follow') AS followed,
        bool_or(action = 'follow' AND status = 'done' AND outcome = 'pending_follow') AS pending,
        bool_or(action = 'follow' AND status = 'failed'
                AND coalesce(reason, '') <> '{RETRYABLE}'
                AND coalesce(outcome, '') NOT IN ({", ".join(f"'{o}'" for o in RETRYABLE_OUTCOMES)})
        ) AS failed_permanently
    FROM actions WHERE account_id = $account
    GROUP BY target_id
)"""


def plan_follow_back(
    con: Connection,
    account_id: int,
    filters: CandidateFilters | None = None,
    order: CandidateOrder = CandidateOrder.NEWEST_FOLLOWERS_FIRST,
    limit: int | None = None,
    *,
    now: Instant | None = None,
) -> Plan:
    """Plan a follow-back: every follower not followed, each with the reason it is in or out.

    `now` (default: the current time) dates the plan and measures account age.
    """
    filters = filters or CandidateFilters()
    at = _now(now)
    checks, params = _filter_checks(filters, at)
    deny_ids, deny_names = split_refs(filters.denylist)
    allow_ids, allow_names = split_refs(filters.allowlist)
    params |= {
        "account": account_id,
        "deny_ids": deny_ids,
        "deny_names": deny_names,
        "allow_ids": allow_ids,
        "allow_names": allow_names,
    }
    filter_cases = "\n".join(f"WHEN {cond} THEN {FOLLOW[reason]}" for reason, cond in checks)
    sql = f"""
    WITH candidates AS (
        SELECT f.follower_id AS user_id
        FROM current_followers f
        WHERE f.account_id = $account AND NOT EXISTS (
            SELECT 1 FROM current_following g
            WHERE g.account_id = $account AND g.followed_id = f.follower_id)
    ),
    seen AS (
        SELECT user_id, max("at") AS seen_at FROM follower_events
        WHERE account_id = $account AND event = 'gained'
        GROUP BY user_id
    ),
    {_LEDGER_CTE},
    judged AS (
        SELECT c.user_id, u.followers_count, s.seen_at,  -- followers_count: for the order
            CASE
                WHEN l.in_flight THEN {FOLLOW["in_flight"]}
                WHEN l.unfollowed THEN {FOLLOW["unfollowed_before"]}
                WHEN l.followed THEN {FOLLOW["already_followed"]}
                WHEN l.pending THEN {FOLLOW["already_pending"]}
                WHEN l.failed_permanently THEN {FOLLOW["failed_permanently"]}
                WHEN c.user_id = ANY($deny_ids::BIGINT[])
                    OR lower(u.username) = ANY($deny_names::VARCHAR[])
                    THEN {FOLLOW["denylisted"]}
                WHEN u.state IN ('suspended', 'deactivated') THEN {FOLLOW["inactive"]}
                WHEN c.user_id = ANY($allow_ids::BIGINT[])
                    OR lower(u.username) = ANY($allow_names::VARCHAR[])
                    THEN {FOLLOW[ALLOWLISTED]}
                WHEN u.user_id IS NULL THEN {FOLLOW["no_profile"]}
                {filter_cases}
                ELSE {FOLLOW[INCLUDED]}
            END AS reason
        FROM candidates c
        LEFT JOIN users u ON u.user_id = c.user_id
        LEFT JOIN seen s ON s.user_id = c.user_id
        LEFT JOIN ledger l ON l.target_id = c.user_id
    )
    SELECT user_id, {seen_at(con)}, reason
    FROM judged
    ORDER BY {_ORDER_SQL[CandidateOrder(order)]}
    """
    return _finish("follow", account_id, at, *read_plan(con, sql, params), limit)


def plan_unfollow_cleanup(
    con: Connection,
    account_id: int,
    grace_days: float,
    allowlist: Sequence[UserRef] = (),
    now: Instant | None = None,
    *,
    limit: int | None = None,
) -> Plan:
    """Plan a clean-up: every account we follow; included if followed at least `grace_days`
    ago, not following back, not allowlisted. Longest-followed first.
    """
    at = _now(now)
    allow_ids, allow_names = split_refs(list(allowlist))
    params: dict[str, Any] = {
        "account": account_id,
        "allow_ids": allow_ids,
        "allow_names": allow_names,
        "cutoff": at - timedelta(days=grace_days),
    }
    sql = f"""
    WITH {_LEDGER_CTE}
    SELECT g.followed_id AS user_id, {seen_at(con, "g.since")},
        CASE
            WHEN l.in_flight THEN {UNFOLLOW["in_flight"]}
            WHEN l.unfollowed THEN {UNFOLLOW["already_unfollowed"]}
            WHEN f.follower_id IS NOT NULL THEN {UNFOLLOW["follows_back"]}
            WHEN g.followed_id = ANY($allow_ids::BIGINT[])
                OR lower(u.username) = ANY($allow_names::VARCHAR[])
                THEN {UNFOLLOW[ALLOWLISTED]}
            WHEN g.since IS NULL OR g.since > $cutoff THEN {UNFOLLOW["within_grace"]}
            ELSE {UNFOLLOW[INCLUDED]}
        END AS reason
    -- following_since holds exactly the current following edges, with their start.
    FROM following_since g
    LEFT JOIN (SELECT follower_id FROM current_followers WHERE account_id = $account) f
        ON f.follower_id = g.followed_id
    LEFT JOIN users u ON u.user_id = g.followed_id
    LEFT JOIN ledger l ON l.target_id = g.followed_id
    WHERE g.account_id = $account
    ORDER BY seen_at ASC NULLS LAST, user_id ASC
    """
    return _finish("unfollow", account_id, at, *read_plan(con, sql, params), limit)


def _filter_checks(
    filters: CandidateFilters, at: datetime
) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """(reason, SQL condition) pairs in reason order, with their parameters."""
    checks: list[tuple[str, str]] = []
    params: dict[str, Any] = {}
    ratio = (
        # Cast before dividing: PostgreSQL divides integers as integers.
        "(CASE WHEN coalesce(u.following_count, 0) = 0 THEN CAST('inf' AS DOUBLE PRECISION) "
        "ELSE CAST(coalesce(u.followers_count, 0) AS DOUBLE PRECISION) / u.following_count END)"
    )
    bio = "lower(coalesce(u.description, ''))"
    if filters.exclude_protected:
        checks.append(("protected", "coalesce(u.protected, false)"))
    if filters.exclude_default_avatar:
        checks.append(("default_avatar", "coalesce(u.default_profile_image, false)"))
    if filters.verified_only:
        checks.append(("not_verified", "NOT coalesce(u.verified, false)"))
    if filters.exclude_verified:
        checks.append(("verified", "coalesce(u.verified, false)"))
    bounds = (
        ("too_few_followers", "min_followers", "coalesce(u.followers_count, 0) <"),
        ("too_many_followers", "max_followers", "coalesce(u.followers_count, 0) >"),
        ("too_few_following", "min_following", "coalesce(u.following_count, 0) <"),
        ("too_many_following", "max_following", "coalesce(u.following_count, 0) >"),
        ("ratio_too_low", "min_follower_ratio", f"{ratio} <"),
        ("ratio_too_high", "max_follower_ratio", f"{ratio} >"),
    )
    for reason, name, compare in bounds:
        value = getattr(filters, name)
        if value is not None:
            checks.append((reason, f"{compare} ${name}"))
            params[name] = value
    if filters.min_account_age_days is not None:
        params["born_before"] = at - timedelta(days=filters.min_account_age_days)
        checks.append(("account_too_new", "coalesce(u.created_at > $born_before, true)"))
    if filters.bio_include:
        names = _keyword_params(params, "inc", filters.bio_include)
        checks.append(
            (
                "missing_bio_keyword",
                "NOT (" + " OR ".join(f"strpos({bio}, ${n}) > 0" for n in names) + ")",
            )
        )
    if filters.bio_exclude:
        names = _keyword_params(params, "exc", filters.bio_exclude)
        checks.append(
            ("excluded_bio_keyword", " OR ".join(f"strpos({bio}, ${n}) > 0" for n in names))
        )
    return checks, params


def _keyword_params(params: dict[str, Any], prefix: str, words: tuple[str, ...]) -> list[str]:
    names = [f"{prefix}{i}" for i in range(len(words))]
    params.update(zip(names, words, strict=True))
    return names


def _finish(
    kind: Literal["follow", "unfollow"],
    account_id: int,
    at: datetime,
    table: pa.Table,
    profiles: pa.Table,
    limit: int | None,
) -> Plan:
    order = FOLLOW_REASONS if kind == "follow" else UNFOLLOW_REASONS
    reasons = pc.take(pa.array(order, pa.string()), table["reason"])
    # An allowlisted follower is followed; an allowlisted followee is kept.
    taken = [INCLUDED, ALLOWLISTED] if kind == "follow" else [INCLUDED]
    included = pc.is_in(reasons, pa.array(taken, pa.string()))
    if limit is not None:
        # Rows arrive in campaign order, so the first `limit` included rows are the plan.
        rank = pc.cumulative_sum(pc.cast(included, pa.int64()))
        over = pc.and_(included, pc.greater(rank, max(limit, 0)))
        reasons = pc.if_else(over, pa.scalar(BEYOND_LIMIT), reasons)
        included = pc.and_(included, pc.invert(over))
    table = table.set_column(table.schema.get_field_index("reason"), "reason", reasons)
    table = table.append_column("included", included)
    targets = table.filter(included)["user_id"].to_pylist()
    found = {str(v["values"]): int(v["counts"]) for v in pc.value_counts(reasons).to_pylist()}
    counts = {r: found[r] for r in order if r in found}
    return Plan(kind, account_id, at, tuple(targets), counts, table, profiles)


def _now(now: Instant | None) -> datetime:
    return as_utc(now) if now is not None else datetime.now(UTC)
