"""Faults: spec parsing, reproducible from a seed, each kind, in-process and over loopback."""

from __future__ import annotations

import json

import httpx
import pytest

from followflow.clock import ManualClock
from followflow.emulator import Emulator, EmulatorServer
from followflow.emulator.faults import FaultPlan

from .helpers import bearer_client, user_client


def outcome(client: httpx.Client, url: str) -> str:
    try:
        response = client.get(url)
    except httpx.TransportError as error:
        return type(error).__name__
    try:
        response.json()
    except ValueError:  # JSONDecodeError, or UnicodeDecodeError when a character was cut
        return f"{response.status_code}-cut" if response.status_code == 200 else "html"
    return str(response.status_code)


def run(spec: str, clock: ManualClock, n: int = 150) -> list[str]:
    emu = Emulator.create(seed=1, clock=clock, faults=spec, limits=False)
    one = emu.account("ff_one")
    with bearer_client(emu) as client:
        return [outcome(client, f"/2/users/{one.id}/followers") for _ in range(n)]


def test_same_seed_same_faults(clock: ManualClock) -> None:
    spec = "seed=7,p=0.3,kinds=500+503+reset+slow+truncate+429bare"
    first, second = run(spec, clock), run(spec, clock)
    assert first == second
    assert set(first) == {"200", "500", "503", "ReadError", "ReadTimeout", "200-cut", "429"}
    assert first != run(spec.replace("seed=7", "seed=8"), clock)
    assert set(run("seed=7,p=0", clock)) == {"200"}


@pytest.mark.parametrize(
    "spec",
    ["p=2", "kinds=500+418", "bogus=1", "script=ok+explode", "p", "seed=x", "on=tweets", "kinds="],
)
def test_bad_specs_say_why(spec: str) -> None:
    with pytest.raises(ValueError, match="fault spec"):
        FaultPlan.parse(spec)


def test_scripted_faults_and_their_bodies(emulator: Emulator) -> None:
    emulator.set_faults("script=500+502+503+504+429bare+ok")
    one = emulator.account("ff_one")
    with bearer_client(emulator) as client:
        responses = [client.get(f"/2/users/{one.id}/followers") for _ in range(7)]
    assert [r.status_code for r in responses] == [500, 502, 503, 504, 429, 200, 200]
    assert responses[0].json() == {
        "title": "Internal Server Error",
        "detail": "Internal Server Error",
        "type": "about:blank",
        "status": 500,
    }
    assert responses[2].json()["title"] == "Service Unavailable"
    assert responses[1].headers["content-type"] == "text/html"
    assert "504 Gateway Time-out" in responses[3].text
    bare = responses[4]
    assert bare.json()["title"] == "Too Many Requests"
    assert not [h for h in bare.headers if h.startswith("x-rate-limit")]
    assert all("x-rate-limit-reset" in r.headers for r in responses if r is not bare)
    # faults answered before the API did not count against the window
    assert responses[5].headers["x-rate-limit-remaining"] == "14"


def test_slow_and_truncate_happen_after_the_action(emulator: Emulator) -> None:
    demo = emulator.account("ff_demo")
    following = set(emulator.truth_following(demo.id))
    target = next(i for i in emulator.truth_followers(demo.id) if i not in following)
    emulator.set_faults("script=slow+truncate,on=follow+unfollow")
    with user_client(emulator, "ff_demo") as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post(f"/2/users/{demo.id}/following", json={"target_user_id": str(target)})
        assert emulator.truth_following(demo.id)[0] == target  # it happened anyway
        cut = client.delete(f"/2/users/{demo.id}/following/{target}")
    assert cut.status_code == 200
    with pytest.raises(ValueError):
        json.loads(cut.content)
    assert '{"data":{"following":false}}'.startswith(cut.text)
    assert target not in emulator.truth_following(demo.id)


def test_faults_only_where_asked(emulator: Emulator) -> None:
    emulator.set_faults("p=1,kinds=503,on=follow")
    one = emulator.account("ff_one")
    with bearer_client(emulator) as client:
        assert client.get(f"/2/users/{one.id}/followers").status_code == 200
    with user_client(emulator, "ff_one") as client:
        assert (
            client.post(f"/2/users/{one.id}/following", json={"target_user_id": "1"}).status_code
            == 503
        )
    emulator.set_faults(None)
    with bearer_client(emulator) as client:
        assert client.get("/_emulator/health").status_code == 200


def test_faults_over_loopback(emulator: Emulator, emulator_server: EmulatorServer) -> None:
    one = emulator.account("ff_one")
    url = f"/2/users/{one.id}/followers"
    headers = {"Authorization": f"Bearer {emulator.app.bearer_token}"}
    base = emulator_server.base_url
    with httpx.Client(base_url=base, headers=headers, timeout=0.3) as client:
        set_faults = client.post(
            "/_emulator/faults", json={"spec": "script=reset+slow+truncate+502,slow=1"}
        )
        assert set_faults.status_code == 200
        with pytest.raises(httpx.TransportError):  # RST: ReadError or RemoteProtocolError
            client.get(url)
        with pytest.raises(httpx.ReadTimeout):
            client.get(url)
        truncated = client.get(url)
        assert truncated.status_code == 200
        with pytest.raises(ValueError):  # JSONDecodeError or UnicodeDecodeError
            truncated.json()
        assert client.get(url).status_code == 502
        assert client.get(url).status_code == 200
        client.post("/_emulator/faults", json={"spec": None})
        assert emulator.faults is None
        assert client.post("/_emulator/faults", json={"spec": "p=9"}).status_code == 400
