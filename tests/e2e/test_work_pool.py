"""`deployments/prefect.yaml` on a real Prefect server: the README's work-pool commands,
run from the project root as written, create the three deployments (entrypoints,
schedules, default parameters), and a process worker started from the project root runs
one of them to completion.

Deploying replaces served deployments of the same names (test_serve.py), so the module
deletes its deployments when it ends: the two files pass in either order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.schemas.objects import StateType

from tests.e2e.conftest import Stack
from tests.e2e.harness import PROJECT_ROOT, artifacts, child, run, run_logs, trigger, wait_for_run

SETUP = [
    "uv run prefect work-pool create followflow --type process",
    'uv run prefect variable set followflow_accounts \'["ff_demo", "ff_alice"]\'',
    "uv run prefect variable set followflow_campaign_account ff_demo",
    "uv run prefect deploy --prefect-file deployments/prefect.yaml --all",
]
WORKER = "uv run prefect worker start --pool followflow"
SNAPSHOT = (
    "uv run prefect deployment run snapshot-followers/snapshot-followers"
    ' --param params=\'{"accounts": ["ff_bob"]}\''
)


NAMES = ("snapshot-followers", "follow-back", "unfollow-cleanup")


@pytest.fixture(scope="module")
def deployed(stack: Stack) -> Iterator[Stack]:
    for line in SETUP:
        done = run(line, stack.env, timeout=180)
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
    yield stack
    with stack.client() as client:
        for name in NAMES:
            client.delete_deployment(client.read_deployment_by_name(f"{name}/{name}").id)


def test_prefect_yaml_creates_the_three_deployments(deployed: Stack) -> None:
    with deployed.client() as client:
        snapshot, follow, cleanup = (
            client.read_deployment_by_name(f"{name}/{name}") for name in NAMES
        )
    assert [d.entrypoint for d in (snapshot, follow, cleanup)] == [
        "flows/snapshot_followers.py:snapshot_followers",
        "flows/follow_back.py:follow_back",
        "flows/unfollow_cleanup.py:unfollow_cleanup",
    ]
    assert {d.work_pool_name for d in (snapshot, follow, cleanup)} == {"followflow"}
    # The same schedules and defaults as `followflow serve`.
    assert [s.schedule.interval.total_seconds() for s in snapshot.schedules] == [6 * 3600]  # type: ignore[union-attr]
    assert [(s.schedule.cron, s.schedule.timezone) for s in follow.schedules] == [  # type: ignore[union-attr]
        ("0 9 * * *", "UTC")
    ]
    assert cleanup.schedules == []
    assert snapshot.parameters == {
        "params": {"accounts": ["ff_demo", "ff_alice"], "lists": "both", "mode": "full"}
    }
    assert follow.parameters["params"] == {
        "account": "ff_demo",
        "live": False,
        "approved": False,
        "max_follows": 50,
    }
    assert cleanup.parameters["params"] == {"account": "ff_demo", "live": False}
    # Runs are sent to the project root, recorded when deploying from it.
    assert snapshot.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT_ROOT)}}
    ]


def test_process_worker_runs_a_deployment(deployed: Stack, tmp_path: Path) -> None:
    run_id = trigger(SNAPSHOT, deployed.env)
    with child(WORKER, deployed.env, PROJECT_ROOT, tmp_path / "worker.log") as worker:
        with deployed.client() as client:

            def logs() -> str:
                return f"{run_logs(client, run_id)}\n--- worker\n{worker.output()}"

            flow_run = wait_for_run(client, run_id, timeout=120, logs=logs)
            assert flow_run.state_type == StateType.COMPLETED, logs()
            summary = artifacts(client, run_id)["snapshot-summary"].data
    assert "| @ff_bob | followers | complete |" in summary  # type: ignore[operator]
