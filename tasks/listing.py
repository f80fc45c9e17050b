"""What a listing is about and how it ended: the account, the run's read cap, the outcome.

A listing is one list (followers or following) of one account, read in one snapshot run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["followers", "following"]
Status = Literal["complete", "partial", "failed", "skipped"]


@dataclass(frozen=True)
class Account:
    """An account resolved from a username or id, with its list sizes from the profile."""

    id: int
    username: str
    followers_count: int
    following_count: int

    def expected(self, kind: Kind) -> int:
        return self.followers_count if kind == "followers" else self.following_count


@dataclass
class ListOutcome:
    """How reading one list ended."""

    account: str
    account_id: int
    kind: Kind
    mode: str
    status: Status
    snapshot_id: int | None = None
    pages: int = 0
    users_read: int = 0
    requests: int = 0
    gained_ids: list[int] = field(default_factory=list)
    lost_ids: list[int] = field(default_factory=list)
    lost_reasons: dict[int, str] = field(default_factory=dict)
    baseline: bool = False
    error: str | None = None


class ReadCapReached(Exception):
    """The run's read cap would be exceeded by the next page."""


class ReadBudget:
    """Users a run may still read (FOLLOWFLOW_MAX_READS_PER_RUN), shared by its listings."""

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.read = 0
        self._lock = threading.Lock()

    def allows(self, users: int) -> bool:
        with self._lock:
            return self.cap is None or self.read + users <= self.cap

    def spend(self, users: int) -> None:
        with self._lock:
            self.read += users

    def exceeded(self) -> ReadCapReached:
        """The error that ends a listing the cap cannot pay the next page of."""
        return ReadCapReached(
            f"the run's read cap of {self.cap} users would be exceeded; "
            "raise FOLLOWFLOW_MAX_READS_PER_RUN or --max-reads to read on"
        )
