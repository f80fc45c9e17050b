"""Emulator credentials and request authentication (REFERENCE.md §4, §5.4).

`AuthRegistry` holds every credential the emulator knows, derived from a seed, plus the
state the OAuth flows need (codes, rotated and revoked tokens, OAuth 1.0a nonces).
`authenticate` turns an `Authorization` header into a `Principal` or the 401 X sends.

Where the emulator deviates from X:
- One app per emulator, and it is both a confidential and a public OAuth 2.0 client.
- OAuth 1.0a timestamps are fresh within 300 s of the emulator clock *or* of the wall
  clock: real clients sign with the wall clock while the emulator's may be manual or
  offset. X checks against its own clock only.
- The 401 content type was never observed; `application/json; charset=utf-8` is sent.
- The initial OAuth 2.0 access tokens (the manifest's) live 7,200 s from `issued_at` if
  given, else from their first use. Refresh tokens never expire (lifetime undocumented).
- A missing OAuth 2.0 scope gets the generic 403 body a third-party client recorded for
  `/2/users/me` without `tweet.read` (not an observation of the follows endpoints).
"""

from __future__ import annotations

import base64
import hmac
import json
import random
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import httpx
from oauthlib.oauth1.rfc5849 import signature, utils

from followflow.emulator import problems

ACCESS_TOKEN_TTL_S = 7_200.0
CODE_TTL_S = 30.0
TIMESTAMP_SKEW_S = 300.0
USER_SCOPES = tuple("tweet.read users.read follows.read follows.write offline.access".split())
JSON = "application/json; charset=utf-8"
PROBLEM_JSON = "application/problem+json"

_ALNUM = string.ascii_letters + string.digits
_NONCE_PRUNE_EVERY = 4_096
_MAX_PENDING_CODES = 1_024


@dataclass(frozen=True)
class Principal:
    """Who a request acts as; never carries a secret."""

    method: Literal["bearer", "oauth1", "oauth2"]
    app_id: str
    user_id: int | None  # None for app-only
    scopes: frozenset[str] | None  # None: not scope-limited (OAuth 1.0a, app-only)

    @property
    def bucket_key(self) -> str:
        return "app" if self.user_id is None else f"user:{self.user_id}"


@dataclass(frozen=True)
class AppCredentials:
    """The emulator's one developer app."""

    app_id: str
    client_id: str
    redirect_uris: tuple[str, ...]
    bearer_token: str = field(repr=False)
    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class UserTokens:
    """The credentials an owned account starts with (the manifest's)."""

    user_id: int
    username: str
    access_token: str = field(repr=False)
    access_token_secret: str = field(repr=False)
    oauth2_access_token: str = field(repr=False)
    oauth2_refresh_token: str = field(repr=False)


@dataclass(frozen=True)
class AuthCode:
    """A pending authorization code: who consented, to what, under which PKCE challenge."""

    user_id: int
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    challenge: str = field(repr=False)
    method: Literal["s256", "plain"]
    issued_at: float


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint hands out."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    scopes: tuple[str, ...]


@dataclass
class _Access:
    user_id: int
    scopes: tuple[str, ...]
    issued_at: float | None  # None: counts from first use


class _Secrets(NamedTuple):  # the shape oauthlib's signing helper reads
    client_secret: str
    resource_owner_secret: str


def _rand(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(_ALNUM, k=n))


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def _oauth2_token(rng: random.Random, kind: str, at: float) -> str:
    # Shaped like X's: base64 of "<random>:<ms>:1:0:<at|rt>:1".
    return _b64(f"{_rand(rng, 40)}:{int(at * 1000)}:1:0:{kind}:1")


