"""Follow and unfollow: effects on both lists, pending follows, the real errors, the log."""

from __future__ import annotations

import httpx

from followflow.clock import ManualClock
from followflow.emulator import Emulator

from .helpers import bearer_client, user_client


def an_index(emu: Emulator, *, protected: bool = False, status: str = "active") -> int:
    world, profiles = emu.world, emu.services.profiles
    start = world.K if status == "active" else world.K + world.D
    for index in range(start + 777, world.universe):
        if index in world.owned_followers_of:  # someone owned follows them already
            continue
        if world.status_of(index) == status and profiles.protected(index) == protected:
            return index
    raise AssertionError("no such user")


def follow(client: httpx.Client, source: int, target: int | str) -> httpx.Response:
    return client.post(f"/2/users/{source}/following", json={"target_user_id": str(target)})


def test_follow_puts_the_edge_first_on_both_lists(emulator: Emulator, clock: ManualClock) -> None:
    demo = emulator.account("ff_demo")
    target = emulator.world.id_of(an_index(emulator))
    following_before = emulator.truth_following(demo.id)
    followers_before = emulator.truth_followers(target)
    with user_client(emulator, "ff_demo") as client:
        first = follow(client, demo.id, target)
        again = follow(client, demo.id, target)
        metrics = client.get(f"/2/users/{target}", params={"user.fields": "public_metrics"})
    assert first.json() == again.json() == {"data": {"following": True, "pending_follow": False}}
    assert emulator.truth_following(demo.id) == [target, *following_before]
    assert emulator.truth_followers(target) == [demo.id, *followers_before]
    count = metrics.json()["data"]["public_metrics"]["followers_count"]
    assert count == len(followers_before) + 1
    log = emulator.action_log
    assert [(r.action, r.result) for r in log] == [
        ("follow", "following"),
        ("follow", "already_following"),
    ]
    assert log[0].principal == f"oauth1:{demo.id}"
    assert (log[0].source_id, log[0].target_id, log[0].at) == (demo.id, target, clock())


def test_follow_of_an_owned_account_shows_in_its_followers(emulator: Emulator) -> None:
    alice, bob = emulator.account("ff_alice"), emulator.account("ff_bob")
    with user_client(emulator, "ff_alice") as client:
        assert follow(client, alice.id, bob.id).status_code == 200
    with bearer_client(emulator) as reader:
        page = reader.get(f"/2/users/{bob.id}/followers", params={"max_results": 1}).json()
    assert page["data"][0]["id"] == str(alice.id)


def test_protected_target_stays_pending(emulator: Emulator) -> None:
    demo = emulator.account("ff_demo")
    target = emulator.world.id_of(an_index(emulator, protected=True))
    pending = {"data": {"following": False, "pending_follow": True}}
    with user_client(emulator, "ff_demo") as client:
        assert follow(client, demo.id, target).json() == pending
        assert follow(client, demo.id, target).json() == pending  # re-request: no-op
        status = client.get(f"/2/users/{target}", params={"user.fields": "connection_status"})
        assert status.json()["data"]["connection_status"] == ["follow_request_sent"]
        assert target not in emulator.truth_following(demo.id)
        assert emulator.approve_pending(demo.id, target)
        assert emulator.truth_following(demo.id)[0] == target
        assert follow(client, demo.id, target).json()["data"]["following"] is True
    results = [r.result for r in emulator.action_log]
    assert results == ["pending_follow", "already_pending", "already_following"]


def test_unfollow_of_a_pending_request_cancels_it(emulator: Emulator) -> None:
    demo = emulator.account("ff_demo")
    target = emulator.world.id_of(an_index(emulator, protected=True))
    with user_client(emulator, "ff_demo") as client:
        follow(client, demo.id, target)
        gone = client.delete(f"/2/users/{demo.id}/following/{target}")
    assert gone.json() == {"data": {"following": False}}
    assert not emulator.approve_pending(demo.id, target)
    assert emulator.action_log[-1].result == "cancelled_pending"


