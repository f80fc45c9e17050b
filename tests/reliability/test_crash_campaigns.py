"""SIGKILL live follow-back campaigns at random points, re-run each time, then audit.

Each run is `followflow follow-back ff_demo --live --yes --max-follows N` in a child
process. Afterwards the emulator's own action log must show no account followed twice by
ff_demo (a second request answered `already_following` counts as a second follow), and
the ledger must agree with the emulator both ways.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from tests.reliability import crashes
from tests.reliability.conftest import World, query

pytestmark = pytest.mark.timeout(1800)

MAX_FOLLOWS = 5


def follows_by(world: World, source_id: int) -> list[dict[str, Any]]:
    return [
        a for a in world.admin.actions() if a["action"] == "follow" and a["source_id"] == source_id
    ]


def crash_campaigns(world: World, kills: int, seed: int) -> list[str]:
    source = world.account_id("ff_demo")
    # A short budget day keeps the day-spread pacing to a fraction of a second per follow.
    env = world.env(FOLLOWFLOW_BUDGET_WINDOW_S="60")
    args = ["follow-back", "ff_demo", "--live", "--yes", "--max-follows", str(MAX_FOLLOWS)]
    rng = random.Random(seed)
    points: list[str] = []
    while len(points) < kills:
        point = crashes.pick(rng, max_seconds=10.0, max_requests=MAX_FOLLOWS)
        child = world.start(args, env)
        if crashes.run_until(child, point, lambda: len(follows_by(world, source))):
            points.append(point.describe())
    final = world.run(args, env, timeout=300)
    assert final.returncode == 0, final.stderr
    return points


def audit(world: World) -> int:
    """Assert no double follow and ledger == emulator; returns the follows sent."""
    source = world.account_id("ff_demo")
    sent = follows_by(world, source)
    twice = {t: n for t, n in Counter(a["target_id"] for a in sent).items() if n > 1}
    assert twice == {}, f"followed more than once: {twice}"
    assert {a["result"] for a in sent} <= {"following", "pending_follow"}, sent
    rows = query(
        world.db_path,
        "SELECT target_id, status, outcome FROM actions WHERE account_id = ? AND action = 'follow'",
        [source],
    )
    assert [r for r in rows if r[1] == "reserved"] == [], "a reservation was never settled"
    done = {t for t, status, outcome in rows if status == "done" and outcome == "following"}
    following = world.admin.truth("following", source)
    assert done <= following, "the ledger claims follows X does not show"
    landed = {a["target_id"] for a in sent if a["result"] == "following"}
    assert landed == done, "every follow the emulator saw is done in the ledger, and only those"
    return len(sent)


def test_campaign_survives_sigkill_three_times(world_factory) -> None:  # type: ignore[no-untyped-def]
    world = world_factory(limits=False)
    crash_campaigns(world, kills=3, seed=3)
    assert audit(world) >= MAX_FOLLOWS


@pytest.mark.slow
def test_campaign_survives_sigkill_fifty_times(world_factory) -> None:  # type: ignore[no-untyped-def]
    world = world_factory(limits=False)
    points = crash_campaigns(world, kills=50, seed=20)
    sent = audit(world)
    print("campaign crashes:", points, "follows sent:", sent)
