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

PAGE_SIZE = 400
PAGE_DELAY_S = 0.05  # each followers page is held this long, so the snapshot takes seconds
PER_USER = 6  # the account's follow budget for the day: the campaign must spend it exactly
FOLLOW_HELD_S = 0.3  # the emulator carries out each follow, then holds the answer this long


def rows(world: World, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    assert world.database_url is not None
    with psycopg.connect(world.database_url, autocommit=True) as con:
        return con.execute(sql.replace("?", "%s"), params or []).fetchall()


def wait_for(condition: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.02)


# Both modes look alike from the client (RELIABILITY.md): the default run keeps the
# crash-like one, the fast one runs with -m slow.
@pytest.mark.parametrize("mode", [pytest.param("fast", marks=pytest.mark.slow), "immediate"])
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
    print(mode, "first run:", child.returncode, line)
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


# The default run keeps the restart that cuts a ledger transaction; a restart while X holds
# a follow costs only a reconnect, as between two pages (test_store_failures.py).
@pytest.mark.parametrize(
    "where",
    [pytest.param("follow_in_flight", marks=pytest.mark.slow), "inside_a_ledger_transaction"],
)
def test_live_campaign_with_postgres_restarted_mid_campaign(
    world_factory: Any, postgres_cluster: PostgresCluster, where: str
) -> None:
    """`follow_in_flight`: a fast restart while X holds the answer to a follow it carried
    out, so the outcome is recorded on a new connection. `inside_a_ledger_transaction`: an
    immediate restart while a ledger transaction waits on a lock the test holds."""
    world = world_factory(backend="postgres", limits=False)
    durable(world)
    world.admin.faults(f"p=1,kinds=slow,slow={FOLLOW_HELD_S},on=follow")
    source = world.account_id("ff_demo")
    env = world.env(
        FOLLOWFLOW_BUDGET_WINDOW_S="60", FOLLOWFLOW_FOLLOW_BUDGET_PER_USER=str(PER_USER)
    )
    args = ["follow-back", "ff_demo", "--live", "--yes", "--no-spread"]
    args += ["--max-follows", str(PER_USER + 4)]
    child = world.start(args, env)
    try:
        wait_for(lambda: len(_follows_by(world, source)) >= 2)
        if where == "follow_in_flight":
            postgres_cluster.restart(mode="fast")
        else:
            restart_while_waiting_on(world, postgres_cluster, "actions", "immediate")
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            kill(child)
    if child.returncode != 0:
        line = assert_clean_failure(subprocess.CompletedProcess(args, child.returncode, out, err))
        assert "lost the connection to the PostgreSQL store" in line, line
        assert PASSWORD not in out + err
    print(where, "first run:", child.returncode, (err.strip().splitlines() or [""])[-1])
    reserved = "SELECT count(*) FROM actions WHERE status = 'reserved'"
    if where == "inside_a_ledger_transaction":
        # The lock was taken while X held a follow's answer: recording its outcome was the
        # transaction cut, so its row is still `reserved` for the re-run's crash recovery.
        assert rows(world, reserved) == [(1,)]
    world.admin.faults(None)
    again = world.run(args, env)
    assert again.returncode == 0, again.stderr
    sent = _follows_by(world, source)
    targets = [a["target_id"] for a in sent]
    assert len(targets) == len(set(targets)), "an account was followed twice"
    assert len(sent) == PER_USER, "the re-run spends the day's budget, no more"
    ledger = rows(
        world,
        "SELECT target_id, status, outcome FROM actions WHERE account_id = ? AND action = 'follow'",
        [source],
    )
    assert [r for r in ledger if r[1] == "reserved"] == [], "a reservation was never settled"
    done = {target for target, status, outcome in ledger if status == "done"}
    assert done == {a["target_id"] for a in sent if a["result"] == "following"} == set(targets)
    assert done <= world.admin.truth("following", source)


def _follows_by(world: World, source: int) -> list[dict[str, Any]]:
    return [
        a for a in world.admin.actions() if a["action"] == "follow" and a["source_id"] == source
    ]
