"""Rate limits as data: parsed from every response's headers, kept per bucket.

A bucket is (endpoint group, principal): X counts requests per endpoint and per app
(bearer) or per user token. `Bucket.name` is `x:<group>:<principal>`, the name of the
Prefect global concurrency limit that coordinates the bucket across processes.

Two kinds of limit, two kinds of header (REFERENCE §3):
* the 15-minute window: `x-rate-limit-limit/-remaining/-reset`;
* 24-hour caps: `x-user-limit-24hour-*` (per account) and `x-app-limit-24hour-*` (per app,
  across all its accounts, so it is keyed by the group and "app" whatever the principal).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Literal, NamedTuple

import httpx

DayScope = Literal["user", "app"]

# Endpoint groups: one per X endpoint followflow calls, each with its own limits (REFERENCE §3.2).
FOLLOWERS = "followers"
FOLLOWING = "following"
FOLLOW = "follow"
UNFOLLOW = "unfollow"
ME = "me"
# All four user lookups (/2/users?ids=, /2/users/:id, /2/users/by?usernames=,
# /2/users/by/username/:u) as one bucket, as the emulator counts them: conservative if X
# counts them apart, right if it does not.
LOOKUP = "lookup"

_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(r"^/2/users/me$"), ME),
    ("GET", re.compile(r"^/2/users/\d+/followers$"), FOLLOWERS),
    ("GET", re.compile(r"^/2/users/\d+/following$"), FOLLOWING),
    ("POST", re.compile(r"^/2/users/\d+/following$"), FOLLOW),
    ("DELETE", re.compile(r"^/2/users/\d+/following/\d+$"), UNFOLLOW),
    ("GET", re.compile(r"^/2/users/by(/username/[^/]+)?$"), LOOKUP),
    ("GET", re.compile(r"^/2/users(/\d+)?$"), LOOKUP),
)


def group_for(method: str, path: str) -> str:
    """The endpoint group of a request; raises ValueError for a route followflow never calls."""
    for route_method, pattern, group in _ROUTES:
        if method == route_method and pattern.match(path):
            return group
    raise ValueError(f"no rate-limit group for {method} {path}")


class Bucket(NamedTuple):
    """One rate-limit bucket: an endpoint group as seen by one principal."""

    group: str
    principal: str  # "app" or "user-<id>"; never a secret

    @property
    def name(self) -> str:
        return f"x:{self.group}:{self.principal}"


def _number(headers: httpx.Headers, name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The 15-minute window of one bucket as last reported by X."""

    limit: int | None
    remaining: int | None
    reset_at: float | None  # epoch seconds (x-rate-limit-reset)

    @classmethod
    def from_headers(cls, headers: httpx.Headers) -> RateLimit | None:
        """Parse whichever window headers are present; None when there are none at all."""
        limit = _number(headers, "x-rate-limit-limit")
        remaining = _number(headers, "x-rate-limit-remaining")
        reset_at = _number(headers, "x-rate-limit-reset")
        if limit is None and remaining is None and reset_at is None:
            return None
        return cls(
            None if limit is None else int(limit),
            None if remaining is None else int(remaining),
            reset_at,
        )

    def exhausted(self, now: float) -> bool:
        """Known to be empty right now (remaining 0 and the reset still ahead)."""
        return self.remaining == 0 and self.reset_at is not None and self.reset_at > now


@dataclass(frozen=True, slots=True)
class DailyLimit:
    """A 24-hour cap (per user or per app) as last reported by X."""

    scope: DayScope
    limit: int | None
    remaining: int
    reset_at: float | None

    @classmethod
    def all_from_headers(cls, headers: httpx.Headers) -> list[DailyLimit]:
        """The 24-hour caps present in the headers (none, user, app or both)."""
        found = []
        for scope in ("user", "app"):
            prefix = f"x-{scope}-limit-24hour-"
            remaining = _number(headers, prefix + "remaining")
            if remaining is None:
                continue
            limit = _number(headers, prefix + "limit")
            found.append(
                cls(
                    scope,
                    None if limit is None else int(limit),
                    int(remaining),
                    _number(headers, prefix + "reset"),
                )
            )
        return found

    def spent(self, now: float) -> bool:
        """Known to be spent right now (no reset known counts as still spent)."""
        return self.remaining <= 0 and (self.reset_at is None or self.reset_at > now)


class RateLimitState:
    """What the headers said about every bucket this process has used. Thread-safe.

    Share one instance between clients of the same app (pass it to XClient) so that an app's
    spent 24-hour cap seen by one account's client stops the others too.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[Bucket, RateLimit] = {}
        self._days: dict[tuple[str, str], DailyLimit] = {}

    def get(self, bucket: Bucket) -> RateLimit | None:
        """The last known 15-minute window of a bucket."""
        with self._lock:
            return self._windows.get(bucket)

    def daily(self, bucket: Bucket) -> list[DailyLimit]:
        """The last known 24-hour caps that apply to a bucket (user cap, app cap)."""
        with self._lock:
            keys = [(bucket.group, bucket.principal), (bucket.group, "app")]
            return [self._days[k] for k in keys if k in self._days]

    def update(self, bucket: Bucket, headers: httpx.Headers) -> RateLimit | None:
        """Record the limits in a response's headers; returns the window parsed from them."""
        window = RateLimit.from_headers(headers)
        days = DailyLimit.all_from_headers(headers)
        with self._lock:
            if window is not None:
                known = self._windows.get(bucket)
                # A 429 may omit headers: keep what we knew instead of forgetting it.
                if known is not None:
                    window = RateLimit(
                        window.limit if window.limit is not None else known.limit,
                        window.remaining,
                        window.reset_at if window.reset_at is not None else known.reset_at,
                    )
                self._windows[bucket] = window
            for day in days:
                principal = "app" if day.scope == "app" else bucket.principal
                self._days[(bucket.group, principal)] = day
        return window

    def mark_spent(self, bucket: Bucket, reset_at: float | None) -> None:
        """Record that a 429 said the window is empty, even if its headers did not say so."""
        with self._lock:
            known = self._windows.get(bucket)
            limit = known.limit if known else None
            reset = reset_at if reset_at is not None else (known.reset_at if known else None)
            self._windows[bucket] = RateLimit(limit, 0, reset)

    def spent_daily(self, bucket: Bucket, now: float) -> DailyLimit | None:
        """A 24-hour cap known to be spent for this bucket (the one resetting last), or None."""
        spent = [d for d in self.daily(bucket) if d.spent(now)]
        if not spent:
            return None
        return max(spent, key=lambda d: d.reset_at if d.reset_at is not None else float("inf"))
