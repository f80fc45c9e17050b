"""SIGKILL a snapshot at random points, re-run it each time, then check the final snapshot.

Each run is the real CLI (`followflow snapshot ACCOUNT --lists followers`) in a child
process against the emulator over loopback (limits off), one DuckDB file, one real
Prefect server. After the crashes a last run completes; then the stored followers equal
the emulator's truth, nothing is duplicated, and no page was fetched more often than the
crashes explain (the emulator logs every request with its pagination token).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.reliability import crashes
from tests.reliability.conftest import World, query

pytestmark = pytest.mark.timeout(1800)


@dataclass
class Segment:
    """Runs that worked on one snapshot: from a fresh start to its completion."""

    first_seq: int
    crashes: int = 0
    refetched: int = 0
    points: list[str] = field(default_factory=list)


def follower_pages(world: World, account_id: int, since: int = 0) -> list[dict[str, Any]]:
    path = f"/2/users/{account_id}/followers"
    return [r for r in world.admin.requests(since) if r["path"] == path]


def refetches(pages: list[dict[str, Any]]) -> int:
    """Pages fetched more than once (by pagination token; None is the first page)."""
    counts = Counter(r["token"] for r in pages if r["status"] == 200)
    return sum(n - 1 for n in counts.values())


def completed(world: World, account_id: int) -> int:
    if not world.db_path.exists():
        return 0
    # A run killed between creating the file and migrating it leaves it without tables.
    tables = query(
        world.db_path, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'snapshots'"
    )
    if tables[0][0] == 0:
        return 0
    rows = query(
        world.db_path,
        "SELECT count(*) FROM snapshots WHERE account_id = ? AND status = 'complete'",
        [account_id],
    )
    return int(rows[0][0])


def crash_snapshots(
    world: World, username: str, kills: int, seed: int, page_size: int
) -> list[Segment]:
    account_id = world.account_id(username)
    expected_pages = -(-len(world.admin.truth("followers", account_id)) // page_size)
    env = world.env(FOLLOWFLOW_PAGE_SIZE=str(page_size))
    args = ["snapshot", username, "--lists", "followers"]
    rng = random.Random(seed)
    segments = [Segment(first_seq=0)]
    done_pages = 0
    while sum(s.crashes for s in segments) < kills:
        point = crashes.pick(rng, max_seconds=6.0, max_requests=expected_pages - done_pages)
        child = world.start(args, env)
        killed = crashes.run_until(
            child, point, lambda: len(follower_pages(world, account_id, segments[-1].first_seq))
        )
        pages = follower_pages(world, account_id, segments[-1].first_seq)
        done_pages = len({r["token"] for r in pages})
        if killed:
            segments[-1].crashes += 1
            segments[-1].points.append(point.describe())
        if completed(world, account_id) > len(segments) - 1:
            # Finished (or killed after its last commit): the next run starts a new snapshot.
            segments[-1].refetched = refetches(pages)
            segments.append(Segment(first_seq=max((r["seq"] for r in pages), default=0) + 1))
            done_pages = 0
    final = world.run(args, env, timeout=600)
    assert final.returncode == 0, final.stderr
    pages = follower_pages(world, account_id, segments[-1].first_seq)
    segments[-1].refetched = refetches(pages)
    return segments


def assert_exact_and_unique(world: World, username: str) -> None:
    account_id = world.account_id(username)
    stored = query(
        world.db_path,
        "SELECT follower_id FROM current_followers WHERE account_id = ?",
        [account_id],
    )
    ids = [row[0] for row in stored]
    assert len(ids) == len(set(ids)), "a follower is stored twice"
    assert set(ids) == world.admin.truth("followers", account_id)
    open_twice = query(
        world.db_path,
        """SELECT account_id, kind, user_id FROM follow_edges WHERE ended IS NULL
           GROUP BY ALL HAVING count(*) > 1""",
    )
    assert open_twice == []
    staged_twice = query(
        world.db_path,
        "SELECT snapshot_id, user_id FROM snapshot_staging GROUP BY ALL HAVING count(*) > 1",
    )
    assert staged_twice == []
    statuses = query(
        world.db_path,
        "SELECT status, count(*) FROM snapshots WHERE account_id = ? GROUP BY status",
        [account_id],
    )
    assert dict(statuses).get("running", 0) == 0
    assert dict(statuses).get("partial", 0) == 0


def check(segments: list[Segment], kills: int) -> None:
    assert sum(s.crashes for s in segments) == kills
    for segment in segments:
        assert segment.refetched <= segment.crashes, (segment.refetched, segment.points)


def test_snapshot_survives_sigkill_three_times(world_factory) -> None:  # type: ignore[no-untyped-def]
    world = world_factory(limits=False)
    segments = crash_snapshots(world, "ff_team9", kills=3, seed=7, page_size=250)
    check(segments, 3)
    assert_exact_and_unique(world, "ff_team9")


@pytest.mark.slow
def test_snapshot_of_250k_survives_sigkill_fifty_times(world_factory) -> None:  # type: ignore[no-untyped-def]
    world = world_factory(size="large", limits=False)
    segments = crash_snapshots(world, "ff_250k", kills=50, seed=20, page_size=1000)
    check(segments, 50)
    assert_exact_and_unique(world, "ff_250k")
    print(
        "snapshot crashes:",
        [(s.crashes, s.refetched) for s in segments],
        [p for s in segments for p in s.points],
    )
