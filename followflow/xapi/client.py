"""XClient: the X API v2 follows endpoints over httpx, with one bounded retry loop.

Sync, not async. The bottleneck of every followflow job is X's rate limit (15 or 300
reads per 15 minutes per token), not the client's concurrency: one page of 1,000 users
costs ~2 ms to parse, and a limits-off snapshot is one sequential cursor chain that cannot
be parallelised anyway (each request needs the previous page's `next_token`). Prefect
tasks are sync-friendly, and parallelism across accounts comes from Prefect task runners
and separate processes, coordinated by global concurrency limits. A sync client keeps
the retry loop, the waits (an injected `sleep`) and the tests straightforward; httpx's
sync client is thread-safe, so one XClient can serve a thread pool.

How a request goes (`_send`, the only loop):
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
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from followflow import __version__
from followflow.settings import Settings
from followflow.xapi.auth import XAuth, auth_from_settings
from followflow.xapi.errors import (
    DailyCapReached,
    RateLimited,
    RateLimitUnknown,
    TransportError,
    UsageCapExceeded,
    XAPIError,
    error_for_status,
    error_for_user_problem,
    problem_from_body,
)
from followflow.xapi.models import (
    DEFAULT_USER_FIELDS,
    FollowResult,
    Kind,
    LookupResult,
    Page,
    Problem,
    UnfollowResult,
    User,
)
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
LOOKUP_BATCH = 100  # X's maximum ids/usernames per lookup request
MAX_PAGES = 1_000_000  # a cursor chain longer than 10^9 users is a server bug, not data


def _header_number(headers: httpx.Headers, name: str) -> float | None:
    try:
        return float(headers[name])
    except (KeyError, ValueError):
        return None


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


class XClient:
    """The X API v2 follows endpoints; seams (transport, sleep, clock, rng) are arguments.

    Args:
        base_url: e.g. "https://api.x.com" or an emulator's "http://127.0.0.1:PORT".
        auth: BearerAuth, OAuth1Auth or OAuth2UserAuth; its `principal` keys the buckets.
        max_retries: retries of one request on 5xx, transport errors and header-less 429s.
        max_rate_limit_wait_s: longest wait for a 15-minute window; longer raises RateLimited.
        rate_limits: share one RateLimitState between clients of the same app.
        rate_limit_margin_s: slack after `x-rate-limit-reset` before sending again.
        max_window_waits: 15-minute-window waits allowed within one call.
    """

    def __init__(
        self,
        base_url: str,
        auth: XAuth,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_retries: int = 4,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        max_rate_limit_wait_s: float = 960.0,
        timeout_s: float = 30.0,
        rng: random.Random | None = None,
        rate_limits: RateLimitState | None = None,
        rate_limit_margin_s: float = 0.5,
        max_window_waits: int = 3,
    ) -> None:
        self.auth = auth
        self.rate_limits = rate_limits if rate_limits is not None else RateLimitState()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._max_retries = max_retries
        self._backoff_base = backoff_base_s
        self._backoff_max = backoff_max_s
        self._max_wait = max_rate_limit_wait_s
        self._margin = rate_limit_margin_s
        self._max_window_waits = max_window_waits
        self._http = httpx.Client(
            base_url=base_url,
            auth=auth,
            transport=transport,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            headers={"User-Agent": f"followflow/{__version__}"},
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        for_writes: bool = False,
        user_id: int | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rate_limits: RateLimitState | None = None,
    ) -> XClient:
        """A client with auth and retry policy from settings (see auth_from_settings)."""
        auth = auth_from_settings(settings, for_writes, user_id=user_id, clock=clock)
        return cls(
            settings.x_base_url,
            auth,
            transport=transport,
            sleep=sleep,
            clock=clock,
            max_retries=settings.max_retries,
            backoff_base_s=settings.backoff_base_s,
            backoff_max_s=settings.backoff_max_s,
            max_rate_limit_wait_s=settings.max_rate_limit_wait_s,
            timeout_s=settings.request_timeout_s,
            rate_limits=rate_limits,
        )

    # --- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> XClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def principal(self) -> str:
        """Whose requests these are: "app" or "user-<id>"."""
        return self.auth.principal

    def bucket(self, group: str) -> Bucket:
        """This client's bucket for an endpoint group (its `.name` is the Prefect limit name)."""
        return Bucket(group, self.principal)

    # --- endpoints ----------------------------------------------------------------------

    def get_page(
        self,
        kind: Kind,
        user_id: int,
        *,
        max_results: int = 1000,
        pagination_token: str | None = None,
        user_fields: Sequence[str] = DEFAULT_USER_FIELDS,
    ) -> Page:
        """One page of `user_id`'s followers or following.

        Raises:
            InvalidPaginationToken: X rejected `pagination_token`; restart from the top.
            UserNotFound, UserSuspended: the account itself is gone or suspended.
        """
        params: dict[str, str | int] = {"max_results": max_results}
        if user_fields:
            params["user.fields"] = ",".join(user_fields)
        if pagination_token is not None:
            params["pagination_token"] = pagination_token
        path = f"/2/users/{user_id}/{kind}"

        def parse(content: bytes) -> Page:
            return Page.from_json(
                content,
                kind=kind,
                account_id=user_id,
                pagination_token=pagination_token,
                fetched_at=datetime.fromtimestamp(self._clock(), UTC),
            )

        page: Page = self._send("GET", path, params=params, parse=parse)
        if page.table.num_rows == 0 and page.errors:
            raise error_for_user_problem(page.errors[0], f"GET {path}")
        return page

    def iter_pages(
        self,
        kind: Kind,
        user_id: int,
        *,
        start_token: str | None = None,
        max_results: int = 1000,
        user_fields: Sequence[str] = DEFAULT_USER_FIELDS,
        max_pages: int | None = None,
    ) -> Iterator[Page]:
        """Pages of followers/following, from `start_token` (a checkpoint) to the last page."""
        token = start_token
        seen: set[str] = set()
        for _ in range(max_pages if max_pages is not None else MAX_PAGES):
            page = self.get_page(
                kind,
                user_id,
                max_results=max_results,
                pagination_token=token,
                user_fields=user_fields,
            )
            yield page
            if page.next_token is None:
                return
            if page.next_token in seen:
                raise XAPIError(f"GET /2/users/{user_id}/{kind}: pagination went in a circle")
            seen.add(page.next_token)
            token = page.next_token

    def follow(self, source_id: int, target_id: int) -> FollowResult:
        """Follow `target_id` as `source_id` (must be the authenticated account)."""
        path = f"/2/users/{source_id}/following"
        body = self._send("POST", path, json={"target_user_id": str(target_id)})
        return FollowResult.model_validate(self._data(body, f"POST {path}"))

    def unfollow(self, source_id: int, target_id: int) -> UnfollowResult:
        """Unfollow `target_id` as `source_id` (must be the authenticated account)."""
        path = f"/2/users/{source_id}/following/{target_id}"
        body = self._send("DELETE", path)
        return UnfollowResult.model_validate(self._data(body, f"DELETE {path}"))

    def lookup_users(
        self, ids: Sequence[int], *, user_fields: Sequence[str] = DEFAULT_USER_FIELDS
    ) -> LookupResult:
        """Look users up by id, 100 per request; unknown or suspended ones land in `missing`."""
        return self._lookup("/2/users", "ids", [str(i) for i in ids], user_fields)

    def lookup_usernames(
        self, usernames: Sequence[str], *, user_fields: Sequence[str] = DEFAULT_USER_FIELDS
    ) -> LookupResult:
        """Look users up by username, 100 per request; unknown ones land in `missing`."""
        return self._lookup("/2/users/by", "usernames", list(usernames), user_fields)

    def me(self, *, user_fields: Sequence[str] = DEFAULT_USER_FIELDS) -> User:
        """The authenticated account (user context only; app-only gets Forbidden)."""
        params = {"user.fields": ",".join(user_fields)} if user_fields else None
        body = self._send("GET", "/2/users/me", params=params)
        return User.model_validate(self._data(body, "GET /2/users/me"))

    def _lookup(
        self, path: str, param: str, values: list[str], user_fields: Sequence[str]
    ) -> LookupResult:
        users: list[User] = []
        missing: list[Problem] = []
        for chunk in _chunks(values, LOOKUP_BATCH):
            params = {param: ",".join(chunk)}
            if user_fields:
                params["user.fields"] = ",".join(user_fields)
            body = self._send("GET", path, params=params)
            users.extend(User.model_validate(u) for u in body.get("data") or ())
            missing.extend(
                Problem.from_dict(e) for e in body.get("errors") or () if isinstance(e, dict)
            )
        return LookupResult(users=users, missing=missing)

    @staticmethod
    def _data(body: dict[str, Any], where: str) -> Any:
        if "data" in body:
            return body["data"]
        if body.get("errors"):
            raise error_for_user_problem(Problem.from_dict(body["errors"][0]), where)
        raise XAPIError(f"{where}: response has no data", status_code=200)

    # --- the one retry loop -------------------------------------------------------------

    def _send(
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
        bucket = Bucket(group_for(method, path), self.principal)
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
