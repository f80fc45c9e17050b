"""OAuth 1.0a verification, signed the way tweepy signs (requests-oauthlib over oauthlib)."""

from __future__ import annotations

import json
import time

import httpx
import oauthlib.oauth1
import pytest
import requests
from requests_oauthlib import OAuth1

from followflow.clock import ManualClock
from followflow.emulator.auth import AuthRegistry, Principal, authenticate

from .conftest import ALICE_ID, DEMO_ID, OWNED, PUBLIC_BASES

LOCAL = "http://127.0.0.1:8787"
UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}


def tweepy_request(
    registry: AuthRegistry, method: str, url: str, *, user_id: int = DEMO_ID, **kwargs: object
) -> httpx.Request:
    """Sign like tweepy's `user_auth=True` requests: requests + requests_oauthlib.OAuth1."""
    app, tokens = registry.app, registry.tokens_for(user_id)
    auth = OAuth1(
        app.consumer_key, app.consumer_secret, tokens.access_token, tokens.access_token_secret
    )
    prepared = requests.Request(method, url, auth=auth, **kwargs).prepare()  # type: ignore[arg-type]
    return httpx.Request(
        method, prepared.url or "", headers=dict(prepared.headers), content=prepared.body
    )


def oauthlib_request(
    registry: AuthRegistry,
    method: str,
    url: str,
    *,
    timestamp: float | None = None,
    nonce: str | None = None,
    consumer_secret: str | None = None,
    token: str | None = None,
    signature_method: str = oauthlib.oauth1.SIGNATURE_HMAC_SHA1,
) -> httpx.Request:
    """Sign with oauthlib's Client directly, to pin the timestamp and nonce."""
    app, tokens = registry.app, registry.tokens_for(DEMO_ID)
    client = oauthlib.oauth1.Client(
        app.consumer_key,
        client_secret=consumer_secret or app.consumer_secret,
        resource_owner_key=token or tokens.access_token,
        resource_owner_secret=tokens.access_token_secret,
        signature_method=signature_method,
        timestamp=None if timestamp is None else str(int(timestamp)),
        nonce=nonce,
    )
    signed_url, headers, _ = client.sign(url, method)
    return httpx.Request(method, signed_url, headers=headers)


def assert_401(result: Principal | httpx.Response) -> None:
    assert isinstance(result, httpx.Response), result
    assert result.status_code == 401
    assert json.loads(result.content) == UNAUTHORIZED


def test_valid_get_with_query_gives_the_user_principal(registry: AuthRegistry) -> None:
    params = {"max_results": 1000, "user.fields": "created_at,description,public_metrics"}
    request = tweepy_request(registry, "GET", f"{LOCAL}/2/users/{DEMO_ID}/followers", params=params)
    principal = authenticate(request, registry, time.time(), PUBLIC_BASES)
    assert principal == Principal("oauth1", registry.app.app_id, DEMO_ID, None)
    assert isinstance(principal, Principal) and principal.bucket_key == f"user:{DEMO_ID}"


def test_each_access_token_maps_to_its_own_user(registry: AuthRegistry) -> None:
    request = tweepy_request(registry, "GET", f"{LOCAL}/2/users/me", user_id=ALICE_ID)
    principal = authenticate(request, registry, time.time(), ())
    assert isinstance(principal, Principal) and principal.user_id == ALICE_ID
    # tweepy reads the user id from the token itself (REFERENCE §4.2).
    assert registry.tokens_for(ALICE_ID).access_token.partition("-")[0] == str(ALICE_ID)


def test_json_body_is_not_signed(registry: AuthRegistry) -> None:
    url = f"{LOCAL}/2/users/{DEMO_ID}/following"
    request = tweepy_request(registry, "POST", url, json={"target_user_id": "783214"})
    assert request.headers["content-type"] == "application/json"
    assert isinstance(authenticate(request, registry, time.time(), ()), Principal)


def test_form_body_is_signed(registry: AuthRegistry) -> None:
    url = f"{LOCAL}/2/some/form"
    request = tweepy_request(registry, "POST", url, data={"a": "1", "b": "two words"})
    assert isinstance(authenticate(request, registry, time.time(), ()), Principal)
    tampered = httpx.Request("POST", url, headers=request.headers, content=b"a=2&b=two+words")
    assert_401(authenticate(tampered, registry, time.time(), ()))


def test_tampered_query_is_rejected(registry: AuthRegistry) -> None:
    request = tweepy_request(registry, "GET", f"{LOCAL}/2/users/{DEMO_ID}/followers?max_results=10")
    tampered = httpx.Request("GET", str(request.url).replace("=10", "=11"), headers=request.headers)
    assert_401(authenticate(tampered, registry, time.time(), ()))


def test_bad_signature_is_rejected(registry: AuthRegistry) -> None:
    request = oauthlib_request(registry, "GET", f"{LOCAL}/2/users/me", consumer_secret="wrong")
    assert_401(authenticate(request, registry, time.time(), ()))


