"""A container's "no lasting disk", shown with a namespace host: a worker on the
PostgreSQL store leaves nothing followflow keeps in its working folder, HOME or temporary
folder, all fresh when it starts.

The closest run to a docker or kubernetes pool that works without a container engine
(tests/e2e/test_docker_pool.py is the one with an engine): the worker's folders stand for
the container's disk, which is thrown away after each run. What followflow may write there
and when it goes: fetched pages under `$TMPDIR/followflow-pages/<store>/<snapshot>/`
until their snapshot ends (store/spool.py), lease notes under
`$PREFECT_HOME/followflow-leases/` while a slot is held (tasks/leases.py).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import psycopg
import pytest
from prefect.client.schemas.objects import StateType

from followflow.emulator import Emulator, EmulatorServer
from tests.hosts.netns import Hosts
from tests.hosts.workers import (
    PREFECT,
    PrefectOnPostgres,
    create_process_pool,
    deploy_snapshot_followers,
    worker_environment,
)

pytestmark = pytest.mark.timeout(240)
ACCOUNTS = ["ff_demo", "ff_alice"]
POOL = "no-disk"


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_worker_on_the_postgres_store_keeps_nothing_on_its_disk(
    hosts: Hosts, prefect_on_pg: PrefectOnPostgres, hosts_postgres: object, tmp_path: Path
) -> None:
    cluster = hosts_postgres
    disk = tmp_path / "disk"  # the container's whole disk: working folder, HOME, TMPDIR
    (disk / "tmp").mkdir(parents=True)
    host = dataclasses.replace(hosts[2], folder=disk, children=[])
    emulator = Emulator.create(seed=1, size="demo")
    with EmulatorServer(emulator, host=hosts.services_address) as x_api:
        cluster.create_database("no_disk")  # type: ignore[attr-defined]
        store_url = cluster.url("no_disk", host=hosts.services_address)  # type: ignore[attr-defined]
        with prefect_on_pg.client() as client:
            create_process_pool(client, POOL)
            deployment = deploy_snapshot_followers(client, POOL)
        env = worker_environment(host, prefect_on_pg.api_url)
        env |= {
            "TMPDIR": str(disk / "tmp"),
            "PREFECT_HOME": str(disk / ".prefect"),
            "FOLLOWFLOW_X_BASE_URL": x_api.base_url,
            "FOLLOWFLOW_BEARER_TOKEN": emulator.app.bearer_token,
            "FOLLOWFLOW_DATABASE_URL": store_url,
        }
        log = tmp_path / "worker.log"  # outside the disk: the platform's log, not the container's
        argv = [PREFECT, "worker", "start", "--pool", POOL, "--type", "process", "--limit", "1"]
        host.popen(argv, env, log)
        try:
            with prefect_on_pg.client() as client:
                runs = [
                    client.create_flow_run_from_deployment(
                        deployment, parameters={"params": {"accounts": ACCOUNTS, "lists": "both"}}
                    ).id
                    for _ in range(2)  # a first snapshot, then one with history to compare
                ]
                deadline = time.monotonic() + 180
                while True:
                    states = [client.read_flow_run(run).state for run in runs]
                    if all(state is not None and state.is_final() for state in states):
                        break
                    assert time.monotonic() < deadline, log.read_text()[-3000:]
                    time.sleep(0.5)
            assert [s.type for s in states if s] == [StateType.COMPLETED] * 2, log.read_text()[
                -3000:
            ]
        finally:
            host.kill_everything()
        with psycopg.connect(cluster.url("no_disk")) as connection:  # type: ignore[attr-defined]
            for account in ACCOUNTS:
                account_id = emulator.account(account).id
                stored = {
                    row[0]
                    for row in connection.execute(
                        "SELECT follower_id FROM current_followers WHERE account_id = %s",
                        (account_id,),
                    )
                }
                assert stored == set(emulator.truth_followers(account_id))
    left = files_under(disk)
    followflow_kept = [
        path for path in left if "followflow" in path or path.endswith((".duckdb", ".arrow"))
    ]
    assert followflow_kept == [], left
    assert files_under(disk / "tmp" / "followflow-pages") == []  # the page spool is gone
    assert not (disk / ".config" / "followflow").exists()  # no token file
    # What is left is Prefect's own: its profile under PREFECT_HOME, and the run attempts'
    # workspace notes of the worker killed above (prefect-workspace-attempt-*/).
    prefects = (".prefect" + os.sep, "tmp" + os.sep + "prefect-")
    assert all(path.startswith(prefects) for path in left), left
