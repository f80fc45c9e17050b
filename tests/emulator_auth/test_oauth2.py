"""OAuth 2.0: PKCE authorize and token, refresh rotation, revoke, app-only mint, scopes."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from followflow.clock import ManualClock
from followflow.emulator.auth import (
    AuthRegistry,
    Principal,
    authenticate,
    require_scopes,
    require_user_context,
)
from followflow.emulator.oauth2 import handle_oauth

from .conftest import ALICE_ID, DEMO_ID, PUBLIC_BASES

BASE = "http://127.0.0.1:8787"
REDIRECT = "http://127.0.0.1/callback"
VERIFIER = "dBjftJeZ4CVP-mJ92K9qQ_abcdefghijklmnopqrstuvwxyz0123456789"
SPENT_TOKEN = {
    "error": "invalid_request",
    "error_description": "Value passed for the token was invalid.",
}
BAD_CODE = {
    "error": "invalid_request",
    "error_description": "Value passed for the authorization code was invalid.",
}
BAD_CLIENT = {
    "error": "unauthorized_client",
    "error_description": "Missing valid authorization header",
}
ALL_SCOPES = "tweet.read users.read follows.read follows.write offline.access"


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def call(registry: AuthRegistry, clock: ManualClock, request: httpx.Request) -> httpx.Response:
    response = handle_oauth(request, registry, clock())
    assert response is not None
    return response


def authorize(
    registry: AuthRegistry, clock: ManualClock, *, redirect: str = REDIRECT, **params: str
) -> httpx.Response:
    query = {
        "response_type": "code",
        "client_id": registry.app.client_id,
        "redirect_uri": redirect,
        "scope": ALL_SCOPES,
        "state": "st-123",
        "code_challenge": s256(VERIFIER),
        "code_challenge_method": "S256",
        **params,
    }
    return call(registry, clock, httpx.Request("GET", f"{BASE}/i/oauth2/authorize", params=query))


def redirected(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.content
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {k: v[0] for k, v in query.items()}


def token_request(
    registry: AuthRegistry,
    form: dict[str, str],
    *,
    confidential: bool = True,
    public: bool = True,
    path: str = "/2/oauth2/token",
) -> httpx.Request:
    headers = {"Authorization": basic(registry.app.client_id, registry.app.client_secret)}
    body = {**form, **({"client_id": registry.app.client_id} if public else {})}
    return httpx.Request("POST", BASE + path, data=body, headers=headers if confidential else {})


def exchange(
    registry: AuthRegistry, clock: ManualClock, code: str, verifier: str = VERIFIER, **kw: Any
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    return call(registry, clock, token_request(registry, form, **kw))


def refresh(registry: AuthRegistry, clock: ManualClock, token: str, **kw: Any) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": token}
    return call(registry, clock, token_request(registry, form, **kw))


def use(
    registry: AuthRegistry, clock: ManualClock, access_token: str
) -> Principal | httpx.Response:
    request = httpx.Request(
        "GET", f"{BASE}/2/users/me", headers={"Authorization": f"Bearer {access_token}"}
    )
    return authenticate(request, registry, clock(), PUBLIC_BASES)


def login(registry: AuthRegistry, clock: ManualClock, **params: str) -> dict[str, Any]:
    code = redirected(authorize(registry, clock, **params))["code"]
    response = exchange(registry, clock, code)
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_whole_pkce_flow_with_refresh_rotation(registry: AuthRegistry, clock: ManualClock) -> None:
    query = redirected(authorize(registry, clock, as_user="ff_alice"))
    assert query["state"] == "st-123" and len(query["code"]) >= 32
    response = exchange(registry, clock, query["code"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"token_type", "expires_in", "access_token", "scope", "refresh_token"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 7200
    assert body["scope"] == ALL_SCOPES

    principal = use(registry, clock, body["access_token"])
    assert principal == Principal(
        "oauth2", registry.app.app_id, ALICE_ID, frozenset(ALL_SCOPES.split())
    )
    assert isinstance(principal, Principal) and principal.bucket_key == f"user:{ALICE_ID}"

    first = refresh(registry, clock, body["refresh_token"])
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != body["refresh_token"]
    assert rotated["access_token"] != body["access_token"]
    assert isinstance(use(registry, clock, rotated["access_token"]), Principal)

    spent = refresh(registry, clock, body["refresh_token"])
    assert spent.status_code == 400 and spent.json() == SPENT_TOKEN

    again = refresh(registry, clock, rotated["refresh_token"])
    assert again.status_code == 200 and again.json()["scope"] == ALL_SCOPES


@pytest.mark.parametrize("method", ["S256", "s256", "plain", "PLAIN"])
def test_challenge_methods(registry: AuthRegistry, clock: ManualClock, method: str) -> None:
    challenge = VERIFIER if method.lower() == "plain" else s256(VERIFIER)
    params = {"code_challenge": challenge, "code_challenge_method": method}
    code = redirected(authorize(registry, clock, **params))["code"]
    assert exchange(registry, clock, code).status_code == 200


def test_wrong_verifier_is_rejected_and_spends_the_code(
    registry: AuthRegistry, clock: ManualClock
) -> None:
    code = redirected(authorize(registry, clock))["code"]
    wrong = exchange(registry, clock, code, verifier=VERIFIER + "x")
    assert wrong.status_code == 400 and wrong.json() == BAD_CODE
    assert exchange(registry, clock, code).json() == BAD_CODE


def test_plain_challenge_is_not_accepted_as_s256(
    registry: AuthRegistry, clock: ManualClock
) -> None:
    code = redirected(authorize(registry, clock, code_challenge=VERIFIER))["code"]
    assert exchange(registry, clock, code).json() == BAD_CODE


def test_code_is_single_use(registry: AuthRegistry, clock: ManualClock) -> None:
    code = redirected(authorize(registry, clock))["code"]
    assert exchange(registry, clock, code).status_code == 200
    reused = exchange(registry, clock, code)
    assert reused.status_code == 400 and reused.json() == BAD_CODE


@pytest.mark.parametrize(("wait", "status"), [(30.0, 200), (30.5, 400)])
def test_code_expires_after_30_seconds(
    registry: AuthRegistry, clock: ManualClock, wait: float, status: int
) -> None:
    code = redirected(authorize(registry, clock))["code"]
    clock.advance(wait)
    assert exchange(registry, clock, code).status_code == status


def test_redirect_uri_must_match_the_authorize_one(
    registry: AuthRegistry, clock: ManualClock
) -> None:
    code = redirected(authorize(registry, clock, redirect="http://127.0.0.1:9000/callback"))["code"]
    assert exchange(registry, clock, code).json() == BAD_CODE  # sent REDIRECT, not :9000


def test_access_token_expires_after_7200_seconds(
    registry: AuthRegistry, clock: ManualClock
) -> None:
    body = login(registry, clock)
    clock.advance(7_199)
    assert isinstance(use(registry, clock, body["access_token"]), Principal)
    clock.advance(1)
    expired = use(registry, clock, body["access_token"])
    assert isinstance(expired, httpx.Response) and expired.status_code == 401
    assert expired.json() == {
        "title": "Unauthorized",
        "type": "about:blank",
        "status": 401,
        "detail": "Unauthorized",
    }
    # The refresh token outlives it and gets a fresh access token.
    fresh = refresh(registry, clock, body["refresh_token"]).json()
    assert isinstance(use(registry, clock, fresh["access_token"]), Principal)


def test_initial_tokens_live_two_hours_from_issued_at(clock: ManualClock) -> None:
    registry = AuthRegistry.generate(seed=7, owned=[(DEMO_ID, "ff_demo")], issued_at=clock())
    tokens = registry.tokens_for(DEMO_ID)
    assert isinstance(use(registry, clock, tokens.oauth2_access_token), Principal)
    clock.advance(7_200)
    assert isinstance(use(registry, clock, tokens.oauth2_access_token), httpx.Response)
    renewed = refresh(registry, clock, tokens.oauth2_refresh_token)
    assert renewed.status_code == 200


def test_initial_tokens_without_issued_at_count_from_first_use(
    registry: AuthRegistry, clock: ManualClock
) -> None:
    token = registry.tokens_for(DEMO_ID).oauth2_access_token
    clock.advance(100_000)
    assert isinstance(use(registry, clock, token), Principal)
    clock.advance(7_200)
    assert isinstance(use(registry, clock, token), httpx.Response)


def test_no_refresh_token_without_offline_access(
    registry: AuthRegistry, clock: ManualClock
) -> None:
    body = login(registry, clock, scope="tweet.read users.read follows.read")
    assert "refresh_token" not in body and body["scope"] == "tweet.read users.read follows.read"


def test_public_and_confidential_client_authentication(
    registry: AuthRegistry, clock: ManualClock
) -> None:
    for kw in ({"confidential": False}, {"public": False}, {}):
        code = redirected(authorize(registry, clock))["code"]
        assert exchange(registry, clock, code, **kw).status_code == 200, kw


def test_wrong_basic_is_401_and_no_client_is_400(
    registry: AuthRegistry, clock: ManualClock
) -> None:
    code = redirected(authorize(registry, clock))["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
    }
    for auth in (basic(registry.app.client_id, "wrong"), "Basic !!!", "Bearer x"):
        request = httpx.Request(
            "POST", f"{BASE}/2/oauth2/token", data=form, headers={"Authorization": auth}
        )
        response = call(registry, clock, request)
        assert response.status_code == 401 and response.json() == BAD_CLIENT
    anonymous = call(registry, clock, httpx.Request("POST", f"{BASE}/2/oauth2/token", data=form))
    assert anonymous.status_code == 400
    assert anonymous.json()["error_description"] == "Missing required parameter [client_id]."
    # None of those spent the code.
    assert exchange(registry, clock, code).status_code == 200


def test_other_grant_types_get_the_real_400(registry: AuthRegistry, clock: ManualClock) -> None:
    response = call(registry, clock, token_request(registry, {"grant_type": "client_credentials"}))
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "Value passed for the grant type was invalid. "
        "Grant type should be one of [authorization_code, refresh_token].",
    }


def test_revoke_access_and_refresh_tokens(registry: AuthRegistry, clock: ManualClock) -> None:
    body = login(registry, clock)
    for token in (body["access_token"], body["refresh_token"], "never-issued"):
        response = call(
            registry, clock, token_request(registry, {"token": token}, path="/2/oauth2/revoke")
        )
        assert response.status_code == 200 and response.json() == {"revoked": True}
    assert isinstance(use(registry, clock, body["access_token"]), httpx.Response)
    assert refresh(registry, clock, body["refresh_token"]).json() == SPENT_TOKEN


def test_client_credentials_mints_the_app_bearer(
    registry: AuthRegistry, clock: ManualClock
) -> None:
    app = registry.app
    form = {"grant_type": "client_credentials"}
    headers = {"Authorization": basic(app.consumer_key, app.consumer_secret)}
    response = call(
        registry, clock, httpx.Request("POST", f"{BASE}/oauth2/token", data=form, headers=headers)
    )
    assert response.status_code == 200
    assert response.json() == {"token_type": "bearer", "access_token": app.bearer_token}
    principal = use(registry, clock, response.json()["access_token"])
    assert principal == Principal("bearer", app.app_id, None, None)

    headers = {"Authorization": basic(app.consumer_key, "wrong")}
    refused = call(
        registry, clock, httpx.Request("POST", f"{BASE}/oauth2/token", data=form, headers=headers)
    )
    assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == 99


def test_app_only_is_refused_user_context(registry: AuthRegistry, clock: ManualClock) -> None:
    principal = use(registry, clock, registry.app.bearer_token)
    assert isinstance(principal, Principal) and principal.bucket_key == "app"
    response = require_user_context(principal, new_problems=False)
    assert response is not None and response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  "
        "Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context]."
    )
    assert (
        response.json()["type"] == "https://api.twitter.com/2/problems/unsupported-authentication"
    )
    newer = require_user_context(principal, new_problems=True)
    assert newer is not None
    assert newer.json()["type"] == "https://api.x.com/2/problems/unsupported-authentication"
    assert require_scopes(principal, {"follows.read"}) is None


def test_scopes_are_enforced(registry: AuthRegistry, clock: ManualClock) -> None:
    reader = use(
        registry,
        clock,
        login(registry, clock, scope="tweet.read users.read follows.read")["access_token"],
    )
    writer = use(registry, clock, login(registry, clock)["access_token"])
    assert isinstance(reader, Principal) and isinstance(writer, Principal)
    assert require_user_context(reader, new_problems=False) is None
    assert require_scopes(reader, {"follows.read", "users.read", "tweet.read"}) is None
    refused = require_scopes(reader, {"follows.write", "users.read", "tweet.read"})
    assert refused is not None and refused.status_code == 403
    assert refused.json() == {
        "title": "Forbidden",
        "type": "about:blank",
        "status": 403,
        "detail": "Forbidden",
    }
    assert require_scopes(writer, {"follows.write", "users.read", "tweet.read"}) is None


def test_authorize_picks_the_consenting_account(registry: AuthRegistry, clock: ManualClock) -> None:
    for as_user, expected in ((None, DEMO_ID), ("FF_ALICE", ALICE_ID), (str(ALICE_ID), ALICE_ID)):
        params = {} if as_user is None else {"as_user": as_user}
        principal = use(registry, clock, login(registry, clock, **params)["access_token"])
        assert isinstance(principal, Principal) and principal.user_id == expected


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "follows.read nonsense"}, "invalid_scope"),
        ({"scope": ""}, "invalid_scope"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge_method": "S512"}, "invalid_request"),
        ({"deny": "1"}, "access_denied"),
    ],
)
def test_authorize_errors_are_redirected(
    registry: AuthRegistry, clock: ManualClock, params: dict[str, str], error: str
) -> None:
    query = redirected(authorize(registry, clock, **params))
    assert query["error"] == error and query["state"] == "st-123" and "code" not in query


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "nope"},
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": "http://127.0.0.1/other"},
        {"as_user": "not_owned"},
    ],
)
def test_authorize_400s(registry: AuthRegistry, clock: ManualClock, params: dict[str, str]) -> None:
    response = authorize(registry, clock, **params)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_loopback_redirect_with_any_port_and_the_2_path(
    registry: AuthRegistry, clock: ManualClock
) -> None:
    redirect = "http://localhost:53682/callback"
    query = {
        "response_type": "code",
        "client_id": registry.app.client_id,
        "redirect_uri": redirect,
        "scope": "users.read",
        "state": "s",
        "code_challenge": "c" * 43,
        "code_challenge_method": "plain",
    }
    response = call(
        registry, clock, httpx.Request("GET", f"{BASE}/2/oauth2/authorize", params=query)
    )
    assert response.headers["location"].startswith(redirect + "?")


def test_refresh_race_has_one_winner(registry: AuthRegistry, clock: ManualClock) -> None:
    token = login(registry, clock)["refresh_token"]
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def spend() -> None:
        barrier.wait()
        statuses.append(refresh(registry, clock, token).status_code)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [400] * 7


def test_credentials_are_deterministic_from_the_seed() -> None:
    owned = [(DEMO_ID, "ff_demo"), (ALICE_ID, "ff_alice")]
    a, b = AuthRegistry.generate(seed=3, owned=owned), AuthRegistry.generate(seed=3, owned=owned)
    c = AuthRegistry.generate(seed=4, owned=owned)
    alone = AuthRegistry.generate(seed=3, owned=owned[1:])
    assert a.app == b.app and a.tokens_for(DEMO_ID) == b.tokens_for(DEMO_ID)
    assert a.app.bearer_token != c.app.bearer_token
    assert a.tokens_for(ALICE_ID) == alone.tokens_for(ALICE_ID)
    secret_values = [a.app.bearer_token, a.app.consumer_secret, a.app.client_secret]
    assert not any(value in repr(a.app) for value in secret_values)


def test_handle_oauth_ignores_other_paths(registry: AuthRegistry, clock: ManualClock) -> None:
    assert handle_oauth(httpx.Request("GET", f"{BASE}/2/users/me"), registry, clock()) is None
    wrong_method = handle_oauth(httpx.Request("GET", f"{BASE}/2/oauth2/token"), registry, clock())
    assert wrong_method is not None and wrong_method.status_code == 405
    assert json.loads(wrong_method.content)["error"] == "invalid_request"
