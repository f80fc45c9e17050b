"""Progress of long work, reported to whoever listens in this process.

Flows report pages done per account; the command line listens and draws a progress bar,
Prefect tasks listen and update a progress artifact. The core knows neither.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Progress:
    """Where one listing stands: pages and users read of those expected."""

    account: str
    kind: str
    pages_done: int
    pages_expected: int
    users_seen: int
    users_expected: int
    finished: bool = False


Listener = Callable[[Progress], None]

_listeners: list[Listener] = []
_guard = threading.Lock()


def report(progress: Progress) -> None:
    """Tell every listener; a failing listener never breaks the work it watches."""
    with _guard:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(progress)
        except Exception:  # noqa: BLE001 - progress display must not fail a snapshot
            pass


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Register `listener` for the block."""
    with _guard:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _guard:
            _listeners.remove(listener)
