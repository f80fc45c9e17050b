"""PostgreSQL restarted under a real `followflow` run: a snapshot staging its pages and a
live campaign sending its follows. Afterwards nothing is half-written, a re-run finishes
the work, and the store equals the emulator's truth and its action log."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import psycopg
import pytest

from tests.postgres import PASSWORD, PostgresCluster
from tests.reliability.conftest import World, assert_clean_failure, kill

pytestmark = pytest.mark.timeout(300)

PAGE_SIZE = 200
PAGE_DELAY_S = 0.05  # each followers page is held this long, so the snapshot takes seconds


def rows(world: World, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    assert world.database_url is not None
    with psycopg.connect(world.database_url, autocommit=True) as con:
        return con.execute(sql.replace("?", "%s"), params or []).fetchall()


def wait_for(condition: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.02)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_snapshot_with_postgres_restarted_inside_a_staging_transaction(
    world_factory: Any, postgres_cluster: PostgresCluster, mode: str
) -> None:
    """A restart between two transactions costs a reconnect (test_store_failures.py); this
    one lands inside one: the test holds snapshot_staging locked until the run's staging
    transaction waits on it, then restarts the server under both."""
    world = world_factory(backend="postgres", limits=False)
    durable(world)
    world.admin.faults(f"p=1,kinds=slow,slow={PAGE_DELAY_S},on=followers")
    account = world.account_id("ff_team9")
    env = world.env(FOLLOWFLOW_PAGE_SIZE=str(PAGE_SIZE))
    args = ["snapshot", "ff_team9", "--lists", "followers"]
    child = world.start(args, env)
    try:
        wait_for(lambda: _staged(world) >= 3 * PAGE_SIZE)
        restart_while_waiting_on(world, postgres_cluster, "snapshot_staging", mode)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            kill(child)
    line = assert_clean_failure(subprocess.CompletedProcess(args, child.returncode, out, err))
    assert child.returncode == 1
    assert "lost the connection to the PostgreSQL store" in line, line
    assert "run the same command again" in line and PASSWORD not in out + err
    assert rows(world, "SELECT status FROM snapshots WHERE account_id = ?", [account]) == [
        ("partial",)
    ]
    assert_nothing_half_written(world, account)
    world.admin.faults(None)
    fetched = len(_follower_pages(world, account))
    again = world.run(args, env)
    assert again.returncode == 0, again.stderr
    refetched = len(_follower_pages(world, account)) - fetched
    assert refetched < len(world.admin.truth("followers", account)) / PAGE_SIZE, "not resumed"
    assert_nothing_half_written(world, account)
    stored = rows(
        world, "SELECT follower_id FROM current_followers WHERE account_id = ?", [account]
    )
    assert len(stored) == len({r[0] for r in stored})
    assert {r[0] for r in stored} == world.admin.truth("followers", account)
    assert rows(world, "SELECT status FROM snapshots WHERE account_id = ?", [account]) == [
        ("complete",)
    ]


def durable(world: World) -> None:
    """The session's cluster runs with synchronous_commit off for speed; an immediate stop
    could then lose acknowledged commits, which no server in production is set up to do."""
    assert world.database_url is not None
    with psycopg.connect(world.database_url, autocommit=True) as con:
        con.execute(f'ALTER DATABASE "{con.info.dbname}" SET synchronous_commit = on')


def restart_while_waiting_on(world: World, cluster: PostgresCluster, table: str, mode: str) -> None:
    """Lock `table` until one of followflow's transactions waits on it, then restart."""
    assert world.database_url is not None
    blocker = psycopg.connect(world.database_url, autocommit=True)
    blocker.execute("BEGIN")
    blocker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    wait_for(lambda: _waiting(world))
    cluster.restart(mode=mode)
    blocker.close()


def assert_nothing_half_written(world: World, account: int) -> None:
    staged_twice = rows(
        world,
        "SELECT snapshot_id, user_id FROM snapshot_staging GROUP BY 1, 2 HAVING count(*) > 1",
    )
    assert staged_twice == []
    open_twice = rows(
        world,
        """SELECT kind, user_id FROM follow_edges WHERE account_id = ? AND ended IS NULL
           GROUP BY 1, 2 HAVING count(*) > 1""",
        [account],
    )
    assert open_twice == []
    done = rows(world, "SELECT count(*) FROM snapshots WHERE status = 'complete'")[0][0]
    if done == 0:  # no snapshot completed: no edge may be open
        assert rows(world, "SELECT count(*) FROM follow_edges")[0][0] == 0


def _staged(world: World) -> int:
    try:
        return int(rows(world, "SELECT count(*) FROM snapshot_staging")[0][0])
    except psycopg.Error:
        return 0


def _waiting(world: World) -> bool:
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    return bool(rows(world, waiting)[0][0])


def _follower_pages(world: World, account: int) -> list[dict[str, Any]]:
    path = f"/2/users/{account}/followers"
    return [r for r in world.admin.requests() if r["path"] == path]
