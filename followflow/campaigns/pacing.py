"""How long to wait before the next follow or unfollow of one account.

Three rules, the strictest wins: X's window (50 actions per 15 minutes per user), a
minimum spacing with random jitter (a steady machine rhythm is what automation detection
looks for), and, with `day_spread`, the day's remaining budget spread over the rest of the
day instead of spent in one burst. `next_delay` is a pure function of times; `Pacer` holds
the times of the account's recent actions and sleeps through its seams.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from followflow.campaigns.budgets import DAY_S
from followflow.clock import Clock, Sleep

log = logging.getLogger(__name__)

WaitReason = Literal["none", "spacing", "window", "day_spread"]


@dataclass(frozen=True)
class Delay:
    """A wait before the next action and the rule that set it."""

    seconds: float
    reason: WaitReason


def next_delay(
    now: float,
    sent: Sequence[float],
    *,
    min_spacing_s: float,
    jitter: float = 0.0,
    window_limit: int = 50,
    window_s: float = 900.0,
    budget_left: int | None = None,
    day_left_s: float | None = None,
) -> Delay:
    """The wait before the next action, given the epoch times of the actions already sent.

    Args:
        jitter: extra spacing already drawn for this action (seconds).
        budget_left: actions the budget still allows today; with `day_left_s`, the next
            action waits at least `day_left_s / budget_left` after the last one.
    """
    waits: list[Delay] = [Delay(0.0, "none")]
    if sent:
        last = max(sent)
        waits.append(Delay(last + min_spacing_s + jitter - now, "spacing"))
        if budget_left and day_left_s is not None and day_left_s > 0:
            waits.append(Delay(last + day_left_s / budget_left - now, "day_spread"))
    recent = sorted(t for t in sent if t > now - window_s)
    if window_limit > 0 and len(recent) >= window_limit:
        # The window has room again once enough of its actions are older than window_s.
        frees = recent[len(recent) - window_limit]
        waits.append(Delay(frees + window_s - now, "window"))
    return max(waits, key=lambda d: d.seconds)


class Pacer:
    """Paces one account's actions: call `wait()` before each action and `record()` after."""

    def __init__(
        self,
        min_spacing_s: float = 20.0,
        jitter_s: float = 10.0,
        window_limit: int = 50,
        window_s: float = 900.0,
        day_spread: bool = True,
        *,
        day_s: float = DAY_S,
        max_wait_s: float = 3600.0,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if min(min_spacing_s, jitter_s, window_s, day_s, max_wait_s) < 0 or window_limit < 0:
            raise ValueError("pacing parameters cannot be negative")
        self.min_spacing_s = min_spacing_s
        self.jitter_s = jitter_s
        self.window_limit = window_limit
        self.window_s = window_s
        self.day_spread = day_spread
        self.day_s = day_s
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._sent: list[float] = []
        self._day_start: float | None = None
        self._jitter = self._draw()

    def _draw(self) -> float:
        return self._rng.uniform(0.0, self.jitter_s) if self.jitter_s else 0.0

    @property
    def sent(self) -> tuple[float, ...]:
        """Times of the actions this pacer remembers (within the window, plus the last)."""
        return tuple(self._sent)

    def seed(self, times: Iterable[float]) -> None:
        """Remember actions sent before this pacer existed (e.g. by a previous run)."""
        for at in sorted(times):
            self._remember(at)

    def record(self, at: float | None = None) -> None:
        """Note that an action was just sent (at `at`, default now)."""
        self._remember(self._clock() if at is None else at)
        self._jitter = self._draw()

    def _remember(self, at: float) -> None:
        if self._day_start is None or at >= self._day_start + self.day_s:
            self._day_start = at
        self._sent.append(at)
        horizon = at - self.window_s
        # Keep the last action even when it is old: the spacing rules measure from it.
        self._sent = [t for t in self._sent[:-1] if t > horizon] + [self._sent[-1]]

    def day_left_s(self, now: float | None = None) -> float:
        """Seconds left in the pacing day, which starts at the first action of the day."""
        now = self._clock() if now is None else now
        if self._day_start is None or now >= self._day_start + self.day_s:
            return self.day_s
        return self._day_start + self.day_s - now

    def next_delay(self, budget_left: int | None = None, day_left_s: float | None = None) -> Delay:
        """The wait before the next action now; stable until the next `record()`."""
        now = self._clock()
        if self.day_spread and budget_left is not None and day_left_s is None:
            day_left_s = self.day_left_s(now)
        return next_delay(
            now,
            self._sent,
            min_spacing_s=self.min_spacing_s,
            jitter=self._jitter,
            window_limit=self.window_limit,
            window_s=self.window_s,
            budget_left=budget_left if self.day_spread else None,
            day_left_s=day_left_s if self.day_spread else None,
        )

    def wait(self, budget_left: int | None = None, day_left_s: float | None = None) -> Delay:
        """Sleep until the next action may be sent (at most `max_wait_s`); returns the wait."""
        delay = self.next_delay(budget_left, day_left_s)
        seconds = min(max(delay.seconds, 0.0), self.max_wait_s)
        if seconds < delay.seconds:
            log.warning(
                "pacing wanted %.1f s (%s); waiting the %.1f s cap",
                delay.seconds,
                delay.reason,
                seconds,
            )
        if seconds > 0:
            log.info("pacing: waiting %.1f s (%s)", seconds, delay.reason)
            self._sleep(seconds)
        return Delay(seconds, delay.reason)
