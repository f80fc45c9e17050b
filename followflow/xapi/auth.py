"""The three ways to authenticate to X, as httpx.Auth objects.

* `BearerAuth`: app-only; reads and lookups, never follow/unfollow or /2/users/me.
* `OAuth1Auth`: OAuth 1.0a user context, HMAC-SHA1 signed by oauthlib exactly as
  requests-oauthlib (tweepy, twarc) signs: query parameters are signed, JSON bodies are not.
* `OAuth2UserAuth`: OAuth 2.0 user token from the token store, refreshed before it expires
  and once on a 401. The rotated refresh token is saved before the new access token is used.

Each exposes `principal` ("app" or "user-<id>"), never secret, for rate-limit buckets and
Prefect concurrency-limit names.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Callable, Generator
from typing import Any, cast

import httpx
import orjson
from oauthlib import oauth1
from pydantic import SecretStr

from followflow.settings import Settings
from followflow.xapi.errors import MissingCredentials, Unauthorized
from followflow.xapi.tokens import OAuth2Tokens, TokenStore, token_store_from_settings

_FORM = "application/x-www-form-urlencoded"


class _DropDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


# oauthlib logs the access token, the signature base string and the signature itself at
# DEBUG; with DEBUG logging on they would reach every handler. Drop those records.
for _name in ("oauthlib.oauth1.rfc5849", "oauthlib.oauth1.rfc5849.signature"):
    logging.getLogger(_name).addFilter(_DropDebug())


def _secret(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class XAuth(httpx.Auth):
    """An httpx.Auth that knows whose requests it signs."""

    principal: str = "app"
    user_id: int | None = None


class BearerAuth(XAuth):
    """App-only Bearer token."""

    def __init__(self, token: str | SecretStr) -> None:
        self._header = f"Bearer {_secret(token)}"
        self.principal = "app"
        self.user_id = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


def user_id_from_oauth1_token(access_token: str) -> int:
    """The account id X puts before the dash of an OAuth 1.0a access token."""
    prefix, dash, _ = access_token.partition("-")
    if not dash or not prefix.isdigit():
        raise MissingCredentials(
            "the OAuth 1.0a access token does not look like '<user id>-...'; "
            "check FOLLOWFLOW_ACCESS_TOKEN"
        )
    return int(prefix)


class OAuth1Auth(XAuth):
    """OAuth 1.0a user context, HMAC-SHA1, Authorization header; a fresh nonce per send."""

    def __init__(
        self,
        consumer_key: str | SecretStr,
        consumer_secret: str | SecretStr,
        access_token: str | SecretStr,
        access_token_secret: str | SecretStr,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        token = _secret(access_token)
        self.user_id = user_id_from_oauth1_token(token)
        self.principal = f"user-{self.user_id}"
        self._clock = clock
        self._credentials = (
            _secret(consumer_key),
            _secret(consumer_secret),
            token,
            _secret(access_token_secret),
        )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        content_type = request.headers.get("content-type", "")
        # As requests-oauthlib: only form bodies are part of the signature, JSON is not.
        body = request.content.decode() if content_type.startswith(_FORM) else None
        headers = {"Content-Type": content_type} if body is not None else {}
        key, secret, token, token_secret = self._credentials
        client = oauth1.Client(
            key,
            client_secret=secret,
            resource_owner_key=token,
            resource_owner_secret=token_secret,
            signature_method=oauth1.SIGNATURE_HMAC_SHA1,
            signature_type=oauth1.SIGNATURE_TYPE_AUTH_HEADER,
            # Our clock, so a simulated clock (tests, demo) signs with its own time.
            timestamp=str(int(self._clock())),
            nonce=secrets.token_hex(16),
        )
        method = cast(Any, request.method)  # oauthlib's stubs want a Literal of verbs
        _, signed, _ = client.sign(str(request.url), http_method=method, body=body, headers=headers)
        request.headers["Authorization"] = signed["Authorization"]
        yield request


def basic_auth_header(client_id: str, client_secret: str | SecretStr) -> str:
    """`Basic base64(client_id:client_secret)` for confidential OAuth 2.0 clients."""
    pair = f"{client_id}:{_secret(client_secret)}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def tokens_from_response(
    body: object, *, now: float, user_id: int, username: str | None, previous: OAuth2Tokens | None
) -> OAuth2Tokens:
    """OAuth2Tokens from a token-endpoint JSON body (raises Unauthorized on a bad one)."""
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise Unauthorized("the OAuth 2.0 token endpoint sent no access token")
    refresh = body.get("refresh_token")
    return OAuth2Tokens(
        access_token=SecretStr(body["access_token"]),
        refresh_token=(
            SecretStr(refresh)
            if isinstance(refresh, str)
            else (previous.refresh_token if previous else None)
        ),
        expires_at=now + float(body.get("expires_in") or 7200),
        scope=str(body.get("scope") or (previous.scope if previous else "")),
        user_id=user_id,
        username=username,
    )


def token_error(response: httpx.Response) -> str:
    """`HTTP 400 invalid_request: ...` from a token-endpoint error (no secrets in there)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    words = [str(body[k]) for k in ("error", "error_description") if body.get(k)]
    return f"HTTP {response.status_code} " + ": ".join(words)


