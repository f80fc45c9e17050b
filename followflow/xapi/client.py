"""XClient: the X API v2 follows endpoints over httpx.

Sync, not async. The bottleneck of every followflow job is X's rate limit (15 or 300
reads per 15 minutes per token), not the client's concurrency: one page of 1,000 users
costs ~2 ms to parse, and a limits-off snapshot is one sequential cursor chain that cannot
be parallelised anyway (each request needs the previous page's `next_token`). Prefect
tasks are sync-friendly, and parallelism across accounts comes from Prefect task runners
and separate processes, coordinated by global concurrency limits. A sync client keeps
the retry loop, the waits (an injected `sleep`) and the tests straightforward; httpx's
sync client is thread-safe, so one XClient can serve a thread pool.

The endpoints live here; every request goes through the one retry loop, `Sender.send`
(retry.py), which waits for rate-limit windows, backs off and raises the typed errors.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from followflow import __version__
from followflow.settings import Settings
from followflow.xapi.auth import XAuth, auth_from_settings
from followflow.xapi.errors import XAPIError, error_for_user_problem
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
from followflow.xapi.ratelimit import Bucket, RateLimitState
from followflow.xapi.retry import Sender

LOOKUP_BATCH = 100  # X's maximum ids/usernames per lookup request
MAX_PAGES = 1_000_000  # a cursor chain longer than 10^9 users is a server bug, not data


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
        self._clock = clock
        self._http = httpx.Client(
            base_url=base_url,
            auth=auth,
            transport=transport,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            headers={"User-Agent": f"followflow/{__version__}"},
        )
        self._sender = Sender(
            self._http,
            lambda: self.auth.principal,
            self.rate_limits,
            sleep=sleep,
            clock=clock,
            rng=rng if rng is not None else random.Random(),
            max_retries=max_retries,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            max_rate_limit_wait_s=max_rate_limit_wait_s,
            rate_limit_margin_s=rate_limit_margin_s,
            max_window_waits=max_window_waits,
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

        page: Page = self._sender.send("GET", path, params=params, parse=parse)
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
        body = self._sender.send("POST", path, json={"target_user_id": str(target_id)})
        return FollowResult.model_validate(self._data(body, f"POST {path}"))

    def unfollow(self, source_id: int, target_id: int) -> UnfollowResult:
        """Unfollow `target_id` as `source_id` (must be the authenticated account)."""
        path = f"/2/users/{source_id}/following/{target_id}"
        body = self._sender.send("DELETE", path)
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
        body = self._sender.send("GET", "/2/users/me", params=params)
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
            body = self._sender.send("GET", path, params=params)
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
