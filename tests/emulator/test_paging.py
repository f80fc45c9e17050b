"""Paging: completeness at the boundaries, tokens, previous_token, lists that change."""

from __future__ import annotations

import pytest

from followflow.emulator import Emulator

from .helpers import all_pages, bearer_client, user_client


@pytest.mark.parametrize(
    ("username", "count"),
    [("ff_zero", 0), ("ff_one", 1), ("ff_999", 999), ("ff_1000", 1000), ("ff_1001", 1001)],
)
@pytest.mark.parametrize("kind", ["followers", "following"])
@pytest.mark.parametrize("max_results", [1000, 100])
def test_every_user_exactly_once(
    emulator: Emulator, username: str, count: int, kind: str, max_results: int
) -> None:
    account = emulator.account(username)
    with bearer_client(emulator) as client:
        ids, bodies = all_pages(client, kind, account.id, max_results=max_results)
    truth = emulator.truth_followers if kind == "followers" else emulator.truth_following
    assert [int(i) for i in ids] == truth(account.id)  # newest first, each once
    assert len(ids) == len(set(ids)) == count
    assert len(bodies) == max(1, -(-count // max_results))  # no empty trailing page
    assert "next_token" not in bodies[-1]["meta"]
    assert "previous_token" not in bodies[0]["meta"]
    for body in bodies[:-1]:
        assert len(body["meta"]["next_token"]) >= 16
    for body in bodies[1:]:
        assert len(body["meta"]["previous_token"]) >= 16
    assert [b["meta"]["result_count"] for b in bodies] == [len(b.get("data", [])) for b in bodies]


def test_previous_token_walks_back(emulator: Emulator) -> None:
    account = emulator.account("ff_1001")
    with bearer_client(emulator) as client:
        url = f"/2/users/{account.id}/followers"
        first = client.get(url, params={"max_results": 400}).json()
        second = client.get(
            url, params={"max_results": 400, "pagination_token": first["meta"]["next_token"]}
        ).json()
        back = client.get(
            url, params={"max_results": 400, "pagination_token": second["meta"]["previous_token"]}
        ).json()
    assert back["data"] == first["data"]
    assert "previous_token" not in back["meta"]
    assert back["meta"]["next_token"] == first["meta"]["next_token"]


@pytest.mark.parametrize(
    "token", ["meta.next_token", "0000000000000000", "short", "5CS0O0C6II61EZZZ", "a" * 40]
)
def test_invalid_token_is_the_real_400(emulator: Emulator, token: str) -> None:
    account = emulator.account("ff_demo")
    with bearer_client(emulator) as client:
        response = client.get(
            f"/2/users/{account.id}/followers", params={"pagination_token": token}
        )
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "Invalid Request"
    assert body["errors"] == [
        {
            "parameters": {"pagination_token": [token]},
            "message": (
                f"The `pagination_token` query parameter value [{token}] is not a valid token."
            ),
        }
    ]


def test_a_token_only_works_on_its_own_list(emulator: Emulator) -> None:
    demo, alice = emulator.account("ff_demo"), emulator.account("ff_alice")
    with bearer_client(emulator) as client:
        token = client.get(f"/2/users/{demo.id}/followers").json()["meta"]["next_token"]
        elsewhere = client.get(f"/2/users/{alice.id}/followers", params={"pagination_token": token})
        other_kind = client.get(f"/2/users/{demo.id}/following", params={"pagination_token": token})
    assert elsewhere.status_code == other_kind.status_code == 400


def test_changes_during_paging_never_duplicate(emulator: Emulator) -> None:
    """Documented in paging.py: new followers are not seen, leavers before their page are not."""
    bob = emulator.account("ff_bob")
    before = emulator.truth_followers(bob.id)
    with bearer_client(emulator) as reader:
        url = f"/2/users/{bob.id}/followers"
        first = reader.get(url, params={"max_results": 50}).json()
        seen = [int(u["id"]) for u in first["data"]]
        # during paging: ff_demo follows bob (newest), one unread follower leaves, and one
        # already-read follower leaves and comes back.
        demo_id = emulator.account("ff_demo").id
        with user_client(emulator, "ff_demo") as demo:
            followed = demo.post(
                f"/2/users/{demo_id}/following", json={"target_user_id": str(bob.id)}
            )
            assert followed.status_code == 200
        unread, read = before[100], before[10]
        index = emulator.world.index_of_id
        bob_index = index(bob.id)
        assert bob_index is not None
        emulator.state.remove_edge(index(unread) or 0, bob_index)
        emulator.state.remove_edge(index(read) or 0, bob_index)
        emulator.state.add_edge(index(read) or 0, bob_index)
        token = first["meta"]["next_token"]
        while token:
            page = reader.get(url, params={"max_results": 50, "pagination_token": token}).json()
            seen += [int(u["id"]) for u in page.get("data", [])]
            token = page["meta"].get("next_token")
    assert len(seen) == len(set(seen))
    assert set(seen) == set(before) - {unread}
    now = emulator.truth_followers(bob.id)
    assert now[:2] == [read, demo_id]  # newest first: the re-follow, then ff_demo
    assert len(now) == len(before)  # +demo, -unread; read left and came back


def test_max_results_default_and_bounds(emulator: Emulator) -> None:
    demo = emulator.account("ff_demo")
    with bearer_client(emulator) as client:
        url = f"/2/users/{demo.id}/followers"
        assert len(client.get(url).json()["data"]) == 100
        assert len(client.get(url, params={"max_results": 1}).json()["data"]) == 1
        for bad in ("0", "1001", "abc", "-5"):
            assert client.get(url, params={"max_results": bad}).status_code == 400
