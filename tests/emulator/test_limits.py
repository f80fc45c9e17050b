"""Rate limits at their boundaries, on a ManualClock: 15-minute windows and 24-hour caps."""

from __future__ import annotations

import math

import httpx
import pytest

from followflow.clock import ManualClock
from followflow.emulator import Emulator

from .helpers import bearer_client, user_client

TOO_MANY = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}


def targets(emu: Emulator, n: int, skip: int = 0) -> list[int]:
    """n active, unprotected users nobody owned follows at the start."""
    out = []
    index = emu.world.K + 50_000 + skip
    while len(out) < n:
        if not emu.services.profiles.protected(index):
            out.append(emu.world.id_of(index))
        index += 1
    return out


def test_fifteen_reads_then_429_with_headers_then_reset(
    emulator: Emulator, clock: ManualClock
) -> None:
    demo = emulator.account("ff_demo")
    start = clock()
    url = f"/2/users/{demo.id}/followers"
    with bearer_client(emulator) as client:
        remaining = []
        for _ in range(15):
            response = client.get(url)
            assert response.status_code == 200
            remaining.append(int(response.headers["x-rate-limit-remaining"]))
            clock.advance(10)
        assert remaining == list(range(14, -1, -1))
        limited = client.get(url)
        assert limited.status_code == 429
        assert limited.json() == TOO_MANY
        assert limited.headers["content-type"] == "application/json; charset=utf-8"
        assert limited.headers["x-rate-limit-limit"] == "15"
        assert limited.headers["x-rate-limit-remaining"] == "0"
        reset = int(limited.headers["x-rate-limit-reset"])
        assert reset == math.ceil(start + 900)
        # other groups and other principals have their own windows
        assert client.get(f"/2/users/{demo.id}/following").status_code == 200
        with user_client(emulator, "ff_demo") as user:
            assert user.get(url).status_code == 200
        clock.advance(reset - clock() - 1)
        assert client.get(url).status_code == 429
        clock.advance(1)
        fresh = client.get(url)
        assert fresh.status_code == 200
        assert fresh.headers["x-rate-limit-remaining"] == "14"
        assert int(fresh.headers["x-rate-limit-reset"]) == math.ceil(clock() + 900)


def test_preset_2026_allows_300_reads(clock: ManualClock) -> None:
    emu = Emulator.create(seed=1, clock=clock, preset="v2-2026")
    one = emu.account("ff_one")
    with bearer_client(emu) as client:
        statuses = [client.get(f"/2/users/{one.id}/followers").status_code for _ in range(301)]
    assert statuses.count(200) == 300 and statuses[-1] == 429


def test_window_length_is_configurable(clock: ManualClock) -> None:
    emu = Emulator.create(seed=1, clock=clock, window_seconds=2.0)
    one = emu.account("ff_one")
    with bearer_client(emu) as client:
        for _ in range(15):
            client.get(f"/2/users/{one.id}/followers")
        limited = client.get(f"/2/users/{one.id}/followers")
        assert int(limited.headers["x-rate-limit-reset"]) == math.ceil(clock() + 2)
        clock.advance(2)
        assert client.get(f"/2/users/{one.id}/followers").status_code == 200


def test_every_response_has_rate_limit_headers(emulator: Emulator) -> None:
    demo = emulator.account("ff_demo")
    with bearer_client(emulator) as client:
        responses = [
            client.get(f"/2/users/{demo.id}/followers"),  # 200
            client.get(f"/2/users/{demo.id}/followers", params={"bogus": "1"}),  # 400
            client.get("/2/users/me", headers={"Authorization": "Bearer wrong"}),  # 401
            client.get("/2/users/me"),  # 403
            client.get("/2/nothing/here"),  # 404
        ]
    for response in responses:
        for header in ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"):
            assert response.headers[header].isdigit(), (response.status_code, header)


def follow(client: httpx.Client, source: int, target: int) -> httpx.Response:
    return client.post(f"/2/users/{source}/following", json={"target_user_id": str(target)})


def follow_many(
    emu: Emulator, clock: ManualClock, username: str, ids: list[int]
) -> list[httpx.Response]:
    """Follow each id, waiting out the 50-per-15-minutes window as a polite client does."""
    source = emu.account(username).id
    out = []
    with user_client(emu, username) as client:
        for target in ids:
            response = follow(client, source, target)
            if response.status_code == 429 and response.headers["x-rate-limit-remaining"] == "0":
                clock.advance(int(response.headers["x-rate-limit-reset"]) - clock())
                response = follow(client, source, target)
            out.append(response)
    return out