class OAuth2UserAuth(XAuth):
    """OAuth 2.0 user token from a TokenStore, refreshed before expiry and once on a 401."""

    requires_response_body = True

    def __init__(
        self,
        *,
        store: TokenStore,
        token_url: str,
        client_id: str,
        client_secret: SecretStr | None = None,
        user_id: int | None = None,
        clock: Callable[[], float] = time.time,
        refresh_margin_s: float = 300.0,
    ) -> None:
        tokens = store.load(user_id)
        if tokens is None:
            raise MissingCredentials(
                "no OAuth 2.0 tokens in the token store; run `followflow auth login`"
            )
        self._store = store
        self._tokens = tokens
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._margin = refresh_margin_s
        self.user_id = tokens.user_id
        self.principal = f"user-{tokens.user_id}"
        self.refreshes = 0  # how many refreshes this object made (tests and logs)

    @property
    def expires_at(self) -> float:
        return self._tokens.expires_at

    def _expiring(self, tokens: OAuth2Tokens) -> bool:
        return tokens.expires_at - self._margin <= self._clock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._expiring(self._tokens):
            yield from self._refresh(stale=self._tokens)
        used = self._tokens
        request.headers["Authorization"] = f"Bearer {used.access_token.get_secret_value()}"
        response = yield request
        if response.status_code != 401:
            return
        # Revoked early or refreshed elsewhere: refresh (or pick up the new token) once.
        yield from self._refresh(stale=used)
        request.headers["Authorization"] = f"Bearer {self._tokens.access_token.get_secret_value()}"
        yield request

    def _refresh(self, stale: OAuth2Tokens) -> Generator[httpx.Request, httpx.Response, None]:
        with self._store.locked():
            # Another process may have refreshed already; its rotated token is the only
            # valid one now, so use it instead of spending ours (which would fail).
            current = self._store.load(self.user_id) or self._tokens
            if current.access_token != stale.access_token and not self._expiring(current):
                self._tokens = current
                return
            if current.refresh_token is None:
                raise Unauthorized(
                    "the OAuth 2.0 access token expired and there is no refresh token "
                    "(was offline.access granted?); run `followflow auth login`",
                    status_code=401,
                )
            data = {
                "grant_type": "refresh_token",
                "refresh_token": current.refresh_token.get_secret_value(),
                "client_id": self._client_id,
            }
            headers = {"Content-Type": _FORM}
            if self._client_secret is not None:
                headers["Authorization"] = basic_auth_header(self._client_id, self._client_secret)
            response = yield httpx.Request("POST", self._token_url, data=data, headers=headers)
            if response.status_code != 200:
                raise Unauthorized(
                    f"refreshing the OAuth 2.0 token failed ({token_error(response)}); "
                    "run `followflow auth login`",
                    status_code=response.status_code,
                )
            try:
                body = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                raise Unauthorized(
                    "the OAuth 2.0 token endpoint sent a truncated body; the refresh token "
                    "may be spent: run `followflow auth login`",
                    status_code=response.status_code,
                ) from None
            fresh = tokens_from_response(
                body,
                now=self._clock(),
                user_id=current.user_id,
                username=current.username,
                previous=current,
            )
            # Durable first: a crash after this line still leaves a usable refresh token.
            self._store.save(fresh)
            self._tokens = fresh
            self.refreshes += 1


