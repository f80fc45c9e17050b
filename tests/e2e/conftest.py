"""One emulator for all end-to-end tests, the session's real Prefect server
(`real_prefect_server`, ~20 s to start here), and the environment every child process gets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prefect.client.orchestration import SyncPrefectClient

from followflow.emulator import Emulator, EmulatorServer
from followflow.prefect_server import quiet_prefect_environment


@dataclass
class Stack:
    """A Prefect server and an emulator over loopback, and the env that points at both."""

    api_url: str
    home: Path
    emulator: Emulator
    env: dict[str, str]

    def client(self) -> SyncPrefectClient:
        # An explicit API URL: the session's `prefect_harness` may own the global settings.
        return SyncPrefectClient(self.api_url)

    def account_id(self, username: str) -> int:
        return int(self.emulator.account(username).id)

    def follows_by(self, username: str) -> list[int]:
        source = self.account_id(username)
        return [
            r.target_id
            for r in self.emulator.action_log
            if r.action == "follow" and r.source_id == source
        ]


def child_environment(
    api_url: str, home: Path, emulator: Emulator, base_url: str, data: Path
) -> dict[str, str]:
    """This environment without any PREFECT_/FOLLOWFLOW_ setting, then ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FOLLOWFLOW_"))}
    writer = emulator.account("ff_demo")
    settings = {
        "X_BASE_URL": base_url,
        "BEARER_TOKEN": emulator.app.bearer_token,
        "CONSUMER_KEY": emulator.app.consumer_key,
        "CONSUMER_SECRET": emulator.app.consumer_secret,
        "ACCESS_TOKEN": writer.access_token,
        "ACCESS_TOKEN_SECRET": writer.access_token_secret,
        "DB_PATH": str(data / "followflow.duckdb"),
        "TOKEN_STORE_PATH": str(data / "tokens.json"),
        "ACCOUNTS": '["ff_demo"]',
        "UNFOLLOW_CLEANUP_ENABLED": "true",
        "ACTION_MIN_SPACING_S": "0",
        "BACKOFF_BASE_S": "0.01",
    }
    env |= {f"FOLLOWFLOW_{k}": v for k, v in settings.items()}
    env |= quiet_prefect_environment(home)
    env |= {
        "PREFECT_API_URL": api_url,
        # Runners and workers look for new runs every 10 s by default; tests cannot wait.
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "COLUMNS": "200",  # one message, one line: no wrapping by the CLI's console
    }
    return env


@pytest.fixture(scope="package")
def stack(
    real_prefect_server: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    api_url, home = real_prefect_server
    data = tmp_path_factory.mktemp("followflow-data")
    emulator = Emulator.create(seed=1, size="demo", limits=False)
    with EmulatorServer(emulator) as server:
        env = child_environment(api_url, home, emulator, server.base_url, data)
        yield Stack(api_url, home, emulator, env)
