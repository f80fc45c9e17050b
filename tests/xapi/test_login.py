"""`auth login` over a real loopback redirect, and `auth status`, against a small fake X."""

from __future__ import annotations

import base64
import hashlib
import socket
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from followflow.settings import Settings
from followflow.xapi.errors import LoginFailed
from followflow.xapi.oauth2_login import login, status
from followflow.xapi.tokens import FileTokenStore
from tests.xapi.scripted import reply


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeX:
    """Token endpoint checking PKCE S256 and Basic auth, plus /2/users/me."""

    def __init__(self) -> None:
        self.challenge = ""
        self.token_forms: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/2/oauth2/token":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            self.token_forms.append(form)
            digest = hashlib.sha256(form["code_verifier"].encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != self.challenge:
                return reply(400, {"error": "invalid_request", "error_description": "bad verifier"})
            assert request.headers["Authorization"].startswith("Basic ")
            return reply(
                200,
                {
                    "token_type": "bearer",
                    "expires_in": 7200,
                    "access_token": "AT-1",
                    "refresh_token": "RT-1",
                    "scope": "users.read offline.access",
                },
            )
        if request.url.path == "/2/users/me":
            if request.headers.get("Authorization") != "Bearer AT-1":
                return reply(401, {"title": "Unauthorized"})
            return reply(200, {"data": {"id": "77", "name": "Seven", "username": "ff_seven"}})
        return reply(404, {"title": "Not Found Error"})


def login_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={
            "x_base_url": "http://127.0.0.1:9",
            "client_id": "cid",
            "client_secret": SecretStr("csec"),
            "oauth2_redirect_port": free_port(),
            "token_store_path": tmp_path / "tokens.json",
        }
    )


def consenting_browser(fake: FakeX, *, state: str | None = None, error: str | None = None):  # type: ignore[no-untyped-def]
    """Stands in for the human: reads the authorize URL and hits the loopback redirect."""

    def browse(url: str) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert query["code_challenge_method"] == "S256" and "offline.access" in query["scope"]
        fake.challenge = query["code_challenge"]
        answer = {"state": state or query["state"]}
        answer.update({"error": error} if error else {"code": "CODE-1"})
        httpx.get(f"{query['redirect_uri']}?{urlencode(answer)}", timeout=10)

    return browse


def test_login_end_to_end_over_loopback(settings: Settings, tmp_path: Path) -> None:
    s = login_settings(settings, tmp_path)
    fake = FakeX()
    printed: list[str] = []
    tokens = login(
        s,
        open_browser=True,
        out=printed.append,
        browser=consenting_browser(fake),
        transport=httpx.MockTransport(fake),
        timeout_s=10,
    )
    assert (tokens.user_id, tokens.username) == (77, "ff_seven")
    assert (
        fake.token_forms[0]["redirect_uri"] == f"http://127.0.0.1:{s.oauth2_redirect_port}/callback"
    )
    assert fake.token_forms[0]["client_id"] == "cid"
    assert any(line.startswith("http://127.0.0.1:9/i/oauth2/authorize?") for line in printed)
    stored = FileTokenStore(s.token_store_path).load()
    assert stored is not None and stored.refresh_token is not None
    assert stored.refresh_token.get_secret_value() == "RT-1"
    assert not any("AT-1" in line or "RT-1" in line or "CODE-1" in line for line in printed)
    report = status(s, transport=httpx.MockTransport(fake))
    assert "@ff_seven (id 77), confirmed by X" in report and "expires" in report
    assert "AT-1" not in report and "RT-1" not in report


def test_login_rejects_a_wrong_state(settings: Settings, tmp_path: Path) -> None:
    s = login_settings(settings, tmp_path)
    fake = FakeX()
    with pytest.raises(LoginFailed, match="state"):
        login(
            s,
            open_browser=True,
            out=lambda _: None,
            browser=consenting_browser(fake, state="forged"),
            transport=httpx.MockTransport(fake),
            timeout_s=10,
        )
    assert fake.token_forms == []
    assert not s.token_store_path.exists()


def test_login_reports_denial(settings: Settings, tmp_path: Path) -> None:
    s = login_settings(settings, tmp_path)
    fake = FakeX()
    with pytest.raises(LoginFailed, match="access_denied"):
        login(
            s,
            open_browser=True,
            out=lambda _: None,
            browser=consenting_browser(fake, error="access_denied"),
            transport=httpx.MockTransport(fake),
            timeout_s=10,
        )


def test_login_times_out_when_nobody_comes(settings: Settings, tmp_path: Path) -> None:
    s = login_settings(settings, tmp_path)
    with pytest.raises(LoginFailed, match="no redirect"):
        login(
            s,
            open_browser=False,
            out=lambda _: None,
            transport=httpx.MockTransport(FakeX()),
            timeout_s=0.2,
        )


def test_status_when_logged_out(settings: Settings, tmp_path: Path) -> None:
    s = settings.model_copy(
        update={
            "token_store_path": tmp_path / "none.json",
            "bearer_token": SecretStr("BEARER-SECRET"),
        }
    )
    report = status(s)
    assert "not logged in" in report and "Bearer token: configured" in report
    assert "BEARER-SECRET" not in report
