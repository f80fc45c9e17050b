"""`Emulator`: one `handle(httpx.Request) -> httpx.Response` for the whole X surface.

The order a request goes through, which is also what it costs:
1. `/_emulator/...` goes to the admin API (admin.py): no auth, no limits, no faults.
2. OAuth 2.0 routes go to oauth2.py.
3. The route is matched; a fault may be drawn (faults.py) and answered before anything.
4. Churn catches up with the clock; the credentials are checked (auth.py): 401, or 403
   for app-only on user-context endpoints, or 403 for a missing OAuth 2.0 scope.
5. The 15-minute window is counted: 429 when spent.
6. The endpoint (endpoints.py) answers; every response gets `x-rate-limit-*` headers.

In-process, use `httpx.MockTransport(emulator.handle)`; over a socket, `EmulatorServer`
(server.py) calls `respond`, which also says how to misbehave (drop, delay) for faults
that are not a response.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from followflow.emulator import admin, endpoints, problems
from followflow.emulator.auth import (
    AppCredentials,
    AuthRegistry,
    Principal,
    authenticate,
    require_scopes,
    require_user_context,
)
from followflow.emulator.faults import FaultPlan
from followflow.emulator.limits import Group, PrincipalKind, Quota, RateLimiter
from followflow.emulator.oauth2 import handle_oauth
from followflow.emulator.paging import Tokens
from followflow.emulator.prefetch import Prefetcher
from followflow.emulator.profiles import Profiles
from followflow.emulator.serialize import dumps, json_response, with_headers
from followflow.emulator.state import ActionRecord, State
from followflow.emulator.traffic import Traffic
from followflow.emulator.world import World

PUBLIC_BASE_URLS = ("https://api.twitter.com", "https://api.x.com")
READ_SCOPES = frozenset({"tweet.read", "users.read"})
FOLLOWS_READ = READ_SCOPES | {"follows.read"}
FOLLOWS_WRITE = READ_SCOPES | {"follows.write"}


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    group: Group
    handler: endpoints.Handler
    scopes: frozenset[str]
    user_only: bool = False


ROUTES = (
    Route("GET", re.compile(r"/2/users/me"), "me", endpoints.me, READ_SCOPES, True),
    Route(
        "GET",
        re.compile(r"/2/users/by/username/(?P<username>[^/]*)"),
        "lookup",
        endpoints.by_username,
        READ_SCOPES,
    ),
    Route("GET", re.compile(r"/2/users/by"), "lookup", endpoints.by_usernames, READ_SCOPES),
    Route("GET", re.compile(r"/2/users"), "lookup", endpoints.by_ids, READ_SCOPES),
    Route(
        "GET",
        re.compile(r"/2/users/(?P<id>[^/]+)/followers"),
        "followers",
        endpoints.user_list("followers"),
        FOLLOWS_READ,
    ),
    Route(
        "GET",
        re.compile(r"/2/users/(?P<id>[^/]+)/following"),
        "following",
        endpoints.user_list("following"),
        FOLLOWS_READ,
    ),
    Route(
        "POST",
        re.compile(r"/2/users/(?P<id>[^/]+)/following"),
        "follow",
        endpoints.follow,
        FOLLOWS_WRITE,
        True,
    ),
    Route(
        "DELETE",
        re.compile(r"/2/users/(?P<source>[^/]+)/following/(?P<target>[^/]+)"),
        "unfollow",
        endpoints.unfollow,
        FOLLOWS_WRITE,
        True,
    ),
    Route("GET", re.compile(r"/2/users/(?P<id>[^/]+)"), "lookup", endpoints.by_id, READ_SCOPES),
)


@dataclass(frozen=True)
class OwnedAccount:
    """An account the emulator holds credentials for (the manifest's `users` entries)."""

    id: int
    username: str
    access_token: str = field(repr=False)
    access_token_secret: str = field(repr=False)
    oauth2_access_token: str = field(repr=False)
    oauth2_refresh_token: str = field(repr=False)


@dataclass
class Outcome:
    """A response, or how the connection should misbehave instead (`drop` / `delay`)."""

    response: httpx.Response
    drop: bool = False
    delay: float = 0.0
    after: Callable[[], None] | None = None  # for the server to call once it has answered


class Emulator:
    """The X API v2 follows surface over a seeded synthetic graph (see the package docs)."""

    def __init__(
        self,
        world: World,
        *,
        preset: str = "v2-2023",
        window_seconds: float = 900.0,
        day_seconds: float = 86_400.0,
        churn: float = 0.0,
        faults: str | FaultPlan | None = None,
        clock: Callable[[], float] = time.time,
        limits: bool = True,
        public_base_urls: Sequence[str] = PUBLIC_BASE_URLS,
    ) -> None:
        if churn < 0:
            raise ValueError("churn must be >= 0")
        self.world = world
        self.clock = clock
        self.preset = preset
        self.public_base_urls = tuple(public_base_urls)
        self.limiter = RateLimiter(preset, window_seconds, day_seconds, limits)
        self.state = State(world, churn_per_hour=churn, start=clock())
        self.lock = threading.RLock()
        owned = [(world.id_of(k), spec.username) for k, spec in enumerate(world.owned)]
        self.registry = AuthRegistry.generate(world.seed, owned)
        self.services = endpoints.Services(
            world=world,
            state=self.state,
            profiles=Profiles(world),
            tokens=Tokens(world.seed),
            limiter=self.limiter,
            clock=clock,
            new_problems=preset == "v2-2026",
            lock=self.lock,
        )
        self.faults: FaultPlan | None = None
        self.set_faults(faults)
        self._transaction = itertools.count(1)
        self.traffic = Traffic()

    @classmethod
    def create(
        cls,
        seed: int = 1,
        size: str = "demo",
        preset: str = "v2-2023",
        window_seconds: float = 900.0,
        day_seconds: float = 86_400.0,
        churn: float = 0.0,
        faults: str | FaultPlan | None = None,
        clock: Callable[[], float] = time.time,
        limits: bool = True,
        public_base_urls: Sequence[str] = PUBLIC_BASE_URLS,
        fleet: int = 0,
    ) -> Emulator:
        """Build the world for `seed` and `size` ("demo" or "large"), with `fleet` more owned
        accounts (`ff_fleet<i>`), and an emulator on it."""
        return cls(
            World(seed, size, fleet=fleet),
            preset=preset,
            window_seconds=window_seconds,
            day_seconds=day_seconds,
            churn=churn,
            faults=faults,
            clock=clock,
            limits=limits,
            public_base_urls=public_base_urls,
        )

    # --- the public, in-process API -----------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request in-process (an `httpx.MockTransport` handler)."""
        outcome = self.respond(request)
        if outcome.drop:
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        if outcome.delay > 0:
            raise httpx.ReadTimeout("The read operation timed out", request=request)
        return outcome.response

    @property
    def app(self) -> AppCredentials:
        return self.registry.app

    def account(self, username: str) -> OwnedAccount:
        """An owned account's id and credentials (KeyError if not owned)."""
        k = self.world.owned_index(username)
        tokens = self.registry.tokens_for(self.world.id_of(k))
        return OwnedAccount(
            id=tokens.user_id,
            username=tokens.username,
            access_token=tokens.access_token,
            access_token_secret=tokens.access_token_secret,
            oauth2_access_token=tokens.oauth2_access_token,
            oauth2_refresh_token=tokens.oauth2_refresh_token,
        )

    def accounts(self) -> list[OwnedAccount]:
        return [self.account(spec.username) for spec in self.world.owned]

    def manifest(self, base_url: str) -> dict[str, Any]:
        """The manifest of DESIGN.md §3: base URL, app credentials, owned accounts' tokens."""
        app = self.app
        return {
            "base_url": base_url,
            "app": {
                "bearer_token": app.bearer_token,
                "consumer_key": app.consumer_key,
                "consumer_secret": app.consumer_secret,
                "client_id": app.client_id,
                "client_secret": app.client_secret,
            },
            "users": [
                {
                    "id": a.id,
                    "username": a.username,
                    "access_token": a.access_token,
                    "access_token_secret": a.access_token_secret,
                    "oauth2_access_token": a.oauth2_access_token,
                    "oauth2_refresh_token": a.oauth2_refresh_token,
                }
                for a in self.accounts()
            ],
        }

    def _index(self, user_id: int) -> int:
        index = self.world.index_of_id(user_id)
        if index is None:
            raise KeyError(f"no user with id {user_id}")
        return index

    def _ids(self, indices: list[int]) -> list[int]:
        return [self.world.id_of(i) for i in indices]

    def truth_followers(self, user_id: int) -> list[int]:
        """Who follows `user_id` now, newest first (ground truth for tests)."""
        with self.lock:
            self.state.catch_up(self.clock())
            return self._ids(self.state.followers(self._index(user_id)).all())

    def truth_following(self, user_id: int) -> list[int]:
        """Whom `user_id` follows now, newest first."""
        with self.lock:
            self.state.catch_up(self.clock())
            return self._ids(self.state.following(self._index(user_id)).all())

    @property
    def action_log(self) -> list[ActionRecord]:
        with self.lock:
            return list(self.state.log)

    def churn_now(self, user_id: int, gained: int, lost: int) -> tuple[list[int], list[int]]:
        """Apply churn to an account at once: (ids gained, ids lost)."""
        if gained < 0 or lost < 0:
            raise ValueError("gained and lost must be >= 0")
        with self.lock:
            index = self._index(user_id)
            got, gone = self.state.churn(index, gained, lost)
            return self._ids(got), self._ids(gone)

    def approve_pending(self, source_id: int, target_id: int) -> bool:
        """The protected target accepts a pending follow request."""
        with self.lock:
            return self.state.approve(self._index(source_id), self._index(target_id))

    def set_faults(self, spec: str | FaultPlan | None) -> None:
        """Replace the fault plan (None: no faults)."""
        plan = FaultPlan.parse(spec) if isinstance(spec, str) else spec
        with self.lock:
            self.faults = plan

    def advance(self, seconds: float) -> None:
        """Move the emulator clock on (ManualClock or OffsetClock only)."""
        advance = getattr(self.clock, "advance", None)
        if advance is None:
            raise TypeError(
                "this emulator's clock cannot be advanced (use ManualClock/OffsetClock)"
            )
        advance(seconds)

    def set_prefetch(self, enabled: bool) -> None:
        """Render the next follower page in the background (see prefetch.py)."""
        with self.lock:
            current = self.services.prefetch
            if enabled and current is None:
                self.services.prefetch = Prefetcher()
            elif not enabled and current is not None:
                current.close()
                self.services.prefetch = None

    def set_day_cap(self, kind: str, principal_kind: str, limit: int) -> None:
        """Change a 24-hour cap, e.g. `set_day_cap("follow", "app", 3)`."""
        with self.lock:
            self.limiter.set_day_cap(kind, principal_kind, limit)

    # --- dispatch -----------------------------------------------------------------------------
    def respond(self, request: httpx.Request) -> Outcome:
        """Answer one request, saying how to deliver it (the server's entry point)."""
        path = request.url.path
        if path.startswith("/_emulator/") or path == "/_emulator":
            return Outcome(admin.handle(self, request))
        arrived = self.clock()
        outcome = self._respond(request, path)
        route, _ = self._route(request.method, path)
        status = 0 if outcome.drop else outcome.response.status_code
        client = request.headers.get("user-agent", "")
        group = route.group if route else None
        token = request.url.params.get("pagination_token")
        self.traffic.record(arrived, request.method, group, status, client, path, token)
        return outcome

    def _respond(self, request: httpx.Request, path: str) -> Outcome:
        with self.lock:
            now = self.clock()
            oauth = handle_oauth(request, self.registry, now)
            if oauth is not None:
                return Outcome(oauth)
            route, match = self._route(request.method, path)
            if route is None or match is None:
                headers = self._headers(self.limiter.peek("lookup", "app", "app", now))
                return Outcome(json_response(404, problems.route_not_found(), headers))
            fault = self.faults.next_fault(route.group) if self.faults is not None else None
            if fault is not None and fault not in ("slow", "truncate"):
                return self._fault_outcome(fault, route.group, now)
            response, after = self._serve(route, match, request, now)
        if fault == "slow":
            assert self.faults is not None
            return Outcome(response, delay=self.faults.slow_seconds)
        if fault == "truncate":
            body = response.read()
            cut = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            return Outcome(
                httpx.Response(response.status_code, headers=cut, content=body[: len(body) // 2])
            )
        return Outcome(response, after=after)

    def _route(self, method: str, path: str) -> tuple[Route | None, re.Match[str] | None]:
        path = path.rstrip("/") or "/"
        for route in ROUTES:
            if route.method == method:
                match = route.pattern.fullmatch(path)
                if match is not None:
                    return route, match
        return None, None

    def _headers(self, quota: Quota, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = quota.window_headers()
        headers["api-version"] = "2.167" if self.preset == "v2-2026" else "2.159"
        headers["x-transaction-id"] = (
            f"{next(self._transaction) * 0x9E3779B1 & 0xFFFFFFFFFFFF:012x}"
        )
        if extra:
            headers.update(extra)
        return headers

    def _fault_outcome(self, fault: str, group: Group, now: float) -> Outcome:
        headers = self._headers(self.limiter.peek(group, "app", "app", now))
        if fault == "reset":
            return Outcome(httpx.Response(599), drop=True)
        if fault == "429bare":
            return Outcome(json_response(429, problems.TOO_MANY_REQUESTS))
        if fault in ("500", "503"):
            title = "Internal Server Error" if fault == "500" else "Service Unavailable"
            return Outcome(
                json_response(int(fault), problems.server_error(int(fault), title), headers)
            )
        title = "502 Bad Gateway" if fault == "502" else "504 Gateway Time-out"
        page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>\n"
        headers["content-type"] = "text/html"
        return Outcome(httpx.Response(int(fault), headers=headers, content=page.encode()))

    def _serve(
        self, route: Route, match: re.Match[str], request: httpx.Request, now: float
    ) -> tuple[httpx.Response, Callable[[], None] | None]:
        """The response, and work for the server to do after sending it (a prefetch)."""
        self.state.catch_up(now)
        auth = authenticate(request, self.registry, now, self.public_base_urls)
        if isinstance(auth, httpx.Response):
            quota = self.limiter.peek(route.group, "app", "anonymous", now)
            return with_headers(auth, self._headers(quota)), None
        principal: Principal = auth
        kind: PrincipalKind = "app" if principal.user_id is None else "user"
        if route.user_only:
            refused = require_user_context(principal, self.services.new_problems)
            if refused is not None:
                quota = self.limiter.peek(route.group, kind, principal.bucket_key, now)
                return with_headers(refused, self._headers(quota)), None
        refused = require_scopes(principal, route.scopes)
        if refused is not None:
            quota = self.limiter.peek(route.group, kind, principal.bucket_key, now)
            return with_headers(refused, self._headers(quota)), None
        quota = self.limiter.hit(route.group, kind, principal.bucket_key, now)
        if not quota.allowed:
            return json_response(429, problems.TOO_MANY_REQUESTS, self._headers(quota)), None
        reply = route.handler(self.services, request, principal, match)
        headers = self._headers(quota, reply.headers)
        access = "read" if principal.user_id is None else "read-write-directmessages"
        headers["x-access-level"] = access
        headers["content-type"] = reply.content_type
        body = reply.body if isinstance(reply.body, bytes) else dumps(reply.body)
        return httpx.Response(reply.status, headers=headers, content=body), reply.after
