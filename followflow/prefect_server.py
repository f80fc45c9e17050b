"""A real local Prefect server for ad-hoc runs, started only when none is configured.

Prefect's ephemeral mode costs ~15 s on the first flow and prints tracebacks at exit
("Error flushing ... events"); a real `prefect server start` avoids both (DESIGN.md §4).
So the command line runs flows against `PREFECT_API_URL` when it is set, and otherwise
starts `prefect server start` on a free loopback port for the length of the command, with
its database under `~/.cache/followflow/prefect` so the run history survives. This module
only manages the subprocess; it imports nothing from Prefect.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

DEFAULT_HOME = Path.home() / ".cache" / "followflow" / "prefect"
STARTUP_TIMEOUT_S = 90.0


class PrefectServerError(Exception):
    """The local Prefect server could not be started."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prefect_executable() -> str:
    beside_python = Path(sys.executable).with_name("prefect")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("prefect")
    if found is None:
        raise PrefectServerError("the `prefect` command is not installed; run `uv sync`")
    return found


def quiet_prefect_environment(home: Path) -> dict[str, str]:
    """Settings that keep a local server and its clients quiet and offline."""
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        "PREFECT_CLI_PROMPT": "false",
    }


def wait_healthy(api_url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Poll `<api_url>/health` until it answers, the process dies, or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PrefectServerError(
                f"`prefect server start` exited with code {process.returncode}; "
                "run it by hand to see why"
            )
        try:
            if httpx.get(f"{api_url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise PrefectServerError(f"the Prefect server did not answer within {timeout_s:.0f} s")


@contextmanager
def local_prefect_server(
    home: Path = DEFAULT_HOME,
    port: int | None = None,
    *,
    host: str = "127.0.0.1",
    database_url: str | None = None,
) -> Iterator[str]:
    """Run `prefect server start` on `host` for the block; yields its API URL.

    `database_url` (`postgresql+asyncpg://...`) puts the server's state in PostgreSQL
    instead of SQLite under `home`: what workers on several hosts share.
    """
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    api_url = f"http://{host}:{port}/api"
    environment = {**os.environ, **quiet_prefect_environment(home)}
    environment.pop("PREFECT_API_URL", None)
    if database_url is not None:
        environment["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    log = (home / "server.log").open("ab")
    process = subprocess.Popen(
        [_prefect_executable(), "server", "start", "--host", host, "--port", str(port)],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_healthy(api_url, process, STARTUP_TIMEOUT_S)
        yield api_url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


@contextmanager
def prefect_api(home: Path = DEFAULT_HOME) -> Iterator[str]:
    """Point this process at a Prefect API: the configured one, or a local server we start.

    Must be entered before Prefect is imported, since Prefect reads its settings then.
    """
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        yield configured
        return
    with local_prefect_server(home) as api_url:
        saved = {key: os.environ.get(key) for key in ("PREFECT_API_URL", "PREFECT_HOME")}
        os.environ.update(quiet_prefect_environment(home))
        os.environ["PREFECT_API_URL"] = api_url
        try:
            yield api_url
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
