"""The hosts' PostgreSQL cluster restarted while snapshots and a live campaign run on the
three hosts (`-m slow` only). It holds the followflow store and the Prefect server's own
database, so both go away at once: the store's connections and the orchestrator's.

Each run either rides out the restart (the store's pool reconnects) or fails cleanly;
then a re-run of every account completes, the stored lists are exact, the ledger equals
the emulator's log, nobody is followed twice and no ledger row is left reserved.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import psycopg
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import StateType

from tests.hosts.checks import assert_lists_exact, followed_twice, follows_landed, ledger_done
from tests.hosts.followflow_hosts import Followflow, wait_for_runs
from tests.hosts.netns import Hosts

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SNAPSHOTTED = ("ff_alice", "ff_bob")  # 800 and 300 pages of one user: windows long
CAMPAIGNER = "ff_fleet11"
SLOW_PAGES = {"env": {"FOLLOWFLOW_PAGE_SIZE": "1"}}  # so the restart lands mid-listing
SPACED = {"env": {"FOLLOWFLOW_ACTION_MIN_SPACING_S": "2"}}


def start_runs(followflow: Followflow, client: SyncPrefectClient, stretched: bool) -> list[UUID]:
    campaign = {
        "params": {
            "account": CAMPAIGNER,
            "live": True,
            "approved": True,
            "max_follows": 6,
            "spread_over_day": False,
        }
    }
    runs: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("snapshot-followers", {"params": {"accounts": [a], "lists": "both"}}, SLOW_PAGES)
        for a in SNAPSHOTTED
    ]
    runs.append(("follow-back", campaign, SPACED))
    return [
        client.create_flow_run_from_deployment(
            followflow.deployments[name], parameters=params, job_variables=job if stretched else {}
        ).id
        for name, params, job in runs
    ]


def test_the_store_restarted_while_runs_are_in_flight(
    followflow_workers: Hosts, followflow_on_hosts: Followflow, hosts_postgres: Any
) -> None:
    followflow, hosts = followflow_on_hosts, list(followflow_workers)
    campaigner = followflow.user_id(CAMPAIGNER)
    with followflow.client() as client:
        ids = start_runs(followflow, client, stretched=True)
        deadline = time.monotonic() + 180
        while not [a for a in follows_landed(followflow) if a.source_id == campaigner]:
            assert time.monotonic() < deadline, "the campaign followed nobody in 180 s"
            time.sleep(0.2)
        states = [client.read_flow_run(run_id).state_type for run_id in ids]
        started = time.monotonic()
        hosts_postgres.restart()  # fast shutdown: every connection is cut
        took = time.monotonic() - started
        print(f"\nrestarted the store and Prefect's database in {took:.1f} s; runs: {states}")
        first = wait_for_runs(client, ids, 400, hosts)
        print(f"after the restart the runs ended {[r.state_type for r in first]}")
        for run in first:
            assert run.state_type in {StateType.COMPLETED, StateType.FAILED}, run.state
            if run.state_type is StateType.FAILED:
                print(f"  failed: {run.state.message if run.state else ''}")
        again = wait_for_runs(client, start_runs(followflow, client, stretched=False), 400, hosts)
        assert [r.state_type for r in again] == [StateType.COMPLETED] * len(again)
    for account in SNAPSHOTTED:
        assert_lists_exact(followflow, followflow.user_id(account))
    assert followed_twice(follows_landed(followflow)) == []
    assert ledger_done(followflow.store_url) == {
        (a.source_id, a.target_id) for a in follows_landed(followflow)
    }
    with psycopg.connect(followflow.store_url) as connection:
        reserved = connection.execute(
            "SELECT count(*) FROM actions WHERE status = 'reserved'"
        ).fetchone()
        snapshots = connection.execute(
            "SELECT status, count(*) FROM snapshots GROUP BY status ORDER BY status"
        ).fetchall()
    print(f"snapshot rows by status: {snapshots}; ledger rows left reserved: {reserved}")
    assert reserved == (0,)
