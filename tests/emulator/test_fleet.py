"""Many hosts on one emulator: `--host` (signatures whichever address) and `--accounts N`."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pytest

from followflow.emulator import Emulator, EmulatorServer
from followflow.emulator.world import World, fleet_specs

from .helpers import OAuth1
from .test_server import start_cli


def test_a_fleet_is_heavy_tailed_and_the_same_for_a_seed() -> None:
    a, b, c = (
        fleet_specs(500, 1, 120_000),
        fleet_specs(500, 1, 120_000),
        fleet_specs(500, 2, 120_000),
    )
    assert a == b and a != c
    counts = sorted(spec.followers for spec in a)
    assert counts[0] >= 50 and 80 <= counts[250] <= 120  # median near 50 * 2 ** (1 / 1.1)
    assert counts[-1] >= 10 * counts[250]  # a few large
    assert sum(n > 2000 for n in counts) < 25  # but only a few
    assert [spec.username for spec in a[:3]] == ["ff_fleet0", "ff_fleet1", "ff_fleet2"]


def test_no_fleet_leaves_the_world_as_it_was() -> None:
    plain, none = World(4), World(4, fleet=0)
    assert plain.owned == none.owned and plain.K == 18
    assert [plain.id_of(i) for i in range(50)] == [none.id_of(i) for i in range(50)]
    with pytest.raises(ValueError, match=">= 0"):
        World(4, fleet=-1)


def test_fleet_accounts_have_tokens_and_their_lists() -> None:
    emulator = Emulator(World(3, fleet=40))
    names = [user["username"] for user in emulator.manifest("http://h")["users"]]
    assert len(names) == 18 + 40 and names[-1] == "ff_fleet39"
    for spec in emulator.world.owned[18::7]:
        account = emulator.account(spec.username)
        followers = emulator.truth_followers(account.id)
        assert len(followers) == len(set(followers)) == spec.followers
        assert len(emulator.truth_following(account.id)) == spec.following
        headers = {"Authorization": f"Bearer {account.oauth2_access_token}"}
        with httpx.Client(
            base_url="https://api.x.com", transport=httpx.MockTransport(emulator.handle)
        ) as client:
            me = client.get("/2/users/me", headers=headers).json()["data"]
        assert me == {"id": str(account.id), "name": spec.name, "username": spec.username}


def test_oauth1_signatures_hold_on_whichever_address_was_used(emulator: Emulator) -> None:
    """Served on every loopback address: a client signs the URL it uses, and that one counts."""
    account = emulator.account("ff_alice")
    with EmulatorServer(emulator, host="0.0.0.0") as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        for address in ("127.0.0.1", "127.0.0.2", "localhost"):
            base = f"http://{address}:{server.port}"
            with httpx.Client(base_url=base, auth=OAuth1(emulator, account)) as client:
                assert client.get("/2/users/me").json()["data"]["id"] == str(account.id)
        # A signature made for another address than the one the request went to is refused.
        signed_for_other = httpx.Request("GET", f"http://127.0.0.3:{server.port}/2/users/me")
        header = next(OAuth1(emulator, account).auth_flow(signed_for_other)).headers
        with httpx.Client() as client:
            response = client.get(
                f"http://127.0.0.2:{server.port}/2/users/me",
                headers={"Authorization": header["Authorization"]},
            )
        assert response.status_code == 401


def test_cli_serves_on_the_address_given_with_a_fleet(tmp_path: Path) -> None:
    proc, manifest, started = start_cli(tmp_path, "--host", "127.0.0.2", "--accounts", "500")
    try:
        while not manifest.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() - started < 10.0, "500 accounts did not start within 10 s"
            time.sleep(0.05)
        data = json.loads(manifest.read_text())
        assert data["base_url"].startswith("http://127.0.0.2:")
        assert len(data["users"]) == 518
        fleet = data["users"][-1]
        assert fleet["username"] == "ff_fleet499"
        headers = {"Authorization": f"Bearer {fleet['oauth2_access_token']}"}
        with httpx.Client(base_url=data["base_url"], headers=headers) as client:
            assert client.get("/2/users/me").json()["data"]["id"] == str(fleet["id"])
        with pytest.raises(httpx.ConnectError):  # it listens on that address only
            httpx.get(data["base_url"].replace("127.0.0.2", "127.0.0.1") + "/_emulator/health")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "518 owned accounts" in out


def test_cli_names_an_address_it_cannot_serve_on(tmp_path: Path) -> None:
    proc, _, _ = start_cli(tmp_path, "--host", "192.0.2.1")  # TEST-NET-1: never this machine's
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert err.strip().startswith("followflow: error: cannot listen on 192.0.2.1:0:")
    assert len(err.strip().splitlines()) == 1


def test_an_ipv6_address_is_served_and_named_in_brackets(emulator: Emulator) -> None:
    try:
        server = EmulatorServer(emulator, host="::1")
    except OSError as error:
        pytest.skip(f"no IPv6 loopback here: {error}")
    with server:
        assert server.base_url == f"http://[::1]:{server.port}"
        account = emulator.account("ff_bob")
        with httpx.Client(base_url=server.base_url, auth=OAuth1(emulator, account)) as client:
            assert client.get("/2/users/me").json()["data"]["id"] == str(account.id)
