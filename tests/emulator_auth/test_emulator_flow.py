"""The PKCE flow end to end through `Emulator.handle`: consent, token, use, scopes, refresh."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx

from followflow.clock import ManualClock
from followflow.emulator.app import Emulator

VERIFIER = "x" * 20 + "-verifier-of-at-least-43-characters_0123456789"
REDIRECT = "http://127.0.0.1:8765/callback"  # a loopback callback on any port is accepted


def test_pkce_flow_through_the_emulator(clock: ManualClock) -> None:
    emu = Emulator.create(seed=1, clock=clock)
    app, bob, alice = emu.app, emu.account("ff_bob"), emu.account("ff_alice")
    http = httpx.Client(base_url="http://127.0.0.1:8787", transport=httpx.MockTransport(emu.handle))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=")

    def login(scope: str) -> dict[str, str]:
        consent = http.get(
            "/i/oauth2/authorize",
            params={
                "response_type": "code",
                "client_id": app.client_id,
                "redirect_uri": REDIRECT,
                "scope": scope,
                "state": "xyz",
                "code_challenge": challenge.decode(),
                "code_challenge_method": "S256",
                "as_user": "ff_bob",
            },
        )
        assert consent.status_code == 302
        query = parse_qs(urlsplit(consent.headers["location"]).query)
        assert query["state"] == ["xyz"]
        form = {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": REDIRECT,
            "code_verifier": VERIFIER,
            "client_id": app.client_id,
        }
        token = http.post("/2/oauth2/token", data=form, auth=(app.client_id, app.client_secret))
        assert token.status_code == 200
        return dict(token.json())

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    reader = login("tweet.read users.read follows.read offline.access")
    me = http.get("/2/users/me", headers=bearer(reader["access_token"]))
    assert me.status_code == 200 and me.json()["data"]["username"] == "ff_bob"
    follow = {"target_user_id": str(alice.id)}
    refused = http.post(
        f"/2/users/{bob.id}/following", json=follow, headers=bearer(reader["access_token"])
    )
    assert refused.status_code == 403 and refused.json()["title"] == "Forbidden"
    assert "x-rate-limit-remaining" in refused.headers

    writer = login("tweet.read users.read follows.write offline.access")
    done = http.post(
        f"/2/users/{bob.id}/following", json=follow, headers=bearer(writer["access_token"])
    )
    assert done.status_code == 200
    assert done.json() == {"data": {"following": True, "pending_follow": False}}
    assert bob.id in emu.truth_followers(alice.id)

    app_only = http.get("/2/users/me", headers=bearer(app.bearer_token))
    assert app_only.status_code == 403
    assert app_only.json()["title"] == "Unsupported Authentication"

    clock.advance(7_200)
    expired = http.get("/2/users/me", headers=bearer(writer["access_token"]))
    assert expired.status_code == 401 and expired.json()["detail"] == "Unauthorized"
    form = {
        "grant_type": "refresh_token",
        "refresh_token": writer["refresh_token"],
        "client_id": app.client_id,
    }
    renewed = http.post("/2/oauth2/token", data=form)
    assert renewed.status_code == 200
    again = http.post("/2/oauth2/token", data=form)
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_request",
        "error_description": "Value passed for the token was invalid.",
    }
    me = http.get("/2/users/me", headers=bearer(renewed.json()["access_token"]))
    assert me.status_code == 200 and me.json()["data"]["id"] == str(bob.id)
    http.close()
