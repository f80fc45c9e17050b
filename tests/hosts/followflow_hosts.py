"""followflow itself on the hosts: its deployments from prefect.yaml, workers that run them.

What a user does on several machines (README "More machines"), done for the test hosts:
the deployments are registered by `prefect deploy --prefect-file deployments/prefect.yaml
--all` run from the project root against the PostgreSQL-backed server, and each host's
process worker gets the FOLLOWFLOW_* settings in its environment: the emulator on the
services address as X, the app's credentials, the PostgreSQL store, and the accounts'
OAuth 2.0 tokens in one Prefect Secret block (no file copied to any host, no DuckDB).
bench/ imports these functions too.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType

from followflow.emulator import Emulator, EmulatorServer
from followflow.emulator.world import World
from followflow.prefect_server import quiet_prefect_environment
from tests.hosts.netns import Host
from tests.hosts.workers import PREFECT, PROJECT_ROOT, create_process_pool, start_worker

POOL = "followflow"  # the work pool deployments/prefect.yaml names
PREFECT_YAML = PROJECT_ROOT / "deployments" / "prefect.yaml"
DEPLOYMENTS = ("snapshot-followers", "follow-back", "unfollow-cleanup")
TOKEN_BLOCK = "x-tokens"
HEARTBEAT_S = 30  # PREFECT_FLOWS_HEARTBEAT_FREQUENCY: Prefect's least
LOST_AFTER_S = 75  # no heartbeat for this long: the run's host is gone
FINAL = {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}


@contextmanager
def serve_emulator(address: str, accounts: int, **options: Any) -> Iterator[EmulatorServer]:
    """An in-process emulator with `accounts` fleet accounts, served on `address`.

    `options` go to `Emulator` (preset, window_seconds, day_seconds, ...). In-process,
    so a test reads the ground truth (`truth_followers`, `action_log`) directly.
    """
    emulator = Emulator(World(1, "demo", fleet=accounts), **options)
    with EmulatorServer(emulator, host=address) as server:
        yield server


def manifest_user(manifest: Mapping[str, Any], username: str) -> dict[str, Any]:
    """One owned account of the manifest, by username."""
    for user in manifest["users"]:
        if user["username"] == username:
            return dict(user)
    raise KeyError(f"no owned account {username!r} in the emulator's manifest")


def oauth2_document(users: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The token store's document holding these manifest users' OAuth 2.0 tokens."""
    accounts = {
        str(user["id"]): {
            "access_token": user["oauth2_access_token"],
            "refresh_token": user["oauth2_refresh_token"],
            "expires_at": time.time() + 7200,  # the emulator's tokens last two hours
            "scope": "tweet.read users.read follows.read follows.write offline.access",
            "user_id": user["id"],
            "username": user["username"],
        }
        for user in users
    }
    return {"default": str(users[0]["id"]), "accounts": accounts}