def oauth1_from_settings(
    settings: Settings, *, clock: Callable[[], float] = time.time
) -> OAuth1Auth | None:
    """OAuth1Auth when all four OAuth 1.0a credentials are set, else None."""
    parts = (
        settings.consumer_key,
        settings.consumer_secret,
        settings.access_token,
        settings.access_token_secret,
    )
    if any(p is None for p in parts):
        return None
    key, secret, token, token_secret = (p for p in parts if p is not None)
    return OAuth1Auth(key, secret, token, token_secret, clock=clock)


def oauth2_from_settings(
    settings: Settings,
    *,
    user_id: int | None = None,
    clock: Callable[[], float] = time.time,
    store: TokenStore | None = None,
) -> OAuth2UserAuth | None:
    """OAuth2UserAuth from the token store, or None when it holds no tokens for the account."""
    store = store or token_store_from_settings(settings)
    if store.load(user_id) is None:
        return None
    if not settings.client_id:
        raise MissingCredentials("OAuth 2.0 tokens need FOLLOWFLOW_CLIENT_ID to be refreshed")
    return OAuth2UserAuth(
        store=store,
        token_url=f"{settings.x_base_url}/2/oauth2/token",
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        user_id=user_id,
        clock=clock,
    )


def auth_from_settings(
    settings: Settings,
    for_writes: bool,
    *,
    user_id: int | None = None,
    clock: Callable[[], float] = time.time,
    store: TokenStore | None = None,
) -> XAuth:
    """The auth to use: reads prefer the app Bearer token, writes need user context.

    Reads: Bearer, else OAuth 1.0a, else OAuth 2.0 tokens from the store. Writes (follow,
    unfollow, /2/users/me): OAuth 1.0a, else OAuth 2.0. `user_id` picks the account's
    OAuth 2.0 tokens when the store holds several.

    Raises:
        MissingCredentials: nothing suitable is configured (the message says what to set).
    """
    if not for_writes and settings.bearer_token is not None:
        return BearerAuth(settings.bearer_token)
    oauth1_auth = oauth1_from_settings(settings, clock=clock)
    if oauth1_auth is not None and (user_id is None or oauth1_auth.user_id == user_id):
        return oauth1_auth
    oauth2_auth = oauth2_from_settings(settings, user_id=user_id, clock=clock, store=store)
    if oauth2_auth is not None:
        return oauth2_auth
    if oauth1_auth is not None:
        raise MissingCredentials(
            f"the configured FOLLOWFLOW_ACCESS_TOKEN is account {oauth1_auth.user_id}'s, not "
            f"{user_id}'s: set FOLLOWFLOW_ACCESS_TOKEN/_SECRET of account {user_id}, or run "
            "`followflow auth login` as it"
        )
    need = "user context" if for_writes else "credentials"
    raise MissingCredentials(
        f"no {need} configured: set FOLLOWFLOW_CONSUMER_KEY, FOLLOWFLOW_CONSUMER_SECRET, "
        "FOLLOWFLOW_ACCESS_TOKEN and FOLLOWFLOW_ACCESS_TOKEN_SECRET, or run "
        "`followflow auth login`" + ("" if for_writes else ", or set FOLLOWFLOW_BEARER_TOKEN")
    )
