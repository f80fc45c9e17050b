"""tweepy's OAuth2UserHandler (requests-oauthlib OAuth2Session) runs the PKCE flow unchanged."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import requests
import tweepy
from requests.adapters import BaseAdapter
from requests.auth import HTTPBasicAuth
from requests.structures import CaseInsensitiveDict

from followflow.clock import ManualClock
from followflow.emulator.auth import AuthRegistry, Principal, authenticate
from followflow.emulator.oauth2 import handle_oauth

from .conftest import ALICE_ID, PUBLIC_BASES

REDIRECT = "http://127.0.0.1/callback"
SCOPES = ["tweet.read", "users.read", "follows.read", "follows.write", "offline.access"]


class OAuthRoutes(BaseAdapter):
    """A requests adapter that answers from `handle_oauth`, as a transport adapter would."""

    def __init__(self, registry: AuthRegistry, clock: ManualClock) -> None:
        super().__init__()
        self.registry, self.clock = registry, clock

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = request.body.encode() if isinstance(request.body, str) else request.body
        sent = httpx.Request(
            request.method or "GET", request.url or "", headers=dict(request.headers), content=body
        )
        answer = handle_oauth(sent, self.registry, self.clock())
        assert answer is not None, request.url
        response = requests.Response()
        response.status_code, response._content = answer.status_code, answer.content
        response.headers = CaseInsensitiveDict(answer.headers)
        response.url, response.request = request.url or "", request
        return response

    def close(self) -> None:
        pass


def test_tweepy_oauth2_user_handler_login_and_refresh(
    registry: AuthRegistry, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The callback is plain-http loopback; requests-oauthlib refuses http unless told.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    app = registry.app
    handler = tweepy.OAuth2UserHandler(
        client_id=app.client_id,
        redirect_uri=REDIRECT,
        scope=SCOPES,
        client_secret=app.client_secret,
    )
    handler.mount("https://", OAuthRoutes(registry, clock))

    url = handler.get_authorization_url() + "&as_user=ff_alice"
    consent = handle_oauth(httpx.Request("GET", url), registry, clock())
    assert consent is not None and consent.status_code == 302
    token = handler.fetch_token(consent.headers["location"])
    assert token["expires_in"] == 7200 and token["scope"] == SCOPES

    def principal(access_token: str) -> Principal | httpx.Response:
        headers = {"Authorization": f"Bearer {access_token}"}
        request = httpx.Request("GET", "http://127.0.0.1:8787/2/users/me", headers=headers)
        return authenticate(request, registry, clock(), PUBLIC_BASES)

    first = principal(token["access_token"])
    assert isinstance(first, Principal) and first.user_id == ALICE_ID

    clock.advance(7_200)
    assert isinstance(principal(token["access_token"]), httpx.Response)
    renewed = handler.refresh_token(
        "https://api.twitter.com/2/oauth2/token",
        refresh_token=token["refresh_token"],
        auth=HTTPBasicAuth(app.client_id, app.client_secret),
        client_id=app.client_id,
    )
    assert renewed["refresh_token"] != token["refresh_token"]
    assert isinstance(principal(renewed["access_token"]), Principal)
