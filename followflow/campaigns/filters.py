"""Who a follow-back campaign may follow: the candidate filters and the candidate order.

`CandidateFilters` is frozen and validated, so a plan built from it can be explained and
reproduced from the parameters alone (a Prefect run stores them as its parameters).
The allowlist bypasses the profile filters but never the ledger or the denylist: a user who
allowlists a friend still must not follow them twice.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from followflow.form_schema import plain_optional_fields


class CandidateOrder(StrEnum):
    """The order in which included candidates are followed."""

    NEWEST_FOLLOWERS_FIRST = "newest_followers_first"
    OLDEST_FIRST = "oldest_first"
    MOST_FOLLOWERS_FIRST = "most_followers_first"
    FEWEST_FOLLOWERS_FIRST = "fewest_followers_first"


UserRef = int | str
"""A user id (int) or a username (str, matched case-insensitively, leading '@' ignored)."""


class CandidateFilters(BaseModel):
    """Profile filters for follow-back candidates; unset bounds do not filter."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=plain_optional_fields)

    min_followers: int | None = Field(
        default=None, ge=0, description="Skip candidates with fewer followers than this."
    )
    max_followers: int | None = Field(
        default=None, ge=0, description="Skip candidates with more followers than this."
    )
    min_following: int | None = Field(
        default=None, ge=0, description="Skip candidates who follow fewer accounts than this."
    )
    max_following: int | None = Field(
        default=None, ge=0, description="Skip candidates who follow more accounts than this."
    )
    min_follower_ratio: float | None = Field(
        default=None,
        ge=0,
        description="Skip candidates whose followers/following ratio is below this "
        "(following 0 counts as an infinite ratio).",
    )
    max_follower_ratio: float | None = Field(
        default=None,
        ge=0,
        description="Skip candidates whose followers/following ratio is above this.",
    )
    min_account_age_days: int | None = Field(
        default=None, ge=0, description="Skip accounts created fewer than this many days ago."
    )
    exclude_protected: bool = Field(
        default=True,
        description="Skip protected accounts: their follow ends pending and spends budget.",
    )
    exclude_default_avatar: bool = Field(
        default=False, description="Skip accounts that still have the default profile image."
    )
    bio_include: tuple[str, ...] = Field(
        default=(),
        description="Keep only candidates whose bio contains at least one of these "
        "(case-insensitive); empty keeps everyone.",
    )
    bio_exclude: tuple[str, ...] = Field(
        default=(),
        description="Skip candidates whose bio contains any of these (case-insensitive).",
    )
    verified_only: bool = Field(default=False, description="Keep only verified accounts.")
    exclude_verified: bool = Field(default=False, description="Skip verified accounts.")
    allowlist: tuple[UserRef, ...] = Field(
        default=(),
        description="User ids or usernames that bypass the profile filters "
        "(never the ledger or the denylist).",
    )
    denylist: tuple[UserRef, ...] = Field(
        default=(), description="User ids or usernames never to follow."
    )

    @field_validator("bio_include", "bio_exclude")
    @classmethod
    def _keywords(cls, words: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(w.strip().lower() for w in words)
        if any(not w for w in cleaned):
            raise ValueError("bio keywords must not be empty")
        return cleaned

    @model_validator(mode="after")
    def _consistent(self) -> CandidateFilters:
        pairs = (
            ("min_followers", "max_followers"),
            ("min_following", "max_following"),
            ("min_follower_ratio", "max_follower_ratio"),
        )
        for low, high in pairs:
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"{low} ({lo}) is above {high} ({hi})")
        if self.verified_only and self.exclude_verified:
            raise ValueError("verified_only and exclude_verified exclude everyone")
        return self

    def allowlist_ids(self) -> list[int]:
        """The allowlist's numeric ids."""
        return split_refs(self.allowlist)[0]

    def allowlist_usernames(self) -> list[str]:
        """The allowlist's usernames, lower-cased without '@'."""
        return split_refs(self.allowlist)[1]

    def denylist_ids(self) -> list[int]:
        """The denylist's numeric ids."""
        return split_refs(self.denylist)[0]

    def denylist_usernames(self) -> list[str]:
        """The denylist's usernames, lower-cased without '@'."""
        return split_refs(self.denylist)[1]


def split_refs(refs: tuple[UserRef, ...] | list[UserRef]) -> tuple[list[int], list[str]]:
    """Split user references into ids and normalised usernames ('@Name' -> 'name')."""
    ids = [r for r in refs if isinstance(r, int)]
    names = [r.strip().lstrip("@").lower() for r in refs if isinstance(r, str)]
    return ids, [n for n in names if n]
