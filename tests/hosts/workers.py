"""A Prefect server on PostgreSQL on the services address, and process workers in hosts.

The server keeps its state in a database of the session's throwaway PostgreSQL cluster
(`PREFECT_API_DATABASE_CONNECTION_URL=postgresql+asyncpg://...`) and listens on the
address every host's link reaches. A worker is `prefect worker start` run inside a host,
its folder as PREFECT_HOME, with only the environment it is given.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import WorkPoolCreate

from followflow.prefect_server import local_prefect_server, quiet_prefect_environment
from tests.hosts.netns import Host

PREFECT = str(Path(sys.executable).with_name("prefect"))
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def asyncpg_url(postgres_url: str) -> str:
    """The SQLAlchemy URL Prefect's server wants for a `postgresql://` URL."""
    return postgres_url.replace("postgresql://", "postgresql+asyncpg://", 1)


@dataclass
class PrefectOnPostgres:
    """A running server: its API URL (on the services address) and how long it took to start."""

    api_url: str
    startup_s: float

    def client(self) -> SyncPrefectClient:
        # An explicit API URL: the session's `prefect_harness` may own the global settings.
        return SyncPrefectClient(self.api_url)


@contextmanager
def prefect_on_postgres(database_url: str, host: str, home: Path) -> Iterator[PrefectOnPostgres]:
    """`prefect server start` on `host`, its state in `database_url`, for the block."""
    started = time.monotonic()
    with local_prefect_server(home, host=host, database_url=asyncpg_url(database_url)) as api:
        yield PrefectOnPostgres(api, time.monotonic() - started)


def worker_environment(host: Host, api_url: str) -> dict[str, str]:
    """What a worker host has: a PATH, its folder, the API; no FOLLOWFLOW_* and no DuckDB."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(host.folder),
        "HOST_FOLDER": str(host.folder),
        "PREFECT_API_URL": api_url,
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        **quiet_prefect_environment(host.folder / "prefect"),
    }


def start_worker(
    host: Host, api_url: str, pool: str, extra_env: Mapping[str, str] | None = None
) -> None:
    """A process worker of `pool` inside `host`, one run at a time (killed with the host).

    `extra_env` (FOLLOWFLOW_* settings) reaches every run: a process worker's runs
    inherit its environment.
    """
    argv = [PREFECT, "worker", "start", "--pool", pool, "--type", "process"]
    argv += ["--name", f"host{host.index}", "--limit", "1"]
    env = worker_environment(host, api_url) | dict(extra_env or {})
    host.popen(argv, env, log=host.folder / "worker.log")


def create_process_pool(client: SyncPrefectClient, pool: str) -> None:
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    client.create_work_pool(WorkPoolCreate(name=pool, type="process", base_job_template=template))


def deploy_mark_host(client: SyncPrefectClient, pool: str) -> UUID:
    """The test flow's deployment on `pool`, run from the project folder (as prefect.yaml does)."""
    flow_id = client.create_flow_from_name("mark-host")
    return client.create_deployment(
        flow_id,
        "mark-host",
        work_pool_name=pool,
        entrypoint="tests/hosts/flows.py:mark_host",
        pull_steps=[
            {"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT_ROOT)}}
        ],
    )


def deploy_snapshot_followers(client: SyncPrefectClient, pool: str) -> UUID:
    """followflow's snapshot-followers deployment on `pool`, with prefect.yaml's entrypoint
    and pull step (the project folder), and no default parameters: each run names its own."""
    flow_id = client.create_flow_from_name("snapshot-followers")
    return client.create_deployment(
        flow_id,
        "snapshot-followers",
        work_pool_name=pool,
        entrypoint="flows/snapshot_followers.py:snapshot_followers",
        pull_steps=[
            {"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT_ROOT)}}
        ],
    )
