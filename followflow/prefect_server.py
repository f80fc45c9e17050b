"""A real local Prefect server for ad-hoc runs, started only when none is configured.

Prefect's ephemeral mode costs ~15 s on the first flow and prints tracebacks at exit
("Error flushing ... events"); a real `prefect server start` avoids both (DESIGN.md §4).
So the command line runs flows against `PREFECT_API_URL` when it is set, and otherwise
starts `prefect server start` on a free loopback port for the length of the command, with
its database under `~/.cache/followflow/prefect` so the run history survives. This module
only manages the subprocess; it imports nothing from Prefect.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from followflow import server_watch
from followflow.server_watch import running

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


@dataclass(frozen=True)
class ServerRecord:
    """A local server's record under its PREFECT_HOME, written by its watcher: the process
    marks (`server_watch.process_mark`) of the command, the watcher and the server."""

    path: Path
    owner: str
    watcher: str
    server: str

    @property
    def leftover(self) -> bool:
        """The command is gone but the watcher or the server is still running."""
        return not running(self.owner) and (running(self.watcher) or running(self.server))


def _records(home: Path) -> Path:
    return home / "local-servers"


def local_servers(home: Path) -> list[ServerRecord]:
    """The records of local servers started under `home` (stale ones are removed)."""
    found = []
    for path in sorted(_records(home).glob("*.json")):
        try:
            marks = json.loads(path.read_text())
            record = ServerRecord(path, marks["owner"], marks["watcher"], marks["server"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being removed right now
        if not all(isinstance(m, str) for m in (record.owner, record.watcher, record.server)):
            continue  # a process ended while its watcher started: nothing to act on
        if running(record.watcher) or running(record.server):
            found.append(record)
        else:
            path.unlink(missing_ok=True)
    return found


def end_leftover_servers(home: Path, grace_s: float = server_watch.GRACE_S) -> list[ServerRecord]:
    """End the local servers under `home` whose command is gone, with their process groups
    (SIGTERM, then SIGKILL after `grace_s`); returns their records.

    A watcher ends its server when its command dies, so a leftover means that failed (a
    hung server, a stopped watcher). It holds ~215 MB and a port, and writes to the SQLite
    database the server this command is about to start will use, so it goes first.
    """
    leftovers = [record for record in local_servers(home) if record.leftover]
    for signum in (signal.SIGTERM, signal.SIGKILL):
        marks = [m for r in leftovers for m in (r.watcher, r.server) if running(m)]
        for mark in marks:
            pid = int(mark.partition(":")[0])
            with suppress(ProcessLookupError):
                # The server leads its own group (what it started is in it); the watcher may
                # be stopped, so it is woken to act on its SIGTERM.
                if mark in (r.server for r in leftovers) and os.getpgid(pid) == pid:
                    os.killpg(pid, signum)
                else:
                    os.kill(pid, signum)
                    os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(running(m) for m in marks):
            time.sleep(0.05)
    for record in leftovers:
        record.path.unlink(missing_ok=True)
    return leftovers


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

    The server ends with the block, and also when this process dies without leaving it
    (SIGKILL, OOM): `followflow.server_watch` stands between the two and ends the server's
    process group when the pipe this process holds closes. Leftovers under `home` from a
    command that is gone are ended first.
    """
    home.mkdir(parents=True, exist_ok=True)
    end_leftover_servers(home)
    port = port or free_port()
    api_url = f"http://{host}:{port}/api"
    environment = {**os.environ, **quiet_prefect_environment(home)}
    environment.pop("PREFECT_API_URL", None)
    # The UI asks the API at this URL; left alone it would be port 4200, not this one.
    environment["PREFECT_SERVER_UI_API_URL"] = api_url
    if database_url is not None:
        environment["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    _records(home).mkdir(exist_ok=True)
    record = _records(home) / f"server-{port}.json"
    server = [_prefect_executable(), "server", "start", "--host", host, "--port", str(port)]
    watch_end, owner_end = os.pipe()  # not inherited by anything else this process starts
    with (home / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "followflow.server_watch"]
            + [str(server_watch.GRACE_S), str(record), *server],
            env=environment,
            stdin=watch_end,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    os.close(watch_end)
    try:
        wait_healthy(api_url, process, STARTUP_TIMEOUT_S)
        yield api_url
    finally:
        os.close(owner_end)  # the watcher stops the server: SIGTERM, SIGKILL after its grace
        try:
            process.wait(timeout=server_watch.GRACE_S + 10)
        except subprocess.TimeoutExpired:
            process.kill()  # the kernel SIGTERMs the server; a hung one the next command ends
            process.wait()


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
