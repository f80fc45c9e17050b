"""Clocks the client and the emulator take as seams (STYLE.md 3).

A clock is any `Callable[[], float]` returning epoch seconds; a sleep is any
`Callable[[float], None]`. `ManualClock` provides both, so a test or a simulated demo can
cross a 15-minute window or a 24-hour cap in microseconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class ManualClock:
    """A clock that only moves when told to; `sleep` advances it instead of blocking."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self._now

    @property
    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(max(seconds, 0.0))


class OffsetClock:
    """Wall-clock time plus an offset that can only grow: the emulator's clock over loopback.

    Lets the emulator's admin API jump forward (to the next 24-hour reset, say) while
    real clients keep sleeping on real time.
    """

    def __init__(self, base: Clock = time.time) -> None:
        self._base = base
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._base() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._offset += seconds