def test_400_follows_per_user_per_day(emulator: Emulator, clock: ManualClock) -> None:
    ids = targets(emulator, 402)
    start = clock()
    responses = follow_many(emulator, clock, "ff_demo", ids[:401])
    assert [r.status_code for r in responses[:400]] == [200] * 400
    capped = responses[400]
    assert capped.status_code == 429
    assert capped.json() == TOO_MANY
    assert int(capped.headers["x-rate-limit-remaining"]) > 0  # not the 15-minute window
    assert capped.headers["x-user-limit-24hour-limit"] == "400"
    assert capped.headers["x-user-limit-24hour-remaining"] == "0"
    assert capped.headers["x-app-limit-24hour-remaining"] == "600"
    reset = int(capped.headers["x-user-limit-24hour-reset"])
    assert reset == math.ceil(start + 86_400)
    assert ids[400] not in emulator.truth_following(emulator.account("ff_demo").id)
    assert emulator.action_log[-1].result == "capped_user"
    clock.advance(reset - clock())
    again = follow_many(emulator, clock, "ff_demo", ids[400:401])[0]
    assert again.status_code == 200
    assert again.headers["x-user-limit-24hour-remaining"] == "399"


def test_1000_follows_per_app_per_day(emulator: Emulator, clock: ManualClock) -> None:
    ids = targets(emulator, 1001)
    done = (
        follow_many(emulator, clock, "ff_demo", ids[:400])
        + follow_many(emulator, clock, "ff_alice", ids[400:800])
        + follow_many(emulator, clock, "ff_bob", ids[800:1000])
    )
    assert all(r.status_code == 200 for r in done)
    assert done[-1].headers["x-app-limit-24hour-remaining"] == "0"
    capped = follow_many(emulator, clock, "ff_team0", ids[1000:])[0]
    assert capped.status_code == 429
    assert capped.headers["x-app-limit-24hour-limit"] == "1000"
    assert capped.headers["x-app-limit-24hour-remaining"] == "0"
    assert capped.headers["x-user-limit-24hour-remaining"] == "400"  # this user did nothing
    assert int(capped.headers["x-rate-limit-remaining"]) > 0


def test_500_unfollows_per_app_per_day(emulator: Emulator, clock: ManualClock) -> None:
    demo = emulator.account("ff_demo")
    following = emulator.truth_following(demo.id)
    statuses = []
    with user_client(emulator, "ff_demo") as client:
        for target in following[:501]:
            response = client.delete(f"/2/users/{demo.id}/following/{target}")
            if response.status_code == 429 and response.headers["x-rate-limit-remaining"] == "0":
                clock.advance(int(response.headers["x-rate-limit-reset"]) - clock())
                response = client.delete(f"/2/users/{demo.id}/following/{target}")
            statuses.append(response)
    assert [r.status_code for r in statuses[:500]] == [200] * 500
    capped = statuses[500]
    assert capped.status_code == 429
    assert capped.headers["x-app-limit-24hour-limit"] == "500"
    assert capped.headers["x-app-limit-24hour-remaining"] == "0"
    assert "x-user-limit-24hour-limit" not in capped.headers  # unfollows: app cap only
    assert int(capped.headers["x-rate-limit-remaining"]) > 0
    assert following[500] in emulator.truth_following(demo.id)


@pytest.mark.parametrize(("kind", "principal_kind"), [("follow", "app"), ("follow", "user")])
def test_day_caps_can_be_lowered(
    emulator: Emulator, clock: ManualClock, kind: str, principal_kind: str
) -> None:
    emulator.set_day_cap(kind, principal_kind, 2)
    responses = follow_many(emulator, clock, "ff_demo", targets(emulator, 3))
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[2].headers[f"x-{principal_kind}-limit-24hour-remaining"] == "0"
    with pytest.raises(ValueError):
        emulator.set_day_cap("unfollow", "user", 1)


def test_limits_off(clock: ManualClock) -> None:
    emu = Emulator.create(seed=1, clock=clock, limits=False)
    one = emu.account("ff_one")
    with bearer_client(emu) as client:
        responses = [client.get(f"/2/users/{one.id}/followers") for _ in range(40)]
    assert {r.status_code for r in responses} == {200}
    assert int(responses[-1].headers["x-rate-limit-remaining"]) > 1000