def test_unfollow_removes_both_sides_and_is_idempotent(emulator: Emulator) -> None:
    demo = emulator.account("ff_demo")
    target = emulator.truth_following(demo.id)[5]
    with user_client(emulator, "ff_demo") as client:
        first = client.delete(f"/2/users/{demo.id}/following/{target}")
        second = client.delete(f"/2/users/{demo.id}/following/{target}")
        unknown = client.delete(f"/2/users/{demo.id}/following/12345")
    for response in (first, second, unknown):
        assert response.status_code == 200
        assert response.json() == {"data": {"following": False}}
    assert target not in emulator.truth_following(demo.id)
    assert demo.id not in emulator.truth_followers(target)
    assert [r.result for r in emulator.action_log] == [
        "unfollowed",
        "not_following",
        "not_following",
    ]


def test_the_real_errors(emulator: Emulator) -> None:
    demo, alice = emulator.account("ff_demo"), emulator.account("ff_alice")
    suspended = emulator.world.id_of(an_index(emulator, status="suspended"))
    deactivated = emulator.world.id_of(an_index(emulator, status="deactivated"))
    with user_client(emulator, "ff_demo") as client:
        mismatch = follow(client, alice.id, 1)
        unfollow_mismatch = client.delete(f"/2/users/{alice.id}/following/1")
        self_follow = follow(client, demo.id, demo.id)
        to_suspended = follow(client, demo.id, suspended)
        to_deactivated = follow(client, demo.id, deactivated)
        no_body = client.post(f"/2/users/{demo.id}/following")
        bad_target = follow(client, demo.id, "abc")
        extra = client.post(f"/2/users/{demo.id}/following", json={"target_user_id": "1", "x": 1})
    assert mismatch.status_code == unfollow_mismatch.status_code == 400
    assert mismatch.json()["errors"][0]["message"] == (
        f"The `id` query parameter value [{alice.id}] must be the same as the "
        f"authenticating user [{demo.id}]"
    )
    assert mismatch.json()["type"] == "https://api.twitter.com/2/problems/invalid-request"
    for response, detail in (
        (self_follow, "You cannot follow yourself."),
        (to_suspended, "You cannot follow an account that is suspended."),
    ):
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == {
            "detail": detail,
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
        }
    assert to_deactivated.status_code == 200
    assert to_deactivated.json()["errors"][0]["title"] == "Not Found Error"
    assert "data" not in to_deactivated.json()
    for response in (no_body, bad_target, extra):
        assert response.status_code == 400
        assert response.json()["title"] == "Invalid Request"
    results = [r.result for r in emulator.action_log]
    assert results == ["rejected_self", "rejected_suspended", "rejected_not_found"]


def test_oauth2_scopes_are_enforced(emulator: Emulator, clock: ManualClock) -> None:
    demo = emulator.account("ff_demo")
    grant = emulator.registry.issue(demo.id, ("tweet.read", "users.read"), clock())
    headers = {"Authorization": f"Bearer {grant.access_token}"}
    with httpx.Client(
        base_url="https://api.x.com",
        transport=httpx.MockTransport(emulator.handle),
        headers=headers,
    ) as client:
        assert client.get("/2/users/me").status_code == 200
        refused = follow(client, demo.id, 1)
        assert refused.status_code == 403
        assert client.get(f"/2/users/{demo.id}/followers").status_code == 403  # follows.read
    full = {"Authorization": f"Bearer {demo.oauth2_access_token}"}
    with httpx.Client(
        base_url="https://api.x.com", transport=httpx.MockTransport(emulator.handle), headers=full
    ) as client:
        target = emulator.world.id_of(an_index(emulator))
        assert follow(client, demo.id, target).status_code == 200
    assert emulator.action_log[-1].principal == f"oauth2:{demo.id}"
