"""The one retry loop of the X client: send, wait for windows, back off, raise typed errors.

How a request goes (`Sender.send`, the only loop):
1. If the bucket is known to be empty (headers said `x-rate-limit-remaining: 0`), wait
   for the reset when that is within `max_rate_limit_wait_s`, else raise RateLimited; if
   a 24-hour cap is known to be spent, raise DailyCapReached without sending.
2. Send. Timeouts, connection errors and truncated bodies: retry with jittered backoff.
3. 429: a spent 24-hour cap (24-hour headers at 0, or window calls left) raises
   DailyCapReached at once; a spent window waits for `x-rate-limit-reset` (bounded);
   no reset header: jittered backoff, then RateLimitUnknown. 5xx: backoff, then ServerError.
Every wait is logged on `followflow.xapi` with its reason and length; every counter is
bounded, so no path loops forever.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from followflow.xapi.errors import (
    DailyCapReached,
    RateLimited,
    RateLimitUnknown,
    TransportError,
    UsageCapExceeded,
    XAPIError,
    error_for_status,
    problem_from_body,
)
from followflow.xapi.models import Problem
from followflow.xapi.ratelimit import Bucket, DailyLimit, RateLimit, RateLimitState, group_for

log = logging.getLogger("followflow.xapi")

# Transient failures worth another try: the request may not have reached X, or the
# answer was cut short.
RETRY_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)
# Of those, the ones that prove the request never left: the only ones after which a
# follow or unfollow is re-sent. After any other (a timeout or reset after sending, a
# cut-short answer) it may have been carried out, and a second follow is a second action
# in X's log; the caller asks X about the relationship instead (tasks/campaign.py).
NEVER_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
DAY_S = 86_400.0


def _header_number(headers: httpx.Headers, name: str) -> float | None:
    try:
        return float(headers[name])
    except (KeyError, ValueError):
        return None


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


class Sender:
    """Sends one request through `http` with bounded retries and rate-limit waits.

    Args:
        principal: whose requests these are ("app" or "user-<id>"); keys the buckets.
        rate_limits: the window and 24-hour state, shared by clients of the same app.
    """

    def __init__(
        self,
        http: httpx.Client,
        principal: Callable[[], str],
        rate_limits: RateLimitState,
        *,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        rng: random.Random,
        max_retries: int,
        backoff_base_s: float,
        backoff_max_s: float,
        max_rate_limit_wait_s: float,
        rate_limit_margin_s: float,
        max_window_waits: int,
    ) -> None:
        self._http = http
        self._principal = principal
        self.rate_limits = rate_limits
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._max_retries = max_retries
        self._backoff_base = backoff_base_s
        self._backoff_max = backoff_max_s
        self._max_wait = max_rate_limit_wait_s
        self._margin = rate_limit_margin_s
        self._max_window_waits = max_window_waits

    def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str | int] | dict[str, str] | None = None,
        json: object = None,
        parse: Callable[[bytes], Any] | None = None,
    ) -> Any:
        """Send with bounded retries and rate-limit waits; the 2xx JSON body, decoded to a
        dict or by `parse` (which raises ValueError for a body that is not whole)."""
        bucket = Bucket(group_for(method, path), self._principal())
        where = f"{method} {path}"
        content = None if json is None else orjson.dumps(json)
        headers = {"Content-Type": "application/json"} if content is not None else None
        failures = 0
        window_waits = 0
        # Each pass either returns, raises, or spends one failure or one window wait.
        for _ in range(self._max_retries + self._max_window_waits + 2):
            self._respect_known_limits(bucket, where)
            try:
                response = self._http.request(
                    method, path, params=params, content=content, headers=headers
                )
                if parse is not None and response.is_success:
                    return self._parsed(parse, response, bucket)
                body = self._decode(response)
            except RETRY_EXCEPTIONS as exc:
                failures += 1
                reason = f"{type(exc).__name__} on {where}"
                if method != "GET" and not isinstance(exc, NEVER_SENT):
                    raise TransportError(
                        f"{reason}: may have been carried out; not re-sent"
                    ) from None
                if failures > self._max_retries:
                    raise TransportError(f"{reason}, after {failures} attempts") from None
                self._wait(self._backoff(failures), reason, bucket)
                continue
            window = self.rate_limits.update(bucket, response.headers)
            status = response.status_code
            if 200 <= status < 300:
                if not isinstance(body, dict):
                    raise XAPIError(
                        f"{where}: HTTP {status} with a non-object body", status_code=status
                    )
                return body
            if status == 429:
                wait = self._classify_429(bucket, where, response, body, window)
                if wait is None:  # no usable reset header: back off blindly, but boundedly
                    failures += 1
                    reason = f"429 without x-rate-limit-reset on {where}"
                    if failures > self._max_retries:
                        raise RateLimitUnknown(
                            f"{reason}, {failures} times; giving up",
                            reset_at=None,
                            problem=problem_from_body(body),
                        )
                    self._wait(self._backoff(failures), reason, bucket)
                    continue
                window_waits += 1
                reset_at = window.reset_at if window else None
                if window_waits > self._max_window_waits:
                    raise RateLimited(
                        f"{where}: still rate limited after {window_waits - 1} window waits",
                        reset_at=reset_at,
                        problem=problem_from_body(body),
                    )
                self._wait(wait, f"15-minute window spent (429) on {where}", bucket)
                continue
            if status >= 500:
                failures += 1
                if failures > self._max_retries:
                    raise error_for_status(status, body, where)
                self._wait(self._backoff(failures), f"HTTP {status} on {where}", bucket)
                continue
            raise error_for_status(status, body, where)
        raise XAPIError(f"{where}: gave up after {failures} failures and {window_waits} waits")

    def _parsed(
        self, parse: Callable[[bytes], Any], response: httpx.Response, bucket: Bucket
    ) -> Any:
        self.rate_limits.update(bucket, response.headers)
        try:
            return parse(response.content)
        except ValueError:
            # A 2xx body that does not parse was cut short: retry like a reset.
            raise httpx.RemoteProtocolError("truncated JSON body") from None

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            if response.is_success:
                # A 2xx body that does not parse was cut short: retry like a reset.
                raise httpx.RemoteProtocolError("truncated JSON body") from None
            return None  # error pages need not be JSON; the status says enough

    def _respect_known_limits(self, bucket: Bucket, where: str) -> None:
        """Never send into a bucket known to be empty: wait for the window or raise."""
        now = self._clock()
        day = self.rate_limits.spent_daily(bucket, now)
        if day is not None:
            raise self._daily_error(day, where, now, status_code=None)
        window = self.rate_limits.get(bucket)
        if window is None or not window.exhausted(now):
            return
        assert window.reset_at is not None  # exhausted() implies a known reset
        wait = window.reset_at - now + self._margin
        if wait > self._max_wait:
            raise RateLimited(
                f"{where}: window spent until {_iso(window.reset_at)}, "
                f"beyond the {self._max_wait:.0f} s wait cap",
                reset_at=window.reset_at,
                status_code=None,
            )
        self._wait(wait, f"15-minute window spent (x-rate-limit-remaining: 0) on {where}", bucket)

    def _classify_429(
        self,
        bucket: Bucket,
        where: str,
        response: httpx.Response,
        body: Any,
        window: RateLimit | None,
    ) -> float | None:
        """Seconds to wait for the window, None when headers are missing; raises for caps."""
        now = self._clock()
        problem = problem_from_body(body)
        if problem is not None and (problem.type or "").endswith("/usage-capped"):
            raise UsageCapExceeded(
                f"{where}: X usage cap exceeded: {problem.detail or ''}".rstrip(": "),
                reset_at=None,
                problem=problem,
            )
        spent = [d for d in DailyLimit.all_from_headers(response.headers) if d.remaining <= 0]
        if spent:
            day = max(spent, key=lambda d: d.reset_at or 0.0)
            raise self._daily_error(day, where, now, status_code=429, problem=problem)
        remaining = _header_number(response.headers, "x-rate-limit-remaining")
        if remaining is not None and remaining > 0:
            # The window still has calls, so what ran out is a 24-hour cap X did not name.
            raise DailyCapReached(
                f"{where}: 429 with {int(remaining)} window calls left: a 24-hour cap is "
                f"spent; parked until {_iso(now + DAY_S)} (X sent no 24-hour reset)",
                reset_at=now + DAY_S,
                cap="unknown",
                problem=problem,
            )
        reset_at = _header_number(response.headers, "x-rate-limit-reset")
        if reset_at is None:
            return None
        self.rate_limits.mark_spent(bucket, reset_at)
        wait = max(reset_at - now, 0.0) + self._margin
        if wait > self._max_wait:
            raise RateLimited(
                f"{where}: rate limited until {_iso(reset_at)}, "
                f"beyond the {self._max_wait:.0f} s wait cap",
                reset_at=reset_at,
                problem=problem,
            )
        return wait

    @staticmethod
    def _daily_error(
        day: DailyLimit,
        where: str,
        now: float,
        *,
        status_code: int | None,
        problem: Problem | None = None,
    ) -> DailyCapReached:
        reset_at = day.reset_at if day.reset_at is not None else now + DAY_S
        return DailyCapReached(
            f"{where}: the {day.scope} 24-hour cap ({day.limit}) is spent until {_iso(reset_at)}",
            reset_at=reset_at,
            cap=day.scope,
            status_code=status_code,
            problem=problem,
        )

    def _backoff(self, failures: int) -> float:
        delay = min(self._backoff_max, self._backoff_base * 2.0 ** (failures - 1))
        return delay / 2 + self._rng.uniform(0, delay / 2)

    def _wait(self, seconds: float, reason: str, bucket: Bucket) -> None:
        log.info("waiting %.2f s: %s [%s]", seconds, reason, bucket.name)
        self._sleep(seconds)