def _prefect_cli(api_url: str, home: Path) -> dict[str, str]:
    """The environment of a `prefect` command run against `api_url` from the root side."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "PREFECT_API_URL": api_url,
        **quiet_prefect_environment(home),
    }


def _prefect(args: Sequence[str], api_url: str, home: Path, timeout: float = 120) -> str:
    """Run `prefect ARGS` from the project root as a user would; its output. Fails loudly."""
    done = subprocess.run(
        [PREFECT, *args],
        env=_prefect_cli(api_url, home),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"`prefect {' '.join(args)}` failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def store_tokens(api_url: str, home: Path, document: Mapping[str, Any], block: str) -> None:
    """Save the token document as the Secret block `block` (what `auth login` would write)."""
    script = (
        "import sys; from prefect.blocks.system import Secret; "
        "Secret(value=sys.stdin.read()).save(sys.argv[1], overwrite=True)"
    )
    done = subprocess.run(
        [str(Path(PREFECT).with_name("python")), "-c", script, block],
        input=json.dumps(document),
        env=_prefect_cli(api_url, home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"saving the Secret block {block!r} failed: {done.stderr[-2000:]}")


def register_deployments(
    client: SyncPrefectClient,
    api_url: str,
    home: Path,
    accounts: Sequence[str],
    campaign_account: str,
) -> dict[str, UUID]:
    """The pool, the two variables and `prefect deploy ... --all`; deployment ids by name.

    The schedules are then turned off: a test starts every run itself, and a scheduled
    snapshot arriving mid-test would take a worker's one slot.
    """
    if not any(pool.name == POOL for pool in client.read_work_pools()):
        create_process_pool(client, POOL)
    _prefect(
        ["variable", "set", "followflow_accounts", json.dumps(list(accounts)), "--overwrite"],
        api_url,
        home,
    )
    _prefect(
        ["variable", "set", "followflow_campaign_account", campaign_account, "--overwrite"],
        api_url,
        home,
    )
    _prefect(["deploy", "--prefect-file", str(PREFECT_YAML), "--all"], api_url, home)
    # Each deployment is named after its flow.
    ids = {name: client.read_deployment_by_name(f"{name}/{name}").id for name in DEPLOYMENTS}
    for deployment_id in ids.values():
        for schedule in client.read_deployment_schedules(deployment_id):
            client.update_deployment_schedule(deployment_id, schedule.id, active=False)
    _delete_scheduled_runs(client, list(ids.values()))
    return ids


def _delete_scheduled_runs(client: SyncPrefectClient, deployment_ids: list[UUID]) -> None:
    """Runs the scheduler made before the schedules were turned off."""
    scheduled = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=deployment_ids)),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
        ),
    )
    for run in scheduled:
        client.delete_flow_run(run.id)


def worker_settings(
    manifest: Mapping[str, Any],
    database_url: str,
    *,
    block: str = TOKEN_BLOCK,
    **extra: str,
) -> dict[str, str]:
    """The FOLLOWFLOW_* environment of every worker host: X, the app, the store, the tokens.

    No user's OAuth 1.0a token: each run acts with its account's OAuth 2.0 tokens from the
    Secret block, so one worker serves every account. `extra` adds or overrides settings
    (FOLLOWFLOW_BUDGET_WINDOW_S=...).
    """
    app = manifest["app"]
    return {
        "FOLLOWFLOW_X_BASE_URL": manifest["base_url"],
        "FOLLOWFLOW_BEARER_TOKEN": app["bearer_token"],
        "FOLLOWFLOW_CLIENT_ID": app["client_id"],
        "FOLLOWFLOW_CLIENT_SECRET": app["client_secret"],
        "FOLLOWFLOW_TOKEN_STORE_BLOCK": block,
        "FOLLOWFLOW_READ_WITH_USER_TOKENS": "true",
        "FOLLOWFLOW_DATABASE_URL": database_url,
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S),
        **extra,
    }


CRASH_LOST_RUNS = {  # README "More machines" gives this JSON for `prefect automation create`
    "name": "crash-runs-without-heartbeat",
    "trigger": {
        "type": "event",
        "posture": "Proactive",
        "match": {"prefect.resource.id": "prefect.flow-run.*"},
        "for_each": ["prefect.resource.id"],
        "after": ["prefect.flow-run.heartbeat"],
        "expect": [
            "prefect.flow-run.heartbeat",
            "prefect.flow-run.Completed",
            "prefect.flow-run.Failed",
            "prefect.flow-run.Cancelled",
            "prefect.flow-run.Crashed",
        ],
        "threshold": 1,
        "within": LOST_AFTER_S,
    },
    "actions": [
        {
            "type": "change-flow-run-state",
            "state": "CRASHED",
            "message": f"no heartbeat for {LOST_AFTER_S} s: the run's host is lost",
        }
    ],
}


def crash_runs_without_heartbeat(api_url: str, home: Path) -> None:
    """The automation that marks a run Crashed when its heartbeats stop (its host is lost).

    Prefect 3.9's server does not notice a dead run by itself: the foreman marks a
    silent *worker* offline, but its runs stay Running. A run sends a heartbeat event
    every PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds; this proactive trigger fires when
    one has been followed by neither another heartbeat nor a final state in time.
    Created with the CLI, as README "More machines" tells a user to.
    """
    _prefect(["automation", "create", "--from-json", json.dumps(CRASH_LOST_RUNS)], api_url, home)


def start_followflow_worker(host: Host, api_url: str, settings: Mapping[str, str]) -> None:
    """A process worker of the followflow pool in `host`, its runs seeing `settings`."""
    start_worker(host, api_url, POOL, extra_env=settings)


def wait_for_runs(
    client: SyncPrefectClient, run_ids: Sequence[UUID], timeout_s: float, hosts: Sequence[Host]
) -> list[FlowRun]:
    """The runs once every one is final; fails with the workers' logs past `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        runs = [client.read_flow_run(run_id) for run_id in run_ids]
        if all(run.state_type in FINAL for run in runs):
            return runs
        if time.monotonic() > deadline:
            logs = "\n".join((h.folder / "worker.log").read_text()[-3000:] for h in hosts)
            states = [run.state_type for run in runs]
            raise AssertionError(f"runs not final in {timeout_s:.0f} s: {states}\n{logs}")
        time.sleep(0.5)


def ran_on(run_id: UUID, hosts: Sequence[Host]) -> list[Host]:
    """The hosts whose worker started run `run_id`, from the workers' logs.

    Two workers may both try to submit one run; the server lets one through and the
    other logs that it aborted its submission.
    """
    took = f"submitting flow run '{run_id}'"
    lost = f"Aborted submission of flow run '{run_id}'"
    found = []
    for host in hosts:
        log = (host.folder / "worker.log").read_text(errors="replace")
        if log.count(took) > log.count(lost):
            found.append(host)
    return found


def duckdb_files(folder: Path) -> list[Path]:
    """Every DuckDB file under `folder` (a worker host must have none)."""
    return [p for p in folder.rglob("*") if p.suffix in {".duckdb", ".db"} and p.is_file()]


@dataclass
class Followflow:
    """followflow deployed on the hosts' server: what a test needs to start and check runs."""

    api_url: str
    emulator: EmulatorServer
    manifest: dict[str, Any]
    store_url: str  # the PostgreSQL store, as the hosts reach it
    deployments: dict[str, UUID]
    settings: dict[str, str]  # every worker's FOLLOWFLOW_* environment

    def client(self) -> SyncPrefectClient:
        return SyncPrefectClient(self.api_url)

    def user_id(self, username: str) -> int:
        """The id of the emulator's owned account `username`."""
        return int(manifest_user(self.manifest, username)["id"])


def set_up_followflow(
    client: SyncPrefectClient,
    api_url: str,
    home: Path,
    emulator: EmulatorServer,
    store_url: str,
    campaign_account: str,
    **extra: str,
) -> Followflow:
    """Tokens into the Secret block, deployments from prefect.yaml, the workers' settings.

    Every owned account's OAuth 2.0 tokens go into the block; `followflow_accounts` is set
    to all of them. `extra` goes to `worker_settings`.
    """
    manifest = emulator.emulator.manifest(emulator.base_url)
    users = manifest["users"]
    store_tokens(api_url, home, oauth2_document(users), TOKEN_BLOCK)
    accounts = [user["username"] for user in users]
    deployments = register_deployments(client, api_url, home, accounts, campaign_account)
    crash_runs_without_heartbeat(api_url, home)
    settings = worker_settings(manifest, store_url, **extra)
    return Followflow(api_url, emulator, manifest, store_url, deployments, settings)
