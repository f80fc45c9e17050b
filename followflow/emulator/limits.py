"""Rate limits: fixed 15-minute windows per endpoint group and principal, and 24-hour caps.

A window opens at the whole second of the first request after the previous one closed and
lasts `window_seconds`; `x-rate-limit-reset` is its end in epoch seconds of the emulator
clock, rounded up (a client that sleeps until the reset never arrives early). Opening on a
whole second keeps that reset exact for whole-second windows, as X's integer resets are, so
a client that waits for it loses no time to rounding. App-only requests
count against the app's limit, user-context requests against that user's (REFERENCE §3.2).

The 24-hour caps (REFERENCE §3.3: follows 400 per user and 1,000 per app, unfollows 500 per
app) are days of `day_seconds` that open with the first action. Every follow and unfollow
response carries the `x-user-limit-24hour-*` / `x-app-limit-24hour-*` headers of the caps
that apply to it (as X sends them on POST /2/tweets; whether it does on the follows
endpoints is unknown, REFERENCE §8.11); a cap that is spent shows `-remaining: 0` and the
request is answered 429 while `x-rate-limit-remaining` can still be above 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Group = Literal["followers", "following", "follow", "unfollow", "me", "lookup"]
PrincipalKind = Literal["app", "user"]
Action = Literal["follow", "unfollow"]

# (per app, per user) requests per window; None: the group takes no app-only requests.
PRESETS: dict[str, dict[str, tuple[int | None, int]]] = {
    "v2-2023": {
        "followers": (15, 15),
        "following": (15, 15),
        "follow": (None, 50),
        "unfollow": (None, 50),
        "me": (None, 75),
        "lookup": (300, 900),
    },
    "v2-2026": {
        "followers": (300, 300),
        "following": (300, 300),
        "follow": (None, 50),
        "unfollow": (None, 50),
        "me": (None, 75),
        "lookup": (300, 900),
    },
}
DAY_CAPS: dict[tuple[str, str], int] = {
    ("follow", "user"): 400,
    ("follow", "app"): 1000,
    ("unfollow", "app"): 500,
}
UNLIMITED = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Quota:
    """One window or day as a client sees it in the headers."""

    limit: int
    remaining: int
    reset: int
    allowed: bool

    def window_headers(self) -> dict[str, str]:
        return {
            "x-rate-limit-limit": str(self.limit),
            "x-rate-limit-remaining": str(self.remaining),
            "x-rate-limit-reset": str(self.reset),
        }


class _Span:
    __slots__ = ("count", "start")

    def __init__(self, start: float) -> None:
        self.start, self.count = start, 0


def _opening(now: float) -> float:
    """When a window or day opened by a request at `now` starts: its whole second."""
    return float(math.floor(now))


class RateLimiter:
    """Counts requests per (group, principal) window and actions per 24-hour day."""

    def __init__(
        self,
        preset: str = "v2-2023",
        window_seconds: float = 900.0,
        day_seconds: float = 86_400.0,
        enabled: bool = True,
    ) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}: use one of {', '.join(PRESETS)}")
        if window_seconds <= 0 or day_seconds <= 0:
            raise ValueError("window_seconds and day_seconds must be positive")
        self.preset = preset
        self.window_seconds, self.day_seconds = window_seconds, day_seconds
        self.enabled = enabled
        self.day_caps = dict(DAY_CAPS)
        self._windows: dict[tuple[str, str], _Span] = {}
        self._days: dict[tuple[str, str, str], _Span] = {}

    def _limit(self, group: Group, kind: PrincipalKind) -> int:
        app, user = PRESETS[self.preset][group]
        return app if kind == "app" and app is not None else user

    def hit(self, group: Group, kind: PrincipalKind, bucket: str, now: float) -> Quota:
        """Count one request; `allowed` is False (and nothing counted) when the window is spent."""
        return self._window(group, kind, bucket, now, consume=True)

    def peek(self, group: Group, kind: PrincipalKind, bucket: str, now: float) -> Quota:
        """The window as it stands, counting nothing (for responses that were not served)."""
        return self._window(group, kind, bucket, now, consume=False)

    def _window(
        self, group: Group, kind: PrincipalKind, bucket: str, now: float, *, consume: bool
    ) -> Quota:
        if not self.enabled:
            reset = math.ceil(now + self.window_seconds)
            return Quota(UNLIMITED, UNLIMITED, reset, True)
        limit = self._limit(group, kind)
        key = (group, bucket)
        span = self._windows.get(key)
        if span is None or now >= span.start + self.window_seconds:
            if not consume:
                return Quota(limit, limit, math.ceil(now + self.window_seconds), True)
            span = _Span(_opening(now))
            self._windows[key] = span
        reset = math.ceil(span.start + self.window_seconds)
        if span.count >= limit:
            return Quota(limit, 0, reset, False)
        if consume:
            span.count += 1
        return Quota(limit, limit - span.count, reset, True)

    # --- 24-hour caps -------------------------------------------------------------------------
    def day_quotas(
        self, action: Action, user_bucket: str, app_bucket: str, now: float
    ) -> dict[str, Quota]:
        """The caps that apply to `action`, by principal kind ("user"/"app"), as they stand."""
        out: dict[str, Quota] = {}
        if not self.enabled:
            return out
        for kind, bucket in (("user", user_bucket), ("app", app_bucket)):
            cap = self.day_caps.get((action, kind))
            if cap is None:
                continue
            span = self._days.get((action, kind, bucket))
            if span is None or now >= span.start + self.day_seconds:
                out[kind] = Quota(cap, cap, math.ceil(now + self.day_seconds), True)
                continue
            remaining = max(0, cap - span.count)
            reset = math.ceil(span.start + self.day_seconds)
            out[kind] = Quota(cap, remaining, reset, remaining > 0)
        return out

    def day_consume(
        self, action: Action, user_bucket: str, app_bucket: str, now: float
    ) -> dict[str, Quota]:
        """Count one action against every cap that applies; returns the caps after it."""
        if not self.enabled:
            return {}
        for kind, bucket in (("user", user_bucket), ("app", app_bucket)):
            if (action, kind) in self.day_caps:
                key = (action, kind, bucket)
                span = self._days.get(key)
                if span is None or now >= span.start + self.day_seconds:
                    span = _Span(_opening(now))
                    self._days[key] = span
                span.count += 1
        return self.day_quotas(action, user_bucket, app_bucket, now)

    def set_day_cap(self, action: str, kind: str, limit: int) -> None:
        """Change a 24-hour cap (tests lower the app follow cap, say)."""
        if (action, kind) not in DAY_CAPS:
            known = ", ".join(f"{a}/{k}" for a, k in DAY_CAPS)
            raise ValueError(f"no 24-hour cap {action}/{kind}; known: {known}")
        if limit < 0:
            raise ValueError("a cap cannot be negative")
        self.day_caps[(action, kind)] = limit


def day_headers(quotas: dict[str, Quota]) -> dict[str, str]:
    """`x-user-limit-24hour-*` / `x-app-limit-24hour-*` for the caps in `quotas`."""
    headers: dict[str, str] = {}
    for kind, quota in quotas.items():
        prefix = f"x-{kind}-limit-24hour-"
        headers[prefix + "limit"] = str(quota.limit)
        headers[prefix + "remaining"] = str(quota.remaining)
        headers[prefix + "reset"] = str(quota.reset)
    return headers
