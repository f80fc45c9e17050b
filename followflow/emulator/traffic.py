"""A bounded log of the X-surface requests the emulator answered, for benchmarks.

Clients hide their 429s (tweepy and twarc sleep and retry inside), so the only place that
sees every request and every 429 of every client is the server. Each record carries the
emulator-clock time, the endpoint group, the status and the User-Agent (never a
credential), which is enough to rebuild the rate-limit windows and tell clients apart.
The path and the `pagination_token` a request asked for let a test count how often one
page was fetched (a crashed snapshot must re-fetch at most the page it had in flight).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

# The newest records kept; a 1,000,000-follower read is 1,000 requests.
MAX_RECORDS = 100_000


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One answered request; `status` 0 means the connection was dropped (a fault)."""

    seq: int
    at: float
    method: str
    group: str | None
    status: int
    client: str
    path: str = ""
    token: str | None = None  # the `pagination_token` query parameter, if any


class Traffic:
    """Thread-safe, bounded: `since(n)` returns the records numbered n and after."""

    def __init__(self, max_records: int = MAX_RECORDS) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=max_records)
        self.total = 0

    def record(
        self,
        at: float,
        method: str,
        group: str | None,
        status: int,
        client: str,
        path: str = "",
        token: str | None = None,
    ) -> None:
        with self._lock:
            record = RequestRecord(self.total, at, method, group, status, client, path, token)
            self._records.append(record)
            self.total += 1

    def since(self, seq: int = 0) -> tuple[int, list[RequestRecord]]:
        """(total so far, the kept records with `seq >= seq`)."""
        with self._lock:
            return self.total, [r for r in self._records if r.seq >= seq]
