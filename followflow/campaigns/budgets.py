"""The daily action budgets a campaign spends, and the time type the ledger takes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from followflow.settings import Settings

DAY_S = 86_400.0

Instant = datetime | float
"""A point in time: an aware datetime, or epoch seconds as a `followflow.clock` clock returns."""


@dataclass(frozen=True)
class Budgets:
    """Actions allowed per rolling window (X's caps by default: 400 / 1,000 / 500 per 24 h)."""

    follow_budget_per_user: int = 400
    follow_budget_per_app: int = 1000
    unfollow_budget_per_app: int = 500
    # The emulator can shorten X's day (`--day-seconds`); the ledger's window must match it.
    window_s: float = DAY_S

    def __post_init__(self) -> None:
        counts = (self.follow_budget_per_user, self.follow_budget_per_app)
        if min(*counts, self.unfollow_budget_per_app) < 0:
            raise ValueError("budgets cannot be negative")
        if self.window_s <= 0:
            raise ValueError("the budget window must be positive")

    @classmethod
    def from_settings(cls, settings: Settings, *, window_s: float = DAY_S) -> Budgets:
        """The budgets configured in Settings (each at most X's cap, Settings enforces it)."""
        return cls(
            follow_budget_per_user=settings.follow_budget_per_user,
            follow_budget_per_app=settings.follow_budget_per_app,
            unfollow_budget_per_app=settings.unfollow_budget_per_app,
            window_s=window_s,
        )


def as_utc(at: Instant) -> datetime:
    """An aware UTC datetime from a datetime or epoch seconds; naive datetimes are refused."""
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime or epoch seconds")
        return at.astimezone(UTC)
    return datetime.fromtimestamp(at, UTC)