class AuthRegistry:
    """Every credential the emulator knows, and the OAuth state around them (thread-safe)."""

    def __init__(
        self,
        app: AppCredentials,
        users: Sequence[UserTokens],
        rng: random.Random,
        *,
        issued_at: float | None = None,
        wall_clock: Callable[[], float] | None = time.time,
    ) -> None:
        self.app = app
        self.wall_clock = wall_clock
        self._users = {u.user_id: u for u in users}
        self._rng = rng
        self._lock = threading.Lock()
        self._oauth1 = {u.access_token: (u.user_id, u.access_token_secret) for u in users}
        self._access = {
            u.oauth2_access_token: _Access(u.user_id, USER_SCOPES, issued_at) for u in users
        }
        self._refresh = {u.oauth2_refresh_token: (u.user_id, USER_SCOPES) for u in users}
        self._codes: dict[str, AuthCode] = {}
        self._nonces: set[tuple[str, str, int, str]] = set()
        self._nonce_inserts = 0

    @classmethod
    def generate(
        cls,
        seed: int,
        owned: Sequence[tuple[int, str]],
        *,
        redirect_uris: Sequence[str] = ("http://127.0.0.1/callback", "http://localhost/callback"),
        issued_at: float | None = None,
        wall_clock: Callable[[], float] | None = time.time,
    ) -> AuthRegistry:
        """Derive the app and one set of tokens per owned (id, username), all from `seed`."""
        r = random.Random(f"followflow-app:{seed}")
        app = AppCredentials(
            app_id=str(r.randrange(10**7, 10**8)),
            client_id=_b64(f"{_rand(r, 22)}:1:ci"),
            redirect_uris=tuple(redirect_uris),
            bearer_token="A" * 22 + _rand(r, 90),
            consumer_key=_rand(r, 25),
            consumer_secret=_rand(r, 50),
            client_secret=_rand(r, 50),
        )
        users = []
        for user_id, username in owned:
            # Per-user streams keep a user's tokens stable whatever else is owned.
            u = random.Random(f"followflow-user:{seed}:{user_id}")
            minted = 1_700_000_000 + u.randrange(10**7)
            users.append(
                UserTokens(
                    user_id,
                    username,
                    f"{user_id}-{_rand(u, 30)}",
                    _rand(u, 45),
                    _oauth2_token(u, "at", minted),
                    _oauth2_token(u, "rt", minted),
                )
            )
        rng = random.Random(f"followflow-new:{seed}")
        return cls(app, users, rng, issued_at=issued_at, wall_clock=wall_clock)

    def tokens_for(self, user_id: int) -> UserTokens:
        """The initial credentials of an owned account (KeyError if not owned)."""
        return self._users[user_id]

    def owned(self) -> list[UserTokens]:
        """Owned accounts in the order given to `generate`."""
        return list(self._users.values())

    def oauth1_token(self, token: str) -> tuple[int, str] | None:
        """(user id, token secret) for an OAuth 1.0a access token."""
        return self._oauth1.get(token)

    def use_nonce(self, key: tuple[str, str, int, str], now: float) -> bool:
        """Record (consumer key, token, timestamp, nonce); False if it was seen before."""
        with self._lock:
            if key in self._nonces:
                return False
            self._nonces.add(key)
            self._nonce_inserts += 1
            if self._nonce_inserts % _NONCE_PRUNE_EVERY == 0:
                # A stale nonce cannot be replayed (its timestamp fails), so forget it.
                self._nonces = {k for k in self._nonces if self.fresh(k[2], now)}
            return True

    def fresh(self, timestamp: int, now: float) -> bool:
        """Whether an OAuth 1.0a timestamp is within the allowed skew."""
        if abs(timestamp - now) <= TIMESTAMP_SKEW_S:
            return True
        return (
            self.wall_clock is not None and abs(timestamp - self.wall_clock()) <= TIMESTAMP_SKEW_S
        )

    def access(self, token: str, now: float) -> tuple[int, tuple[str, ...]] | None:
        """(user id, scopes) for a live OAuth 2.0 access token."""
        with self._lock:
            rec = self._access.get(token)
            if rec is None:
                return None
            if rec.issued_at is None:
                rec.issued_at = now
            if now - rec.issued_at >= ACCESS_TOKEN_TTL_S:
                return None
            return rec.user_id, rec.scopes

    def issue(self, user_id: int, scopes: tuple[str, ...], now: float) -> TokenGrant:
        """Mint an access token (and a refresh token if `offline.access` was granted)."""
        with self._lock:
            access = _oauth2_token(self._rng, "at", now)
            self._access[access] = _Access(user_id, scopes, now)
            refresh = None
            if "offline.access" in scopes:
                refresh = _oauth2_token(self._rng, "rt", now)
                self._refresh[refresh] = (user_id, scopes)
            return TokenGrant(access, refresh, scopes)

    def refresh(self, refresh_token: str, now: float) -> TokenGrant | None:
        """Spend a refresh token for a new grant (rotation); None if unknown or spent."""
        with self._lock:
            found = self._refresh.pop(refresh_token, None)
        return None if found is None else self.issue(found[0], found[1], now)

    def revoke(self, token: str) -> None:
        """Make an access or refresh token fail from now on (unknown tokens are ignored)."""
        with self._lock:
            self._access.pop(token, None)
            self._refresh.pop(token, None)

    def store_code(self, code: AuthCode) -> str:
        """Keep a pending authorization code and return its value."""
        with self._lock:
            if len(self._codes) >= _MAX_PENDING_CODES:  # nobody redeems them: drop expired ones
                self._codes = {
                    k: c
                    for k, c in self._codes.items()
                    if code.issued_at - c.issued_at <= CODE_TTL_S
                }
            value = _rand(self._rng, 64)
            self._codes[value] = code
            return value

    def take_code(self, value: str) -> AuthCode | None:
        """Remove and return a pending code: codes are single use."""
        with self._lock:
            return self._codes.pop(value, None)


