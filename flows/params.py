"""Flow parameters as typed pydantic models: the Prefect UI renders them as forms.

Every field has a description (shown under the field in the UI) and bounds, so a bad
value is rejected with a clear message before any API call is made. Optional numbers are
published as plain number fields that may be left empty (`followflow.form_schema`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from followflow.campaigns.filters import CandidateFilters, CandidateOrder
from followflow.form_schema import plain_optional_fields

ACCOUNT_PATTERN = r"^@?[A-Za-z0-9_]{1,15}$|^[0-9]{1,19}$"
# A flow run is a process of its own, ~4-5 CPU seconds to start: a fleet is read fastest in
# one run per worker host (500 accounts on three hosts: 36.0-42.0 s in three runs, 49.7 s
# in six; BENCHMARKS.md). A run holds a thread per long list, so it is bounded all the same.
MAX_ACCOUNTS_PER_RUN = 250


def normalize_account(value: str) -> str:
    """Strip whitespace and a leading '@'; numeric strings stay ids."""
    return value.strip().removeprefix("@")


class SnapshotParams(BaseModel):
    """What `snapshot-followers` reads and how."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=plain_optional_fields)

    accounts: list[str] = Field(
        min_length=1,
        max_length=MAX_ACCOUNTS_PER_RUN,
        description="Usernames (with or without @) or numeric user ids of the accounts "
        f"(at most {MAX_ACCOUNTS_PER_RUN} a run).",
    )
    lists: Literal["followers", "following", "both"] = Field(
        default="both", description="Which lists to read."
    )
    mode: Literal["full", "head"] = Field(
        default="full",
        description="full: read whole lists and record gains and losses. head: read only "
        "until already-known followers appear, record new followers, never losses (cheap).",
    )
    max_reads: int | None = Field(
        default=None,
        ge=1,
        description="Stop before reading more users than this in this run "
        "(overrides FOLLOWFLOW_MAX_READS_PER_RUN).",
    )

    # Before pydantic's own length check, whose message does not say what to do;
    # max_length stays, for the form's schema (the UI).
    @field_validator("accounts", mode="before")
    @classmethod
    def _at_most_a_run(cls, accounts: object) -> object:
        if isinstance(accounts, list) and len(accounts) > MAX_ACCOUNTS_PER_RUN:
            raise ValueError(
                f"{len(accounts)} accounts in one run; at most {MAX_ACCOUNTS_PER_RUN}: split "
                "them over several runs (one per worker host reads a fleet fastest)"
            )
        return accounts

    @field_validator("accounts")
    @classmethod
    def _valid_accounts(cls, accounts: list[str]) -> list[str]:
        import re

        cleaned = [normalize_account(account) for account in accounts]
        bad = [raw for raw, account in zip(accounts, cleaned, strict=True) if not account]
        bad += [a for a in cleaned if a and not re.fullmatch(ACCOUNT_PATTERN, a)]
        if bad:
            raise ValueError(
                f"not a username or user id: {', '.join(repr(b) for b in bad)} "
                "(usernames are 1-15 letters, digits or _; ids are digits)"
            )
        return list(dict.fromkeys(cleaned))


class FollowBackParams(BaseModel):
    """What `follow-back` may follow, and whether it really does."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=plain_optional_fields)

    account: str = Field(
        pattern=ACCOUNT_PATTERN, description="Username or user id of the account that follows."
    )
    live: bool = Field(
        default=False, description="Really follow. Off: plan and report only (a dry run)."
    )
    approved: bool = Field(
        default=False,
        description="The plan is approved in advance (scheduled runs). Off: a live run "
        "pauses with its plan and waits for approval in the UI.",
    )
    max_follows: int = Field(
        default=50,
        ge=0,
        le=400,
        description="Most follows this run may send (also bounded by the daily budgets).",
    )
    filters: CandidateFilters = Field(
        default_factory=CandidateFilters, description="Who qualifies as a candidate."
    )
    order: CandidateOrder = Field(
        default=CandidateOrder.NEWEST_FOLLOWERS_FIRST, description="Who is followed first."
    )
    spread_over_day: bool = Field(
        default=True,
        description="Spread the day's budget over the day instead of sending in one burst.",
    )
    refresh: Literal["head", "full", "none"] = Field(
        default="head",
        description="Snapshot to take first: head (new followers only, cheap), full, or none.",
    )
    approval_timeout_s: int = Field(
        default=3600,
        ge=60,
        le=7 * 86_400,
        description="How long a live run waits for approval before failing. Waits over an "
        "hour suspend the run (no process held) when it runs from a deployment.",
    )

    @field_validator("account")
    @classmethod
    def _strip(cls, account: str) -> str:
        return normalize_account(account)


class UnfollowCleanupParams(BaseModel):
    """Which accounts `unfollow-cleanup` may unfollow."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=plain_optional_fields)

    account: str = Field(
        pattern=ACCOUNT_PATTERN, description="Username or user id of the account that unfollows."
    )
    live: bool = Field(default=False, description="Really unfollow. Off: plan and report only.")
    batch_size: int = Field(default=25, ge=1, le=100, description="Unfollows per approved batch.")
    max_unfollows: int = Field(
        default=50, ge=0, le=500, description="Most unfollows this run may send."
    )
    grace_days: int | None = Field(
        default=None,
        ge=1,
        le=365,
        description="Only accounts followed at least this many days ago "
        "(default: FOLLOWFLOW_UNFOLLOW_GRACE_DAYS).",
    )
    allowlist: list[str] = Field(
        default_factory=list, description="Usernames or ids never to unfollow."
    )
    approval_timeout_s: int = Field(
        default=3600, ge=60, le=7 * 86_400, description="How long each batch waits for approval."
    )

    @field_validator("account")
    @classmethod
    def _strip(cls, account: str) -> str:
        return normalize_account(account)
