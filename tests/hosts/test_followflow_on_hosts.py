"""followflow's own deployments (from deployments/prefect.yaml) run by workers on three
hosts, with the PostgreSQL store and the accounts' tokens in a Secret block.

Snapshots: runs of several fleet accounts, triggered at once from the deployment, are
taken by the workers of all three hosts, and every stored list equals the emulator's
truth. Default run: three accounts (the workers are polling before the runs exist, and
each takes one run at a time, so each host gets one); `-m slow`: all twelve.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from prefect.client.schemas.objects import StateType

from tests.hosts.checks import (
    assert_lists_exact,
    budget_peaks,
    followed_twice,
    follows_landed,
    ledger_done,
)
from tests.hosts.conftest import DAY_S, PER_APP, PER_USER, workers_on_every_host
from tests.hosts.followflow_hosts import POOL, Followflow, duckdb_files, ran_on, wait_for_runs
from tests.hosts.netns import Hosts

pytestmark = pytest.mark.timeout(400)


@pytest.fixture(scope="module")
def followflow_workers(hosts: Hosts, followflow_on_hosts: Followflow) -> Iterator[Hosts]:
    """The workers of every test here, polling before a test creates its runs. Each test
    waits until its runs have ended, so the next finds every worker free, and three worker
    starts (~8 CPU seconds) are saved."""
    started = datetime.now(UTC)
    with workers_on_every_host(hosts, followflow_on_hosts) as running:
        wait_until_polling(followflow_on_hosts, running, started)
        yield running


def wait_until_polling(followflow: Followflow, hosts: Hosts, since: datetime) -> None:
    """Until every host's worker has checked in with the pool (it polls every second then)."""
    expected = {f"host{host.index}" for host in hosts}
    deadline = time.monotonic() + 120
    with followflow.client() as client:
        while True:
            polling = {
                worker.name
                for worker in client.read_workers_for_work_pool(POOL)
                if worker.last_heartbeat_time is not None and worker.last_heartbeat_time >= since
            }
            if expected <= polling:
                return
            logs = "\n".join((h.folder / "worker.log").read_text()[-2000:] for h in hosts)
            assert time.monotonic() < deadline, f"workers polling: {sorted(polling)}\n{logs}"
            time.sleep(0.5)


def fleet_users(followflow: Followflow, count: int) -> list[dict[str, Any]]:
    users = [u for u in followflow.manifest["users"] if u["username"].startswith("ff_fleet")]
    return users[:count]


def snapshot_on_hosts(followflow: Followflow, hosts: Hosts, accounts: int) -> None:
    users = fleet_users(followflow, accounts)
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
        assert_lists_exact(followflow, user["id"])
    for host in hosts:
        assert duckdb_files(host.folder) == []


def test_snapshots_of_three_accounts_spread_over_three_hosts_and_match_the_truth(
    followflow_workers: Hosts, followflow_on_hosts: Followflow
) -> None:
    snapshot_on_hosts(followflow_on_hosts, followflow_workers, accounts=3)


@pytest.mark.slow
def test_snapshots_of_twelve_accounts_spread_over_three_hosts_and_match_the_truth(
    followflow_workers: Hosts, followflow_on_hosts: Followflow
) -> None:
    snapshot_on_hosts(followflow_on_hosts, followflow_workers, accounts=12)


CAMPAIGNERS = ("ff_demo", "ff_alice", "ff_bob")  # three accounts of the one app


def campaign_parameters(account: str) -> dict[str, Any]:
    return {
        "params": {
            "account": account,
            "live": True,
            "approved": True,
            "max_follows": 10,
            "spread_over_day": False,
        }
    }


def test_campaigns_of_three_accounts_on_three_hosts_keep_the_budgets(
    followflow_workers: Hosts, followflow_on_hosts: Followflow
) -> None:
    """Started at one moment, one per host: more demand (3 x 10) than the app's budget."""
    followflow = followflow_on_hosts
    before = len(follows_landed(followflow))
    with followflow.client() as client:
        ids = [
            client.create_flow_run_from_deployment(
                followflow.deployments["follow-back"], parameters=campaign_parameters(account)
            ).id
            for account in CAMPAIGNERS
        ]
        runs = wait_for_runs(client, ids, 300, list(followflow_workers))
    assert [run.state_type for run in runs] == [StateType.COMPLETED] * len(runs)
    hosts_used = {host.index for run_id in ids for host in ran_on(run_id, list(followflow_workers))}
    assert hosts_used == {0, 1, 2}, f"the campaigns ran on hosts {hosts_used}"
    sent = follows_landed(followflow)[before:]
    per_user, per_app = budget_peaks(sent, DAY_S)
    print(f"\nmost follows in any {DAY_S:.0f} s window: per account {per_user}, app {per_app}")
    assert max(per_user.values()) <= PER_USER
    assert per_app <= PER_APP
    assert per_app == PER_APP, "the campaigns wanted more than the app budget: all of it is spent"
    assert followed_twice(follows_landed(followflow)) == []
    assert ledger_done(followflow.store_url) == {
        (a.source_id, a.target_id) for a in follows_landed(followflow)
    }
