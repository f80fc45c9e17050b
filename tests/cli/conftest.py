"""The real `followflow` command as a subprocess: an emulator over loopback, the session's
real Prefect server, and a clean environment pointing at both."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from followflow.emulator import Emulator, EmulatorServer
from followflow.prefect_server import quiet_prefect_environment

FOLLOWFLOW = str(Path(sys.executable).with_name("followflow"))


def clean_environment(home: Path) -> dict[str, str]:
    """This environment without PREFECT_/FOLLOWFLOW_ settings, with HOME in a temp dir
    (so nothing under the real ~/.cache or ~/.config is read or written)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FOLLOWFLOW_"))}
    return env | {"HOME": str(home)}


def followflow(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `followflow ARGS...` to the end (text output)."""
    return subprocess.run(
        [FOLLOWFLOW, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@dataclass
class Wired:
    """An emulator and the environment that points `followflow` at it and a Prefect server."""

    emulator: Emulator
    env: dict[str, str]
    cwd: Path

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return followflow(*args, env=self.env | env, cwd=self.cwd)

    def follows_by(self, username: str) -> list[int]:
        source = int(self.emulator.account(username).id)
        return [
            r.target_id
            for r in self.emulator.action_log
            if r.action == "follow" and r.source_id == source
        ]


@pytest.fixture(scope="module")
def wired(
    real_prefect_server: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Wired]:
    api_url, prefect_home = real_prefect_server
    cwd = tmp_path_factory.mktemp("cli")
    emulator = Emulator.create(seed=1, size="demo", limits=False)
    writer = emulator.account("ff_demo")
    with EmulatorServer(emulator) as server:
        settings = {
            "X_BASE_URL": server.base_url,
            "BEARER_TOKEN": emulator.app.bearer_token,
            "CONSUMER_KEY": emulator.app.consumer_key,
            "CONSUMER_SECRET": emulator.app.consumer_secret,
            "ACCESS_TOKEN": writer.access_token,
            "ACCESS_TOKEN_SECRET": writer.access_token_secret,
            "ACTION_MIN_SPACING_S": "0",
            # Follows are spread over the budget window: 60 s / 400 follows each, not 216 s.
            "BUDGET_WINDOW_S": "60",
        }
        env = clean_environment(cwd)
        env |= {f"FOLLOWFLOW_{k}": v for k, v in settings.items()}
        env |= quiet_prefect_environment(prefect_home) | {"PREFECT_API_URL": api_url}
        yield Wired(emulator, env, cwd)
