"""Render the next follower page while the client is still reading this one.

A snapshot reads pages one after the other: while the client parses page N, the server
sits idle, then renders page N+1 (~3 ms for 1,000 users with profile fields) while the
client waits. Over loopback the two can overlap: after serving page N the server picks
the users of page N+1 (under the emulator lock, cheap) and renders them on a background
thread. When the request for page N+1 arrives it takes that body, provided nothing in the
state changed since (a version number every change bumps); otherwise it renders afresh.
So answers are exactly what they would have been; only their timing differs.

Only `EmulatorServer` turns this on: in-process, a background thread would just compete
with the caller for the GIL.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

KEEP = 16  # a few lists paged at once
T = TypeVar("T")


class _Slot(Generic[T]):
    __slots__ = ("body", "done", "version")

    def __init__(self, version: int) -> None:
        self.version = version
        self.done = threading.Event()
        self.body: T | None = None


class Prefetcher(Generic[T]):
    """One background renderer and the bodies it made, keyed by (list, cursor, fields)."""

    def __init__(self) -> None:
        self._slots: OrderedDict[Hashable, _Slot[T]] = OrderedDict()
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[tuple[_Slot[T], Callable[[], T]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="emulator-prefetch", daemon=True)
        self._thread.start()

    def schedule(self, key: Hashable, version: int, render: Callable[[], T]) -> None:
        """Render a body in the background; `render` must not take the emulator lock."""
        slot: _Slot[T] = _Slot(version)
        with self._lock:
            self._slots[key] = slot
            self._slots.move_to_end(key)
            while len(self._slots) > KEEP:
                self._slots.popitem(last=False)
        self._jobs.put((slot, render))

    def take(self, key: Hashable, version: int) -> T | None:
        """The prefetched body for `key` if it was made at `version` (waits if in progress)."""
        with self._lock:
            slot = self._slots.pop(key, None)
        if slot is None or slot.version != version:
            return None
        slot.done.wait(timeout=5)
        return slot.body

    def close(self) -> None:
        self._jobs.put(None)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            slot, render = job
            try:
                slot.body = render()
            except Exception:  # a failed prefetch just means rendering on request
                slot.body = None
            finally:
                slot.done.set()