def test_unknown_token_and_consumer_key_are_rejected(registry: AuthRegistry) -> None:
    request = oauthlib_request(registry, "GET", f"{LOCAL}/2/users/me", token=f"{DEMO_ID}-forged")
    assert_401(authenticate(request, registry, time.time(), ()))
    other = AuthRegistry.generate(seed=8, owned=OWNED)  # same users, another app
    assert_401(
        authenticate(tweepy_request(other, "GET", f"{LOCAL}/2/users/me"), registry, time.time(), ())
    )


def test_other_signature_methods_are_rejected(registry: AuthRegistry) -> None:
    for method in (oauthlib.oauth1.SIGNATURE_HMAC_SHA256, oauthlib.oauth1.SIGNATURE_PLAINTEXT):
        request = oauthlib_request(registry, "GET", f"{LOCAL}/2/users/me", signature_method=method)
        assert_401(authenticate(request, registry, time.time(), ()))


def test_reused_nonce_is_rejected(registry: AuthRegistry) -> None:
    now = time.time()
    request = oauthlib_request(registry, "GET", f"{LOCAL}/2/users/me", timestamp=now, nonce="n1")
    assert isinstance(authenticate(request, registry, now, ()), Principal)
    assert_401(authenticate(request, registry, now + 1, ()))
    # The same nonce with another timestamp is another request (RFC 5849 §3.3).
    again = oauthlib_request(registry, "GET", f"{LOCAL}/2/users/me", timestamp=now + 1, nonce="n1")
    assert isinstance(authenticate(again, registry, now + 1, ()), Principal)


def test_stale_timestamp_is_rejected(clock: ManualClock) -> None:
    registry = AuthRegistry.generate(seed=7, owned=OWNED, wall_clock=None)
    url = f"{LOCAL}/2/users/me"
    for skew, ok in ((300, True), (-300, True), (301, False), (-301, False)):
        request = oauthlib_request(registry, "GET", url, timestamp=clock() + skew, nonce=f"n{skew}")
        result = authenticate(request, registry, clock(), ())
        assert isinstance(result, Principal) is ok, skew
    assert_401(authenticate(oauthlib_request(registry, "GET", url), registry, clock(), ()))


def test_wall_clock_timestamps_pass_when_the_emulator_clock_is_manual(
    registry: AuthRegistry, clock: ManualClock
) -> None:
    assert abs(clock() - time.time()) > 300  # the manual clock is far from real time
    request = tweepy_request(registry, "GET", f"{LOCAL}/2/users/me")
    assert isinstance(authenticate(request, registry, clock(), ()), Principal)


def test_signed_for_the_public_url_and_sent_to_loopback(registry: AuthRegistry) -> None:
    # REFERENCE §5.4 option 2: a transport adapter rewrites the URL after signing.
    path = f"/2/users/{DEMO_ID}/followers?max_results=1000&pagination_token=ABCDEFGHIJKLMNOP"
    signed = tweepy_request(registry, "GET", "https://api.twitter.com" + path)
    sent = httpx.Request("GET", LOCAL + path, headers=signed.headers)
    assert isinstance(authenticate(sent, registry, time.time(), PUBLIC_BASES), Principal)
    assert_401(authenticate(sent, registry, time.time(), ()))
    assert_401(authenticate(sent, registry, time.time(), ("https://example.com",)))


def test_signed_for_api_x_com_with_a_json_post(registry: AuthRegistry) -> None:
    url = f"https://api.x.com/2/users/{DEMO_ID}/following"
    signed = tweepy_request(registry, "POST", url, json={"target_user_id": "12"})
    sent = httpx.Request(
        "POST",
        url.replace("https://api.x.com", LOCAL),
        headers=signed.headers,
        content=signed.content,
    )
    assert isinstance(authenticate(sent, registry, time.time(), PUBLIC_BASES), Principal)


@pytest.mark.parametrize(
    "header",
    [None, "OAuth garbage", 'OAuth oauth_consumer_key="x"', "Basic dXNlcjpwYXNz", "Bearer nope"],
)
def test_missing_or_malformed_credentials_are_401(
    registry: AuthRegistry, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    request = httpx.Request("GET", f"{LOCAL}/2/users/me", headers=headers)
    assert_401(authenticate(request, registry, time.time(), PUBLIC_BASES))


def test_stale_nonces_are_forgotten(monkeypatch: pytest.MonkeyPatch, clock: ManualClock) -> None:
    monkeypatch.setattr("followflow.emulator.auth._NONCE_PRUNE_EVERY", 4)
    registry = AuthRegistry.generate(seed=7, owned=OWNED, wall_clock=None)
    old = int(clock())
    for nonce in ("a", "b", "c"):
        assert registry.use_nonce(("ck", "tok", old, nonce), clock())
    assert not registry.use_nonce(("ck", "tok", old, "a"), clock())
    clock.advance(301)
    assert registry.use_nonce(("ck", "tok", int(clock()), "d"), clock())  # 4th insert prunes
    assert len(registry._nonces) == 1  # only the fresh one is kept
