"""Churn: followers come and go over emulator time; churn_now; suspensions; over loopback."""

from __future__ import annotations

import httpx

from followflow.clock import ManualClock, OffsetClock
from followflow.emulator import Emulator, EmulatorServer

from .helpers import all_pages, bearer_client


def test_still_graph_without_churn(emulator: Emulator, clock: ManualClock) -> None:
    demo = emulator.account("ff_demo")
    before = emulator.truth_followers(demo.id)
    clock.advance(7 * 86_400)
    assert emulator.truth_followers(demo.id) == before


def test_churn_per_emulator_hour(clock: ManualClock) -> None:
    emu = Emulator.create(seed=1, clock=clock, churn=30.0)
    demo, zero = emu.account("ff_demo"), emu.account("ff_zero")
    before = emu.truth_followers(demo.id)
    clock.advance(1800)  # half an hour: 15 gained and 15 lost per owned account
    after = emu.truth_followers(demo.id)
    gained = [i for i in after if i not in set(before)]
    lost = [i for i in before if i not in set(after)]
    assert len(gained) == len(lost) == 15
    assert after[:15] == gained  # newcomers are the newest
    assert len(emu.truth_followers(zero.id)) == 15  # nobody to lose, 15 to gain
    twin = Emulator.create(seed=1, clock=ManualClock(clock() - 1800), churn=30.0)
    twin.advance(1800)
    assert twin.truth_followers(demo.id) == after  # deterministic from the seed
    # a snapshot now sees the new truth
    with bearer_client(emu) as client:
        ids, _ = all_pages(client, "followers", demo.id)
    assert [int(i) for i in ids] == after


def test_churn_now_and_lost_users_state(emulator: Emulator) -> None:
    demo = emulator.account("ff_demo")
    before = emulator.truth_followers(demo.id)
    gained, lost = emulator.churn_now(demo.id, gained=40, lost=300)
    after = emulator.truth_followers(demo.id)
    assert after[:40] == gained[::-1]
    assert set(lost) <= set(before) and not set(lost) & set(after)
    assert len(after) == len(before) + 40 - 300
    with bearer_client(emulator) as client:
        ids = ",".join(str(i) for i in lost[:100])
        body = client.get("/2/users", params={"ids": ids}).json()
    titles = {e["title"] for e in body.get("errors", [])}
    # most left by unfollowing; a few were suspended or deactivated and no longer resolve
    assert len(body["data"]) > 80
    assert titles <= {"Forbidden", "Not Found Error"} and titles
    for entry in body["errors"]:
        assert entry["detail"] in (
            f"User has been suspended: [{entry['value']}].",
            f"Could not find user with ids: [{entry['value']}].",
        )
        # gone from every owned account's lists, both ways
        assert int(entry["value"]) not in emulator.truth_following(demo.id)


def test_churn_over_loopback() -> None:
    clock = OffsetClock()
    emu = Emulator.create(seed=2, clock=clock, churn=10.0)
    alice = emu.account("ff_alice")
    with EmulatorServer(emu) as server, httpx.Client(base_url=server.base_url) as client:
        url = f"/_emulator/truth/followers/{alice.id}"
        before = client.get(url).json()
        advanced = client.post("/_emulator/clock/advance", json={"seconds": 3600})
        assert advanced.status_code == 200
        after = client.get(url).json()
        assert before["count"] == after["count"]  # 10 gained, 10 lost
        assert len(set(after["ids"]) - set(before["ids"])) == 10
        churned = client.post(
            "/_emulator/churn", json={"user_id": alice.id, "gained": 3, "lost": 0}
        ).json()
        assert client.get(url).json()["ids"][:3] == churned["gained"][::-1]
        headers = {"Authorization": f"Bearer {emu.app.bearer_token}"}
        page = client.get(
            f"/2/users/{alice.id}/followers", params={"max_results": 3}, headers=headers
        ).json()
        assert [int(u["id"]) for u in page["data"]] == churned["gained"][::-1]
