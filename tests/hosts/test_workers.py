"""Workers on several hosts share one Prefect server on PostgreSQL: runs of one deployment
triggered at once are picked up by the workers of every host, each over its own link.

Both runs are `-m slow` (two hosts and two runs; three hosts and twelve runs): the default
run makes the same checks (every run completed, ran exactly once, every host's worker took
one) on followflow's own deployments in test_followflow_on_hosts.py; this file's own pool,
deployment and workers cost ~10 s more.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prefect.client.schemas.objects import StateType

from tests.hosts.netns import Hosts
from tests.hosts.workers import (
    PrefectOnPostgres,
    create_process_pool,
    deploy_mark_host,
    start_worker,
)

pytestmark = pytest.mark.timeout(300)


def ran_on(folder: Path) -> set[str]:
    return {path.name.removeprefix("ran-") for path in folder.glob("ran-*")}


def spread_over_hosts(hosts: Hosts, server: PrefectOnPostgres, n_hosts: int, runs: int) -> None:
    pool = f"hosts-{n_hosts}"
    with server.client() as client:
        create_process_pool(client, pool)
        deployment = deploy_mark_host(client, pool)
    used = hosts.hosts[:n_hosts]
    started = time.monotonic()
    for host in used:
        start_worker(host, server.api_url, pool)
    with server.client() as client:
        ids = {
            str(client.create_flow_run_from_deployment(deployment, parameters={"pause_s": 2}).id)
            for _ in range(runs)
        }
        deadline = time.monotonic() + 240
        while True:
            states = [client.read_flow_run(run_id).state_type for run_id in ids]
            if all(
                state in {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED}
                for state in states
            ):
                break
            logs = "\n".join((h.folder / "worker.log").read_text()[-2000:] for h in used)
            assert time.monotonic() < deadline, f"runs not done in 240 s: {states}\n{logs}"
            time.sleep(0.5)
    print(f"\n{runs} runs on {n_hosts} hosts done in {time.monotonic() - started:.1f} s")
    assert states == [StateType.COMPLETED] * runs
    by_host = [ran_on(host.folder) & ids for host in used]
    assert set().union(*by_host) == ids  # every run ran on one of the hosts...
    assert sum(len(runs_here) for runs_here in by_host) == runs  # ...exactly once
    assert all(by_host), f"a host's worker ran nothing: {[len(r) for r in by_host]}"
    for host in used:
        host.kill_everything()  # the worker, before the next test's pool


@pytest.mark.slow
def test_runs_are_picked_up_by_workers_on_two_hosts(
    hosts: Hosts, prefect_on_pg: PrefectOnPostgres
) -> None:
    spread_over_hosts(hosts, prefect_on_pg, n_hosts=2, runs=2)


@pytest.mark.slow
def test_runs_are_spread_over_workers_on_three_hosts(
    hosts: Hosts, prefect_on_pg: PrefectOnPostgres
) -> None:
    spread_over_hosts(hosts, prefect_on_pg, n_hosts=3, runs=12)
