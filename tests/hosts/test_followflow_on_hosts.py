"""followflow's own deployments (from deployments/prefect.yaml) run by workers on three
hosts, with the PostgreSQL store and the accounts' tokens in a Secret block.

Snapshots: runs of several fleet accounts, triggered at once from the deployment, are
taken by the workers of all three hosts, and every stored list equals the emulator's
truth. Default run: six accounts; `-m slow`: all twelve.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from prefect.client.schemas.objects import StateType

from tests.hosts.followflow_hosts import Followflow, duckdb_files, ran_on, wait_for_runs
from tests.hosts.netns import Hosts

pytestmark = pytest.mark.timeout(400)


def stored(store_url: str, view: str, column: str, account_id: int) -> set[int]:
    with psycopg.connect(store_url) as connection:
        rows = connection.execute(
            f"SELECT {column} FROM {view} WHERE account_id = %s", (account_id,)
        ).fetchall()
    return {row[0] for row in rows}


def fleet_users(followflow: Followflow, count: int) -> list[dict[str, Any]]:
    users = [u for u in followflow.manifest["users"] if u["username"].startswith("ff_fleet")]
    return users[:count]


def snapshot_on_hosts(followflow: Followflow, hosts: Hosts, accounts: int) -> None:
    users = fleet_users(followflow, accounts)
    truth = followflow.emulator.emulator
    with followflow.client() as client:
        ids = [
            client.create_flow_run_from_deployment(
                followflow.deployments["snapshot-followers"],
                parameters={"params": {"accounts": [u["username"]], "lists": "both"}},
            ).id
            for u in users
        ]
        runs = wait_for_runs(client, ids, 300, list(hosts))
    assert [run.state_type for run in runs] == [StateType.COMPLETED] * len(runs)
    by_host = {h.index: [run.id for run in runs if ran_on(run.id, [h])] for h in hosts}
    print(f"\n{accounts} snapshot runs by host: { {i: len(r) for i, r in by_host.items()} }")
    assert sorted(i for r in by_host.values() for i in r) == sorted(ids)  # each ran once
    assert all(by_host.values()), f"a host's worker took no run: {by_host}"
    for user in users:
        followers = stored(followflow.store_url, "current_followers", "follower_id", user["id"])
        following = stored(followflow.store_url, "current_following", "followed_id", user["id"])
        assert followers == set(truth.truth_followers(user["id"])), user["username"]
        assert following == set(truth.truth_following(user["id"])), user["username"]
    for host in hosts:
        assert duckdb_files(host.folder) == []


def test_snapshots_of_six_accounts_spread_over_three_hosts_and_match_the_truth(
    followflow_workers: Hosts, followflow_on_hosts: Followflow
) -> None:
    snapshot_on_hosts(followflow_on_hosts, followflow_workers, accounts=6)


@pytest.mark.slow
def test_snapshots_of_twelve_accounts_spread_over_three_hosts_and_match_the_truth(
    followflow_workers: Hosts, followflow_on_hosts: Followflow
) -> None:
    snapshot_on_hosts(followflow_on_hosts, followflow_workers, accounts=12)