def json_response(
    status: int,
    body: Mapping[str, Any],
    content_type: str = JSON,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """A JSON response with X's compact separators."""
    content = json.dumps(body, separators=(",", ":")).encode()
    return httpx.Response(
        status, content=content, headers={**(headers or {}), "content-type": content_type}
    )


def unauthorized() -> httpx.Response:
    """X's 401 for missing, unknown or invalid credentials."""
    return json_response(401, problems.UNAUTHORIZED)


def require_user_context(principal: Principal, new_problems: bool) -> httpx.Response | None:
    """The 403 Unsupported Authentication for app-only requests, else None."""
    if principal.method == "bearer":
        body = problems.unsupported_authentication(new_problems)
        return json_response(403, body, PROBLEM_JSON)
    return None


def require_scopes(principal: Principal, required: Iterable[str]) -> httpx.Response | None:
    """The generic 403 Forbidden when an OAuth 2.0 token lacks a scope, else None."""
    if principal.scopes is None or principal.scopes.issuperset(required):
        return None
    return json_response(403, problems.forbidden("Forbidden"), PROBLEM_JSON)


def authenticate(
    request: httpx.Request, registry: AuthRegistry, now: float, public_base_urls: Sequence[str]
) -> Principal | httpx.Response:
    """Resolve the request's credentials to a Principal, or return the 401 to send."""
    header = request.headers.get("authorization")
    if header is None:
        return unauthorized()
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer":
        token = credentials.strip()
        if hmac.compare_digest(token.encode(), registry.app.bearer_token.encode()):
            return Principal("bearer", registry.app.app_id, None, None)
        found = registry.access(token, now)
        if found is None:
            return unauthorized()
        return Principal("oauth2", registry.app.app_id, found[0], frozenset(found[1]))
    if scheme.lower() == "oauth":
        return _oauth1(request, header, registry, now, public_base_urls) or unauthorized()
    return unauthorized()


def _oauth1(
    request: httpx.Request,
    header: str,
    registry: AuthRegistry,
    now: float,
    public_base_urls: Sequence[str],
) -> Principal | None:
    try:
        oauth = {k: utils.unescape(v) for k, v in utils.parse_authorization_header(header)}
        params = signature.collect_parameters(
            uri_query=request.url.query.decode("ascii"),
            body=_form_body(request),
            headers={"Authorization": header},
        )
        timestamp = int(oauth["oauth_timestamp"])
        consumer_key, token = oauth["oauth_consumer_key"], oauth["oauth_token"]
        nonce, claimed = oauth["oauth_nonce"], oauth["oauth_signature"]
    except (KeyError, ValueError, UnicodeDecodeError):
        return None
    if (
        oauth.get("oauth_signature_method") != "HMAC-SHA1"
        or oauth.get("oauth_version", "1.0") != "1.0"
    ):
        return None
    found = registry.oauth1_token(token)
    if consumer_key != registry.app.consumer_key or found is None:
        return None
    if not registry.fresh(timestamp, now):
        return None
    normalized = signature.normalize_parameters(params)  # type: ignore[arg-type]  # stub says dict
    secrets = _Secrets(registry.app.consumer_secret, found[1])
    path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
    own = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}{path}"
    # REFERENCE §5.4: a client may have signed the public URL before being rerouted here.
    method: Any = request.method  # the stub wants a Literal of method names
    for uri in (own, *(public.rstrip("/") + path for public in public_base_urls)):
        base_string = signature.signature_base_string(
            method, signature.base_string_uri(uri), normalized
        )
        expected: str = signature.sign_hmac_sha1_with_client(base_string, secrets)
        if hmac.compare_digest(expected.encode(), claimed.encode()):
            if not registry.use_nonce((consumer_key, token, timestamp, nonce), now):
                return None
            return Principal("oauth1", registry.app.app_id, found[0], None)
    return None


def _form_body(request: httpx.Request) -> str | None:
    # RFC 5849 §3.4.1.3.1: only form-encoded bodies are signed; JSON bodies are not.
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    return read_body(request).decode("utf-8")


def read_body(request: httpx.Request) -> bytes:
    """The request body, reading it first if it was streamed."""
    try:
        return request.content
    except httpx.RequestNotRead:
        return request.read()
