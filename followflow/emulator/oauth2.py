"""The emulator's OAuth 2.0 routes (REFERENCE.md §4.3, §4.4).

- `GET /i/oauth2/authorize` (also `/2/oauth2/authorize`): Authorization Code with PKCE.
- `POST /2/oauth2/token`: `authorization_code` and `refresh_token` grants.
- `POST /2/oauth2/revoke`.
- `POST /oauth2/token`: the app-only bearer mint (`client_credentials`).

Where the emulator deviates from X:
- Nobody is there to click "Authorize app": the authorize endpoint consents at once for
  the owned account named by the emulator-only `as_user` parameter (username or id;
  default: the first owned account) and answers 302 to the redirect URI. `deny=1`
  stands in for the user pressing Cancel (`error=access_denied`).
- X shows an HTML error page for a bad `client_id` or `redirect_uri`; the emulator
  answers 400 with an OAuth-style JSON body. Other authorize errors are redirected with
  `error=...` as RFC 6749 §4.1.2.1 says.
- A loopback redirect URI matches a registered one whatever its port (RFC 8252 §7.3);
  X wants an exact match.
- The app is a confidential and a public client at once: Basic auth, `client_id` in the
  body, or both are accepted. A wrong Basic header is always refused.
- Any attempt to redeem a code spends it, even one that fails the PKCE check.
- A refresh rotates the refresh token; the access token it replaced stays valid until it
  expires. Revoking one token leaves the other of its pair alone.
- The `/oauth2/token` error bodies are X's v1.1 ones seen in third-party fixtures, not in
  REFERENCE.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from followflow.emulator.auth import (
    CODE_TTL_S,
    AuthCode,
    AuthRegistry,
    TokenGrant,
    json_response,
    read_body,
)

AUTHORIZE_PATHS = frozenset({"/i/oauth2/authorize", "/2/oauth2/authorize"})
# SPEC's scope list plus DOCSPEC's block.write (REFERENCE §4.1).
KNOWN_SCOPES = frozenset(
    "block.read block.write bookmark.read bookmark.write broadcast.read broadcast.write "
    "dm.read dm.write follows.read follows.write like.read like.write list.read list.write "
    "media.write mute.read mute.write offline.access space.read timeline.read "
    "tweet.moderate.write tweet.read tweet.write users.read".split()
)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "[::1]"})
_BAD_CLIENT = ("unauthorized_client", "Missing valid authorization header")
_BAD_GRANT_TYPE = (
    "Value passed for the grant type was invalid. "
    "Grant type should be one of [authorization_code, refresh_token]."
)


def _oauth_error(status: int, error: str, description: str) -> httpx.Response:
    return json_response(status, {"error": error, "error_description": description})


def _invalid(what: str) -> httpx.Response:
    return _oauth_error(400, "invalid_request", f"Value passed for the {what} was invalid.")


def _missing(name: str) -> httpx.Response:
    return _oauth_error(400, "invalid_request", f"Missing required parameter [{name}].")


def handle_oauth(
    request: httpx.Request, registry: AuthRegistry, now: float
) -> httpx.Response | None:
    """Answer an OAuth 2.0 route, or return None when the path is not one."""
    path = request.url.path
    routes = {"/2/oauth2/token": _token, "/2/oauth2/revoke": _revoke, "/oauth2/token": _app_mint}
    if path in AUTHORIZE_PATHS:
        if request.method != "GET":
            return _oauth_error(405, "invalid_request", "Method not allowed.")
        return _authorize(request, registry, now)
    if path in routes:
        if request.method != "POST":
            return _oauth_error(405, "invalid_request", "Method not allowed.")
        return routes[path](request, registry, now)
    return None


def _authorize(request: httpx.Request, registry: AuthRegistry, now: float) -> httpx.Response:
    q = request.url.params
    app = registry.app
    if q.get("client_id") != app.client_id:
        return _invalid("client_id")
    redirect_uri = q.get("redirect_uri", "")
    if not _redirect_allowed(redirect_uri, app.redirect_uris):
        return _invalid("redirect_uri")
    user_id = _resolve_user(registry, q.get("as_user"))
    if user_id is None:
        return _invalid("as_user")
    state = q.get("state")
    scopes = tuple(dict.fromkeys(q.get("scope", "").split()))
    method = q.get("code_challenge_method", "").lower()
    challenge = q.get("code_challenge", "")

    def fail(error: str, description: str) -> httpx.Response:
        extra = {"state": state} if state is not None else {}
        return _redirect(redirect_uri, {"error": error, "error_description": description, **extra})

    if q.get("response_type") != "code":
        return fail("unsupported_response_type", "response_type must be code")
    if not state or len(state) > 500:
        return fail("invalid_request", "state is required (at most 500 characters)")
    if not scopes or not KNOWN_SCOPES.issuperset(scopes):
        return fail("invalid_scope", "scope must be space-separated known scopes")
    if not challenge or method not in ("s256", "plain"):
        return fail("invalid_request", "code_challenge and code_challenge_method are required")
    if q.get("deny") in ("1", "true"):
        return fail("access_denied", "The user denied the request")
    pkce: Literal["s256", "plain"] = "s256" if method == "s256" else "plain"
    code = registry.store_code(
        AuthCode(user_id, app.client_id, redirect_uri, scopes, challenge, pkce, now)
    )
    return _redirect(redirect_uri, {"state": state, "code": code})


def _token(request: httpx.Request, registry: AuthRegistry, now: float) -> httpx.Response:
    form = _form(request)
    refused = _client_refused(request, form, registry)
    if refused is not None:
        return refused
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        for name in ("code", "redirect_uri", "code_verifier"):
            if not form.get(name):
                return _missing(name)
        code = registry.take_code(form["code"])
        if (
            code is None
            or now - code.issued_at > CODE_TTL_S
            or code.redirect_uri != form["redirect_uri"]
            or not _pkce_ok(code, form["code_verifier"])
        ):
            return _invalid("authorization code")
        return _grant_response(registry.issue(code.user_id, code.scopes, now))
    if grant_type == "refresh_token":
        if not form.get("refresh_token"):
            return _missing("refresh_token")
        grant = registry.refresh(form["refresh_token"], now)
        return _invalid("token") if grant is None else _grant_response(grant)
    if grant_type is None:
        return _missing("grant_type")
    return _oauth_error(400, "invalid_request", _BAD_GRANT_TYPE)


def _revoke(request: httpx.Request, registry: AuthRegistry, now: float) -> httpx.Response:
    form = _form(request)
    refused = _client_refused(request, form, registry)
    if refused is not None:
        return refused
    if not form.get("token"):
        return _missing("token")
    # RFC 7009 §2.2: an unknown token is answered like a revoked one.
    registry.revoke(form["token"])
    return json_response(200, {"revoked": True})


def _app_mint(request: httpx.Request, registry: AuthRegistry, now: float) -> httpx.Response:
    app = registry.app
    basic = _basic(request)
    if basic is None or not (
        hmac.compare_digest(basic[0].encode(), app.consumer_key.encode())
        and hmac.compare_digest(basic[1].encode(), app.consumer_secret.encode())
    ):
        error = {
            "code": 99,
            "message": "Unable to verify your credentials",
            "label": "authenticity_token_error",
        }
        return json_response(403, {"errors": [error]})
    if _form(request).get("grant_type") != "client_credentials":
        error = {
            "code": 170,
            "message": "Missing required parameter: grant_type",
            "label": "forbidden_missing_parameter",
        }
        return json_response(403, {"errors": [error]})
    return json_response(200, {"token_type": "bearer", "access_token": app.bearer_token})


def _client_refused(
    request: httpx.Request, form: dict[str, str], registry: AuthRegistry
) -> httpx.Response | None:
    app = registry.app
    basic_id = None
    if "authorization" in request.headers:
        basic = _basic(request)
        if basic is None or not (
            basic[0] == app.client_id
            and hmac.compare_digest(basic[1].encode(), app.client_secret.encode())
        ):
            return _oauth_error(401, *_BAD_CLIENT)
        basic_id = basic[0]
    body_id = form.get("client_id")
    if body_id is None and basic_id is None:
        return _missing("client_id")
    if body_id is not None and body_id != app.client_id:
        return _oauth_error(401, *_BAD_CLIENT)
    return None


def _basic(request: httpx.Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _pkce_ok(code: AuthCode, verifier: str) -> bool:
    if code.method == "plain":
        expected = verifier
    else:
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(expected.encode(), code.challenge.encode())


def _grant_response(grant: TokenGrant) -> httpx.Response:
    body: dict[str, object] = {
        "token_type": "bearer",
        "expires_in": 7200,
        "access_token": grant.access_token,
        "scope": " ".join(grant.scopes),
    }
    if grant.refresh_token is not None:
        body["refresh_token"] = grant.refresh_token
    return json_response(200, body)


def _form(request: httpx.Request) -> dict[str, str]:
    try:
        return dict(parse_qsl(read_body(request).decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


def _redirect(uri: str, params: dict[str, str]) -> httpx.Response:
    joiner = "&" if urlsplit(uri).query else "?"
    return httpx.Response(302, headers={"location": f"{uri}{joiner}{urlencode(params)}"})


def _redirect_allowed(uri: str, registered: tuple[str, ...]) -> bool:
    if uri in registered:
        return True
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != "http" or parts.hostname is None:
        return False
    host = parts.netloc.rpartition(":")[0] if port else parts.netloc
    if host not in _LOOPBACK:
        return False
    without_port = parts._replace(netloc=host).geturl()
    return without_port in registered


def _resolve_user(registry: AuthRegistry, as_user: str | None) -> int | None:
    owned = registry.owned()
    if as_user is None:
        return owned[0].user_id if owned else None
    for tokens in owned:
        if as_user.lower() == tokens.username.lower() or as_user == str(tokens.user_id):
            return tokens.user_id
    return None
