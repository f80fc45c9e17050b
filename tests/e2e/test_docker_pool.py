"""deployments/docker/ end to end: the image is built, a docker work pool's worker starts a
container for one `snapshot-followers` run, and the run stores the emulator's truth in
the PostgreSQL store.

Needs a Docker engine: where `docker info` cannot reach one, the test skips with Docker's
own words (here: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is
the docker daemon running?"). It also needs `prefect-docker` on the worker's side.
The container reaches the services on the host's address on Docker's bridge network.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from prefect.client.orchestration import SyncPrefectClient

from followflow.emulator import Emulator, EmulatorServer
from followflow.prefect_server import local_prefect_server, quiet_prefect_environment
from tests.e2e.harness import PROJECT_ROOT
from tests.postgres import PostgresCluster, postgres_bin_dir

IMAGE = "followflow:latest"
PREFECT = str(Path(sys.executable).with_name("prefect"))
pytestmark = pytest.mark.timeout(900)


def docker_unavailable() -> str | None:
    """Why no Docker engine can be used here (the skip reason), or None."""
    if shutil.which("docker") is None:
        return "the docker client is not installed"
    done = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines()]
    said = next((line for line in lines if "Cannot connect" in line), lines[-1] if lines else "")
    return f"no Docker engine answers `docker info`: {said}"


def bridge_gateway() -> str:
    """The host's address on Docker's default bridge: what containers reach the host on."""
    done = subprocess.run(
        ["docker", "network", "inspect", "bridge"], capture_output=True, text=True, check=True
    )
    return str(json.loads(done.stdout)[0]["IPAM"]["Config"][0]["Gateway"])


def save_tokens(api_url: str, emulator: Emulator, username: str) -> None:
    """The account's OAuth 2.0 tokens in the `x-tokens` Secret block the image reads."""
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from followflow.xapi.tokens import OAuth2Tokens

    account = emulator.account(username)
    tokens = OAuth2Tokens(
        access_token=account.oauth2_access_token,
        refresh_token=account.oauth2_refresh_token,
        expires_at=time.time() + 7_000,
        scope="tweet.read users.read follows.read offline.access",
        user_id=account.id,
        username=username,
    )
    document = {"default": str(account.id), "accounts": {str(account.id): tokens.to_storage()}}
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        Secret(value=json.dumps(document)).save("x-tokens", overwrite=True)


def test_a_docker_pool_runs_a_snapshot_in_a_container(tmp_path: Path) -> None:
    reason = docker_unavailable()
    if reason is not None:
        pytest.skip(reason)
    pytest.importorskip("prefect_docker", reason="the docker worker needs `uv add prefect-docker`")
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries are missing: apt-get install postgresql")
    built = subprocess.run(
        ["docker", "build", "-f", "deployments/docker/Dockerfile", "-t", IMAGE, "."],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    address = bridge_gateway()
    cluster = PostgresCluster(bin_dir, listen=("127.0.0.1", address)).start()
    emulator = Emulator.create(seed=1, size="demo")
    try:
        store_url = cluster.create_database("docker_store").replace("127.0.0.1", address)
        with (
            EmulatorServer(emulator, host=address) as x_api,
            local_prefect_server(tmp_path / "prefect", host=address) as api_url,
        ):
            env = {**quiet_prefect_environment(tmp_path / "prefect"), "PATH": "/usr/bin:/bin"}
            env |= {"PREFECT_API_URL": api_url, "PREFECT_WORKER_QUERY_SECONDS": "1"}
            env |= {
                "FOLLOWFLOW_X_BASE_URL": x_api.base_url,
                "FOLLOWFLOW_DATABASE_URL": store_url,
                "FOLLOWFLOW_CLIENT_ID": emulator.app.client_id,
            }
            for argv in (
                [PREFECT, "work-pool", "create", "followflow-docker", "--type", "docker"],
                [PREFECT, "variable", "set", "followflow_accounts", '["ff_demo"]'],
                [PREFECT, "variable", "set", "followflow_campaign_account", "ff_demo"],
                [PREFECT, "deploy", "--prefect-file", "deployments/docker/prefect.yaml", "--all"],
            ):
                done = subprocess.run(argv, cwd=PROJECT_ROOT, env=env, capture_output=True,
                                      text=True, timeout=180)  # fmt: skip
                assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
            save_tokens(api_url, emulator, "ff_demo")
            log = (tmp_path / "worker.log").open("wb")
            worker = subprocess.Popen(
                [PREFECT, "worker", "start", "--pool", "followflow-docker"],
                cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                with SyncPrefectClient(api_url) as client:
                    deployment = client.read_deployment_by_name(
                        "snapshot-followers/snapshot-followers"
                    )
                    run_id = client.create_flow_run_from_deployment(
                        deployment.id,
                        parameters={"params": {"accounts": ["ff_demo"], "lists": "followers"}},
                    ).id
                    deadline = time.monotonic() + 300
                    while not (state := client.read_flow_run(run_id).state) or not state.is_final():
                        assert time.monotonic() < deadline, "the container's run did not end"
                        time.sleep(1)
                    assert state.is_completed(), (tmp_path / "worker.log").read_text()[-3000:]
            finally:
                worker.terminate()
                worker.wait(timeout=30)
                log.close()
        account = emulator.account("ff_demo").id
        with psycopg.connect(cluster.url("docker_store")) as connection:
            stored = {
                row[0]
                for row in connection.execute(
                    "SELECT follower_id FROM current_followers WHERE account_id = %s", (account,)
                )
            }
        assert stored == set(emulator.truth_followers(account))
    finally:
        cluster.stop()
