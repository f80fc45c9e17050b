"""`followflow auth login` and `auth status`: OAuth 2.0 Authorization Code with PKCE.

login: print the authorize URL (PKCE S256 challenge, random `state`), listen on the
loopback redirect URI `http://127.0.0.1:<oauth2_redirect_port>/callback` for the one
redirect (with a timeout), check `state`, exchange the code (HTTP Basic for confidential
clients, `client_id` in the body always, as X has been seen to demand it), ask
/2/users/me who logged in, and save the tokens to the token store.
status: who is logged in and when the tokens expire; never a token.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import webbrowser
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import orjson

from followflow.settings import Settings
from followflow.xapi.auth import (
    BearerAuth,
    basic_auth_header,
    oauth1_from_settings,
    oauth2_from_settings,
    token_error,
    tokens_from_response,
)
from followflow.xapi.errors import LoginFailed, MissingCredentials, XAPIError
from followflow.xapi.tokens import OAuth2Tokens, TokenStore, token_store_from_settings

SCOPES = ("follows.read", "follows.write", "users.read", "tweet.read", "offline.access")
_REAL_HOSTS = frozenset({"api.x.com", "api.twitter.com"})
_MAX_CALLBACK_REQUESTS = 5  # a browser may ask for /favicon.ico first; never loop beyond this


def authorize_endpoint(base_url: str) -> str:
    """X's browser authorize page for the real API, else the emulator's own."""
    if urlsplit(base_url).hostname in _REAL_HOSTS:
        return "https://x.com/i/oauth2/authorize"
    return f"{base_url}/i/oauth2/authorize"


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier (86 url-safe chars) and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


def authorize_url(settings: Settings, *, redirect_uri: str, state: str, challenge: str) -> str:
    """The URL the account owner opens to grant followflow access."""
    if not settings.client_id:
        raise MissingCredentials("`followflow auth login` needs FOLLOWFLOW_CLIENT_ID")
    query = {
        "response_type": "code",
        "client_id": settings.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(SCOPES),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{authorize_endpoint(settings.x_base_url)}?{urlencode(query)}"


class _Callback(BaseHTTPRequestHandler):
    result: dict[str, str] | None = None

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        parts = urlsplit(self.path)
        if parts.path != "/callback":
            self.send_error(404)
            return
        type(self).result = {k: v[0] for k, v in parse_qs(parts.query).items()}
        ok = "code" in type(self).result  # type: ignore[operator]
        page = (
            b"followflow: logged in. You can close this window."
            if ok
            else b"followflow: login failed; see the terminal."
        )
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: object) -> None:
        # The default handler prints the request line, code and state included: stay quiet.
        return


def _bind_callback(port: int) -> HTTPServer:
    handler = type("CallbackHandler", (_Callback,), {"result": None})
    try:
        return HTTPServer(("127.0.0.1", port), handler)
    except OSError as error:
        raise LoginFailed(
            f"cannot listen on 127.0.0.1:{port} ({error.strerror}); "
            "set FOLLOWFLOW_OAUTH2_REDIRECT_PORT to a free port registered with the app"
        ) from None


def _await_callback(
    server: HTTPServer, timeout_s: float, clock: Callable[[], float]
) -> dict[str, str]:
    handler: type[_Callback] = server.RequestHandlerClass  # type: ignore[assignment]
    deadline = clock() + timeout_s
    for _ in range(_MAX_CALLBACK_REQUESTS):
        left = deadline - clock()
        if left <= 0:
            break
        server.timeout = left
        server.handle_request()
        if handler.result is not None:
            return handler.result
    raise LoginFailed(f"no redirect reached the callback within {timeout_s:.0f} s; try again")


def login(
    settings: Settings,
    *,
    open_browser: bool,
    out: Callable[[str], None],
    browser: Callable[[str], object] = webbrowser.open,
    transport: httpx.BaseTransport | None = None,
    store: TokenStore | None = None,
    timeout_s: float = 300.0,
    clock: Callable[[], float] = time.time,
) -> OAuth2Tokens:
    """Run the PKCE login once and store the tokens; returns them (SecretStr inside).

    Raises:
        MissingCredentials: FOLLOWFLOW_CLIENT_ID is not set.
        LoginFailed: denied, timed out, `state` mismatch, or the code exchange failed.
    """
    store = store or token_store_from_settings(settings)
    redirect_uri = f"http://127.0.0.1:{settings.oauth2_redirect_port}/callback"
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(24)
    url = authorize_url(settings, redirect_uri=redirect_uri, state=state, challenge=challenge)
    server = _bind_callback(settings.oauth2_redirect_port)
    try:
        out("Open this URL in a browser and authorize followflow:")
        out(url)
        out(f"Waiting for the redirect to {redirect_uri} ...")
        if open_browser:
            # A thread: a browser callable may itself block on our callback page.
            threading.Thread(target=browser, args=(url,), daemon=True).start()
        answer = _await_callback(server, timeout_s, clock)
    finally:
        server.server_close()
    if not secrets.compare_digest(answer.get("state", ""), state):
        raise LoginFailed("the redirect's `state` does not match this login; try again")
    if "error" in answer:
        raise LoginFailed(
            f"X refused the authorization: {answer['error']}"
            + (f": {answer['error_description']}" if answer.get("error_description") else "")
        )
    if "code" not in answer:
        raise LoginFailed("the redirect carried no authorization code")
    tokens = _exchange(settings, answer["code"], verifier, redirect_uri, transport, clock)
    store.save(tokens)
    out(f"Logged in as @{tokens.username} (id {tokens.user_id}); tokens saved.")
    return tokens


def _exchange(
    settings: Settings,
    code: str,
    verifier: str,
    redirect_uri: str,
    transport: httpx.BaseTransport | None,
    clock: Callable[[], float],
) -> OAuth2Tokens:
    assert settings.client_id is not None  # checked when the URL was built
    form = {
        "code": code,
        "grant_type": "authorization_code",
        "client_id": settings.client_id,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    headers = {}
    if settings.client_secret is not None:
        headers["Authorization"] = basic_auth_header(settings.client_id, settings.client_secret)
    with httpx.Client(base_url=settings.x_base_url, transport=transport, timeout=30.0) as http:
        try:
            response = http.post("/2/oauth2/token", data=form, headers=headers)
        except httpx.HTTPError as error:
            raise LoginFailed(f"the token exchange failed: {type(error).__name__}") from None
        if response.status_code != 200:
            raise LoginFailed(f"the token exchange failed ({token_error(response)})")
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise LoginFailed("the token endpoint sent a truncated body; try again") from None
    access = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(access, str):
        raise LoginFailed("the token endpoint sent no access token")
    from followflow.xapi.client import XClient  # client imports auth; keep this module light

    with XClient(settings.x_base_url, BearerAuth(access), transport=transport, clock=clock) as x:
        me = x.me(user_fields=())
    return tokens_from_response(
        body, now=clock(), user_id=me.id, username=me.username, previous=None
    )


def _when(epoch: float, now: float) -> str:
    at = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
    minutes = (epoch - now) / 60
    return f"{at} (in {minutes:.0f} min)" if minutes >= 0 else f"{at} ({-minutes:.0f} min ago)"


def status(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    store: TokenStore | None = None,
    clock: Callable[[], float] = time.time,
) -> str:
    """Who is logged in (asked of /2/users/me) and when the tokens expire; never a token."""
    from followflow.xapi.client import XClient

    store = store or token_store_from_settings(settings)
    where = (
        f"Prefect Secret block {settings.token_store_block!r}"
        if settings.token_store_block
        else str(settings.token_store_path)
    )
    lines = []
    tokens = store.load()
    if tokens is None:
        lines.append(
            f"OAuth 2.0: not logged in (no tokens in {where}); run `followflow auth login`"
        )
    else:
        try:
            auth = oauth2_from_settings(settings, clock=clock, store=store)
            assert auth is not None
            with XClient(settings.x_base_url, auth, transport=transport, clock=clock) as x:
                me = x.me(user_fields=())
            who = f"@{me.username} (id {me.id}), confirmed by X"
        except XAPIError as error:
            who = f"@{tokens.username} (id {tokens.user_id}), but X refused: {error}"
        current = store.load(tokens.user_id) or tokens  # a refresh may have rotated them
        refresh = "present" if current.refresh_token else "none (no offline.access)"
        lines += [
            f"OAuth 2.0: logged in as {who}",
            f"  access token expires {_when(current.expires_at, clock())}",
            f"  refresh token: {refresh}; scopes: {current.scope or '?'}",
            f"  stored in {where}",
        ]
    oauth1 = None
    try:
        oauth1 = oauth1_from_settings(settings, clock=clock)
    except MissingCredentials as error:
        lines.append(f"OAuth 1.0a: misconfigured: {error}")
    if oauth1 is not None:
        lines.append(f"OAuth 1.0a: user context configured for user id {oauth1.user_id}")
    bearer = "configured" if settings.bearer_token is not None else "not configured"
    lines.append(f"App-only Bearer token: {bearer}")
    return "\n".join(lines)
