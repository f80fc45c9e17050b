"""Loopback: the same behaviour as in-process, the admin API, and `followflow emulator`."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from followflow.clock import ManualClock
from followflow.emulator import Emulator, EmulatorServer

from .helpers import DEFAULT_FIELDS, OAuth1, bearer_client

CLI = "import sys; from followflow.cli import main; sys.argv[0] = 'followflow'; main()"


def test_loopback_answers_like_in_process(
    emulator: Emulator, emulator_server: EmulatorServer
) -> None:
    demo = emulator.account("ff_demo")
    params = {"max_results": 1000, "user.fields": DEFAULT_FIELDS}
    url = f"/2/users/{demo.id}/followers"
    with bearer_client(emulator) as local:
        in_process = local.get(url, params=params)
    headers = {"Authorization": f"Bearer {emulator.app.bearer_token}"}
    with httpx.Client(base_url=emulator_server.base_url, headers=headers) as remote:
        pages = [remote.get(url, params=params) for _ in range(3)]  # one keep-alive connection
        signed = httpx.Client(base_url=emulator_server.base_url, auth=OAuth1(emulator, demo))
        me = signed.get("/2/users/me")
        signed.close()
    assert pages[0].content == in_process.content
    assert [p.headers["x-rate-limit-remaining"] for p in pages] == ["13", "12", "11"]
    assert pages[0].headers["content-type"] == "application/json; charset=utf-8"
    assert me.json()["data"]["username"] == "ff_demo"  # OAuth 1.0a signed over the local URL


def test_admin_api(emulator: Emulator, emulator_server: EmulatorServer, clock: ManualClock) -> None:
    one = emulator.account("ff_one")
    with httpx.Client(base_url=emulator_server.base_url) as admin:
        health = admin.get("/_emulator/health").json()
        assert health == {
            "status": "ok",
            "now": clock(),
            "seed": 1,
            "size": "demo",
            "preset": "v2-2023",
        }
        truth = admin.get(f"/_emulator/truth/followers/{one.id}").json()
        assert truth == {"user_id": one.id, "count": 1, "ids": emulator.truth_followers(one.id)}
        following = admin.get(f"/_emulator/truth/following/{one.id}").json()
        assert following["ids"] == emulator.truth_following(one.id)
        assert admin.get("/_emulator/truth/followers/999").status_code == 404
        with httpx.Client(base_url=emulator_server.base_url, auth=OAuth1(emulator, one)) as user:
            target = emulator.truth_followers(one.id)[0]
            user.post(f"/2/users/{one.id}/following", json={"target_user_id": str(target)})
        actions = admin.get("/_emulator/actions").json()["actions"]
        assert actions == [
            {
                "at": clock(),
                "principal": f"oauth1:{one.id}",
                "action": "follow",
                "source_id": one.id,
                "target_id": target,
                "result": "following",
            }
        ]
        assert admin.get("/_emulator/actions", params={"since": 1}).json() == {"actions": []}
        assert admin.post("/_emulator/clock/advance", json={"seconds": 60}).json() == {
            "now": clock()
        }
        assert admin.post("/_emulator/clock/advance", json={"seconds": -1}).status_code == 400
        capped = admin.post(
            "/_emulator/day-cap", json={"kind": "follow", "principal_kind": "app", "limit": 0}
        )
        assert capped.status_code == 200
        assert emulator.limiter.day_caps[("follow", "app")] == 0
        manifest = admin.get("/_emulator/manifest").json()
        assert manifest["base_url"] == emulator_server.base_url
        assert admin.get("/_emulator/nope").status_code == 404
        assert admin.post("/_emulator/churn", content=b"[").status_code == 400


def test_admin_refuses_to_advance_a_wall_clock() -> None:
    emu = Emulator.create(seed=1)  # time.time
    with EmulatorServer(emu) as server, httpx.Client(base_url=server.base_url) as admin:
        response = admin.post("/_emulator/clock/advance", json={"seconds": 5})
    assert response.status_code == 409


def test_manifest_shape(emulator: Emulator) -> None:
    manifest = emulator.manifest("http://127.0.0.1:8787")
    assert set(manifest) == {"base_url", "app", "users"}
    assert set(manifest["app"]) == {
        "bearer_token",
        "consumer_key",
        "consumer_secret",
        "client_id",
        "client_secret",
    }
    names = [u["username"] for u in manifest["users"]]
    assert names[:8] == [
        "ff_demo",
        "ff_alice",
        "ff_bob",
        "ff_zero",
        "ff_one",
        "ff_999",
        "ff_1000",
        "ff_1001",
    ]
    assert names[8:] == [f"ff_team{i}" for i in range(10)]
    for user in manifest["users"]:
        assert user["access_token"].startswith(f"{user['id']}-")  # tweepy reads the id from it
        assert isinstance(user["id"], int)


def start_cli(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], Path, float]:
    manifest = tmp_path / "manifest.json"
    argv = [
        sys.executable,
        "-c",
        CLI,
        "emulator",
        "--port",
        "0",
        "--manifest",
        str(manifest),
        *args,
    ]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, manifest, started


def test_cli_starts_writes_the_manifest_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc, manifest, started = start_cli(tmp_path, "--seed", "3", "--window-seconds", "2")
    try:
        while not manifest.exists():
            assert proc.poll() is None, proc.communicate()
            # A hang guard, not a speed test: ~1 s here when idle, over 3 s at load 14.
            assert time.monotonic() - started < 60, "did not start within 60 s"
            time.sleep(0.02)
        data = json.loads(manifest.read_text())
        assert os.stat(manifest).st_mode & 0o777 == 0o600  # it holds tokens
        demo = next(u for u in data["users"] if u["username"] == "ff_demo")
        headers = {"Authorization": f"Bearer {demo['oauth2_access_token']}"}
        with httpx.Client(base_url=data["base_url"], headers=headers) as client:
            assert client.get("/2/users/me").json()["data"]["id"] == str(demo["id"])
            assert client.get("/_emulator/health").json()["seed"] == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert data["base_url"] in out


def test_cli_rejects_bad_options_in_one_line(tmp_path: Path) -> None:
    proc, _, _ = start_cli(tmp_path, "--faults", "kinds=explode")
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert err.strip().startswith("followflow: error: fault spec: unknown kind 'explode'")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("size", ["huge"])
def test_unknown_size_is_refused(size: str) -> None:
    with pytest.raises(ValueError, match="unknown world size"):
        Emulator.create(size=size)


def test_prefetched_pages_never_go_stale(
    emulator: Emulator, emulator_server: EmulatorServer
) -> None:
    """Over loopback the next page is rendered early; a change in between must show."""
    account = emulator.account("ff_1001")
    url = f"/2/users/{account.id}/followers"
    params = {"max_results": 300, "user.fields": "public_metrics"}
    headers = {"Authorization": f"Bearer {emulator.app.bearer_token}"}
    with httpx.Client(base_url=emulator_server.base_url, headers=headers) as client:
        first = client.get(url, params=params).json()
        truth = emulator.truth_followers(account.id)
        on_page_two = truth[300]
        before = emulator.truth_followers(on_page_two)
        gained, _ = emulator.churn_now(on_page_two, gained=1, lost=0)  # its count changes
        time.sleep(0.05)  # let the prefetch finish, so it really is there and stale
        second = client.get(url, params={**params, "pagination_token": first["meta"]["next_token"]})
        user = second.json()["data"][0]
        assert user["id"] == str(on_page_two)
        assert (
            user["public_metrics"]["followers_count"]
            == len(before) + 1
            == len(emulator.truth_followers(on_page_two))
        )
        ids = [u["id"] for u in first["data"]] + [u["id"] for u in second.json()["data"]]
        token = second.json()["meta"].get("next_token")
        while token:  # untouched pages come from the prefetch and match in-process answers
            page = client.get(url, params={**params, "pagination_token": token})
            with bearer_client(emulator) as local:
                assert (
                    local.get(url, params={**params, "pagination_token": token}).content
                    == page.content
                )
            ids += [u["id"] for u in page.json()["data"]]
            token = page.json()["meta"].get("next_token")
    assert [int(i) for i in ids] == truth
    assert gained


def test_a_client_that_resets_mid_request_leaves_no_traceback(emulator_server, capfd) -> None:  # type: ignore[no-untyped-def]
    host, port = emulator_server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"GET /2/users/me HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        # Linger 0: close sends a reset, as a killed process's socket does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with httpx.Client(base_url=emulator_server.base_url) as client:
        assert client.get("/2/users/me").status_code == 401  # still serving
    assert "Traceback" not in capfd.readouterr().err
