"""The seeded world: deterministic, exact counts where promised, mirrored edges, ids."""

from __future__ import annotations

import random

import pytest

from followflow.clock import ManualClock
from followflow.emulator import Emulator
from followflow.emulator.edges import AffineSeq, EdgeList
from followflow.emulator.world import World

from .helpers import bearer_client

EXACT = {"ff_zero": 0, "ff_one": 1, "ff_999": 999, "ff_1000": 1000, "ff_1001": 1001}


def test_same_seed_same_world() -> None:
    a, b, c = World(5), World(5), World(6)
    assert [a.id_of(i) for i in range(100)] == [b.id_of(i) for i in range(100)]
    assert [a.id_of(i) for i in range(100)] != [c.id_of(i) for i in range(100)]
    assert a.followers_base(0).slice(0, 50) == b.followers_base(0).slice(0, 50)
    assert a.followers_base(0).slice(0, 50) != c.followers_base(0).slice(0, 50)


def test_ids_and_usernames_round_trip() -> None:
    world = World(1)
    rng = random.Random(0)
    for index in [*range(world.K), *rng.sample(range(world.universe), 500)]:
        user_id = world.id_of(index)
        assert 1 <= len(str(user_id)) <= 19
        assert world.index_of_id(user_id) == index
        name = world.username_of(index)
        assert 1 <= len(name) <= 15 and name.replace("_", "a").isalnum()
        assert world.index_of_username(name.upper()) == index
    assert world.index_of_id(783214) is None
    assert world.index_of_username("nobody_here") is None


def test_owned_accounts_have_the_documented_counts(emulator: Emulator) -> None:
    for username, count in EXACT.items():
        account = emulator.account(username)
        assert len(emulator.truth_followers(account.id)) == count
    demo = emulator.account("ff_demo")
    followers, following = emulator.truth_followers(demo.id), emulator.truth_following(demo.id)
    assert 2900 <= len(followers) <= 3100 and len(following) == 1200
    mutuals = set(followers) & set(following)
    assert 0 < len(mutuals) < len(following)  # follow-back and clean-up both have candidates
    teams = [len(emulator.truth_followers(emulator.account(f"ff_team{i}").id)) for i in range(10)]
    assert min(teams) == 500 and max(teams) == 20_000


def test_edges_touching_owned_accounts_are_mirrored(emulator: Emulator) -> None:
    demo = emulator.account("ff_demo")
    followers = emulator.truth_followers(demo.id)
    for follower in followers[:: len(followers) // 20]:
        assert demo.id in emulator.truth_following(follower)
    for followed in emulator.truth_following(demo.id)[:20]:
        assert demo.id in emulator.truth_followers(followed)


def test_profiles_are_varied(emulator: Emulator) -> None:
    demo = emulator.account("ff_demo")
    fields = "protected,verified,profile_image_url,location,description,public_metrics"
    with bearer_client(emulator) as client:
        users = client.get(
            f"/2/users/{demo.id}/followers", params={"max_results": 1000, "user.fields": fields}
        ).json()["data"]
    protected = sum(u["protected"] for u in users)
    assert 5 <= protected <= 80  # a few percent
    assert 0 < sum(u["verified"] for u in users) < 100
    defaults = sum("default_profile_images" in u["profile_image_url"] for u in users)
    assert 50 < defaults < 250
    assert 100 < sum("location" not in u for u in users) < 900
    counts = sorted(u["public_metrics"]["followers_count"] for u in users)
    assert counts[500] < 200 < counts[-1] / 10  # heavy tailed
    assert any(not u["description"] for u in users) and any(u["description"] for u in users)


def test_large_world_is_lazy_and_exact(clock: ManualClock) -> None:
    emu = Emulator.create(seed=1, size="large", clock=clock, limits=False)
    million = emu.account("ff_million")
    with bearer_client(emu) as client:
        me = client.get(f"/2/users/{million.id}", params={"user.fields": "public_metrics"})
        first = client.get(f"/2/users/{million.id}/followers", params={"max_results": 1000})
    assert me.json()["data"]["public_metrics"]["followers_count"] == 1_000_000
    assert len(first.json()["data"]) == 1000
    for name, count in (("ff_100k", 100_000), ("ff_150k", 150_000), ("ff_250k", 250_000)):
        assert emu.state.followers(emu.world.owned_index(name)).count == count


@pytest.mark.parametrize("n", [0, 1, 7, 1000])
def test_affine_sequences_are_permutations(n: int) -> None:
    seq = AffineSeq(n, 1009, 2100001 * 2100011, 17, 5, skip=3)
    items = seq.slice(0, n)
    assert len(set(items)) == n and 8 not in items  # offset 5 + skipped 3
    assert all(seq.position(item) == j for j, item in enumerate(items))


def test_edge_list_windows() -> None:
    edges = EdgeList(AffineSeq(10, 10, 3, 0, 100))
    base = edges.all()
    edges.add_front(1)
    edges.remove(base[3])
    assert edges.all() == [1, *base[:3], *base[4:]]
    window = edges.older_than(None, 4, frozenset())
    assert window.indices == [1, *base[:3]] and window.has_more
    rest = edges.older_than(window.last_seq, 100, frozenset())
    assert rest.indices == base[4:] and not rest.has_more
    back = edges.newer_than(rest.first_seq, 2, frozenset())
    assert back.indices == base[1:3] and back.has_more
