"""Counting actions per rolling window, as the budgets are defined (shared by the tests
that check budgets from the emulator's action log on one host and on many)."""

from __future__ import annotations

from collections.abc import Sequence


def most_in_any_window(times: Sequence[float], window_s: float) -> int:
    """The largest number of `times` inside one half-open window [t, t + window_s)."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window_s:
            start += 1
        best = max(best, end - start + 1)
    return best
