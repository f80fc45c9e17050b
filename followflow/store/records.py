"""Plain records the store returns; no DuckDB types leak out of the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Kind = Literal["followers", "following"]
Mode = Literal["full", "head"]
Status = Literal["running", "complete", "partial", "failed"]
LostReason = Literal["unfollowed", "suspended", "deactivated"]

KINDS: tuple[Kind, ...] = ("followers", "following")
MODES: tuple[Mode, ...] = ("full", "head")
LOST_REASONS: frozenset[str] = frozenset({"unfollowed", "suspended", "deactivated"})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One row of `snapshots`: a run reading one list of one account."""

    snapshot_id: int
    account_id: int
    kind: Kind
    mode: Mode
    status: Status
    started_at: datetime
    finished_at: datetime | None
    pages: int
    users_seen: int
    expected_count: int | None
    next_token: str | None
    gained: int | None
    lost: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a running snapshot stands: what the next page request needs."""

    snapshot_id: int
    account_id: int
    kind: Kind
    mode: Mode
    next_token: str | None
    pages_done: int
    users_seen: int
    expected_count: int | None
    started_at: datetime
    resumed: bool = False
    """True when start_or_resume picked up an earlier running or partial snapshot."""


@dataclass(frozen=True, slots=True)
class SnapshotDiff:
    """What applying a finished snapshot changed.

    `baseline` is True for the first complete full snapshot of an (account, kind): its
    edges are opened without events, since nobody knows when those follows began.
    """

    snapshot_id: int
    account_id: int
    kind: Kind
    mode: Mode
    baseline: bool
    count: int
    gained_ids: list[int] = field(default_factory=list)
    lost_ids: list[int] = field(default_factory=list)

    @property
    def gained(self) -> int:
        return len(self.gained_ids)

    @property
    def lost(self) -> int:
        return len(self.lost_ids)


def utc_now(now: datetime | None = None) -> datetime:
    """`now` (which must be timezone-aware) or the current UTC time."""
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("store timestamps must be timezone-aware (UTC)")
    return now


def check_kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return kind


def check_mode(mode: str) -> Mode:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode
