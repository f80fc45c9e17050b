"""Bearer, OAuth 1.0a signing (checked server-side with oauthlib) and OAuth 2.0 refresh."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import pytest
from oauthlib.oauth1.rfc5849 import signature, utils
from pydantic import SecretStr

from followflow.clock import ManualClock
from followflow.settings import Settings
from followflow.xapi.auth import (
    BearerAuth,
    OAuth1Auth,
    OAuth2UserAuth,
    auth_from_settings,
)
from followflow.xapi.errors import MissingCredentials, Unauthorized
from followflow.xapi.tokens import FileTokenStore, OAuth2Tokens
from tests.xapi.scripted import Script, reply, scripted_client, users

CK, CS, AT, ATS = "ck-123", "cs-secret-456", "2244994945-tokenpart", "ats-secret-789"
PAGE = {"data": users(1), "meta": {"result_count": 1}}


def verify_oauth1(request: httpx.Request, now: float) -> bool:
    """Server-side HMAC-SHA1 check as a provider would do it, independent of the signer."""
    header = request.headers["Authorization"]
    oauth = dict(utils.parse_authorization_header(header))
    assert oauth["oauth_consumer_key"] == CK and oauth["oauth_token"] == AT
    assert abs(int(oauth["oauth_timestamp"]) - now) < 2
    params = signature.collect_parameters(
        uri_query=request.url.query.decode(), headers={"Authorization": header}
    )
    base = signature.signature_base_string(
        request.method,
        signature.base_string_uri(str(request.url)),
        signature.normalize_parameters(params),
    )
    key = f"{utils.escape(CS)}&{utils.escape(ATS)}".encode()
    digest = hmac.new(key, base.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode() == utils.unescape(oauth["oauth_signature"])


def test_oauth1_signs_query_not_json_body(clock: ManualClock) -> None:
    auth = OAuth1Auth(CK, SecretStr(CS), SecretStr(AT), ATS, clock=clock)
    assert (auth.principal, auth.user_id) == ("user-2244994945", 2244994945)
    script = Script(
        reply(200, PAGE), reply(200, {"data": {"following": True, "pending_follow": False}})
    )
    client = scripted_client(script, clock, auth=auth)
    client.get_page("followers", 2244994945, pagination_token="ABCDEFGHIJKLMNOP")
    client.follow(2244994945, 17)
    get, post = script.requests
    assert "user.fields" in get.url.params
    assert verify_oauth1(get, clock.now)
    assert verify_oauth1(post, clock.now)  # verified without the JSON body: it is not signed
    assert post.content == b'{"target_user_id":"17"}'
    nonces = {
        dict(utils.parse_authorization_header(r.headers["Authorization"]))["oauth_nonce"]
        for r in script.requests
    }
    assert len(nonces) == 2


def test_oauth1_resends_with_a_fresh_signature(clock: ManualClock) -> None:
    auth = OAuth1Auth(CK, CS, AT, ATS, clock=clock)
    script = Script(reply(503), reply(200, PAGE))
    scripted_client(script, clock, auth=auth).get_page("followers", 1)
    first, second = (r.headers["Authorization"] for r in script.requests)
    assert first != second
    assert all(verify_oauth1(r, clock.now) for r in script.requests)


def test_oauth1_rejects_a_token_without_user_id() -> None:
    with pytest.raises(MissingCredentials) as caught:
        OAuth1Auth(CK, CS, "not-a-user-token-xyz", ATS)
    assert "not-a-user-token-xyz" not in str(caught.value)


def test_bearer_header() -> None:
    script = Script(reply(200, PAGE))
    scripted_client(script, ManualClock(), auth=BearerAuth(SecretStr("AAAA-bearer"))).get_page(
        "followers", 1
    )
    assert script.requests[0].headers["Authorization"] == "Bearer AAAA-bearer"


# --- OAuth 2.0 -------------------------------------------------------------------------


class TokenEndpoint:
    """A rotating-refresh-token endpoint; checks Basic auth and that the store is durable first."""

    def __init__(self, store: FileTokenStore, refresh: str = "r0") -> None:
        self.store = store
        self.valid_refresh = refresh
        self.valid_access = "a0"
        self.issued = 0

    def token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        assert (
            request.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:csecret").decode()
        )
        assert form["client_id"] == "cid" and form["grant_type"] == "refresh_token"
        if form["refresh_token"] != self.valid_refresh:
            return reply(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "Value passed for the token was invalid.",
                },
            )
        self.issued += 1
        self.valid_refresh = f"r{self.issued}"
        self.valid_access = f"a{self.issued}"
        body = {
            "token_type": "bearer",
            "expires_in": 7200,
            "access_token": self.valid_access,
            "scope": "follows.read users.read tweet.read offline.access",
            "refresh_token": self.valid_refresh,
        }
        return reply(200, body)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/2/oauth2/token":
            return self.token(request)
        if request.headers["Authorization"] != f"Bearer {self.valid_access}":
            return reply(
                401,
                {
                    "title": "Unauthorized",
                    "type": "about:blank",
                    "status": 401,
                    "detail": "Unauthorized",
                },
            )
        # The rotated refresh token must be on disk before the new access token is used.
        stored = self.store.load(5)
        assert stored is not None and stored.refresh_token is not None
        assert stored.refresh_token.get_secret_value() == self.valid_refresh
        return reply(200, PAGE)


def oauth2_setup(
    tmp_path: Path, clock: ManualClock, expires_in: float
) -> tuple[FileTokenStore, TokenEndpoint, OAuth2UserAuth]:
    store = FileTokenStore(tmp_path / "tokens.json")
    store.save(
        OAuth2Tokens(
            access_token=SecretStr("a0"),
            refresh_token=SecretStr("r0"),
            expires_at=clock.now + expires_in,
            scope="s",
            user_id=5,
            username="five",
        )
    )
    endpoint = TokenEndpoint(store)
    auth = OAuth2UserAuth(
        store=store,
        token_url="https://api.x.com/2/oauth2/token",
        client_id="cid",
        client_secret=SecretStr("csecret"),
        clock=clock,
    )
    return store, endpoint, auth


def client_for(endpoint: Any, clock: ManualClock, auth: OAuth2UserAuth) -> Any:
    from followflow.xapi.client import XClient

    return XClient(
        "https://api.x.com",
        auth,
        transport=httpx.MockTransport(endpoint),
        sleep=clock.sleep,
        clock=clock,
    )


def test_oauth2_refreshes_before_expiry_and_persists_rotation(
    tmp_path: Path, clock: ManualClock
) -> None:
    store, endpoint, auth = oauth2_setup(tmp_path, clock, expires_in=7200)
    client = client_for(endpoint, clock, auth)
    assert auth.principal == "user-5"
    client.get_page("followers", 5)
    assert endpoint.issued == 0
    clock.advance(7200 - 60)  # inside the refresh margin
    client.get_page("followers", 5)
    assert endpoint.issued == 1 and auth.refreshes == 1
    saved = store.load(5)
    assert saved is not None and saved.expires_at == pytest.approx(clock.now + 7200)
    assert saved.username == "five"
    # A crash now leaves a usable token: a new process reads the rotated pair and works.
    fresh = OAuth2UserAuth(
        store=store,
        token_url="https://api.x.com/2/oauth2/token",
        client_id="cid",
        client_secret=SecretStr("csecret"),
        clock=clock,
    )
    client_for(endpoint, clock, fresh).get_page("followers", 5)
    assert endpoint.issued == 1


def test_oauth2_refreshes_once_on_401(tmp_path: Path, clock: ManualClock) -> None:
    store, endpoint, auth = oauth2_setup(tmp_path, clock, expires_in=7200)
    endpoint.valid_access = "revoked-early"  # X no longer accepts a0
    endpoint.valid_refresh = "r0"
    client = client_for(endpoint, clock, auth)
    assert client.get_page("followers", 5).result_count == 1
    assert endpoint.issued == 1


def test_oauth2_picks_up_a_refresh_made_by_another_process(
    tmp_path: Path, clock: ManualClock
) -> None:
    store, endpoint, auth = oauth2_setup(tmp_path, clock, expires_in=100)
    other = OAuth2UserAuth(
        store=store,
        token_url="https://api.x.com/2/oauth2/token",
        client_id="cid",
        client_secret=SecretStr("csecret"),
        clock=clock,
    )
    client_for(endpoint, clock, other).get_page("followers", 5)  # refreshes: r0 is now spent
    assert endpoint.issued == 1
    client_for(endpoint, clock, auth).get_page("followers", 5)  # must not replay r0
    assert endpoint.issued == 1 and auth.refreshes == 0


def test_oauth2_failed_refresh_is_unauthorized_without_secrets(
    tmp_path: Path, clock: ManualClock
) -> None:
    store, endpoint, auth = oauth2_setup(tmp_path, clock, expires_in=10)
    endpoint.valid_refresh = "something-else"
    with pytest.raises(Unauthorized) as caught:
        client_for(endpoint, clock, auth).get_page("followers", 5)
    text = str(caught.value)
    assert "invalid_request" in text and "auth login" in text
    assert "r0" not in text and "a0" not in text and "csecret" not in text


def test_auth_from_settings_choices(settings: Settings, tmp_path: Path, clock: ManualClock) -> None:
    base = settings.model_copy(
        update={"token_store_path": tmp_path / "none.json", "client_id": "cid"}
    )
    with pytest.raises(MissingCredentials):
        auth_from_settings(base, for_writes=False)
    oauth1 = {
        "consumer_key": SecretStr(CK),
        "consumer_secret": SecretStr(CS),
        "access_token": SecretStr(AT),
        "access_token_secret": SecretStr(ATS),
    }
    with_bearer = base.model_copy(update={"bearer_token": SecretStr("b"), **oauth1})
    assert isinstance(auth_from_settings(with_bearer, for_writes=False), BearerAuth)
    assert isinstance(auth_from_settings(with_bearer, for_writes=True), OAuth1Auth)
    bearer_only = base.model_copy(update={"bearer_token": SecretStr("b")})
    with pytest.raises(MissingCredentials) as caught:
        auth_from_settings(bearer_only, for_writes=True)
    assert "auth login" in str(caught.value)
    store, _, _ = oauth2_setup(tmp_path, clock, expires_in=7200)
    oauth2_only = base.model_copy(update={"token_store_path": store.path})
    chosen = auth_from_settings(oauth2_only, for_writes=True)
    assert isinstance(chosen, OAuth2UserAuth) and chosen.principal == "user-5"
    assert orjson.loads(store.path.read_bytes())["default"] == "5"
