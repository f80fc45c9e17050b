"""Killing a CLI run at a seeded random point: after some time, or after some requests."""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.reliability.conftest import kill


@dataclass(frozen=True)
class KillPoint:
    """Kill after `seconds`, or once `requests` more requests of the watched kind arrived."""

    seconds: float | None = None
    requests: int | None = None
    jitter_s: float = 0.0

    def describe(self) -> str:
        if self.seconds is not None:
            return f"after {self.seconds:.2f} s"
        return f"after {self.requests} request(s) + {self.jitter_s * 1000:.0f} ms"


def pick(rng: random.Random, max_seconds: float, max_requests: int) -> KillPoint:
    """A third of the kills land anywhere in time (start-up included), the rest mid-work."""
    if rng.random() < 1 / 3 or max_requests < 1:
        return KillPoint(seconds=rng.uniform(0.2, max_seconds))
    return KillPoint(requests=rng.randint(1, max_requests), jitter_s=rng.uniform(0.0, 0.05))


def run_until(
    child: subprocess.Popen[str],
    point: KillPoint,
    count: Callable[[], int],
    timeout_s: float = 180.0,
) -> bool:
    """Wait for the kill point and SIGKILL the child; False when it finished first."""
    started = time.monotonic()
    baseline = count() if point.requests is not None else 0
    while child.poll() is None:
        elapsed = time.monotonic() - started
        if elapsed > timeout_s:
            kill(child)
            raise AssertionError(f"the run neither finished nor reached {point.describe()}")
        if point.seconds is not None and elapsed >= point.seconds:
            break
        if point.requests is not None and count() - baseline >= point.requests:
            time.sleep(point.jitter_s)
            break
        time.sleep(0.01)
    if child.poll() is not None:
        child.communicate()
        return False
    kill(child)
    return True
