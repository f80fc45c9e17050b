"""What every reliability test needs: one real Prefect server, the real CLI in a child
process, an emulator over loopback, and read-only looks at the DuckDB file.

The Prefect server is the session's `real_prefect_server` (starting one costs ~13 CPU
seconds, most of it Prefect's database migrations); every child process and the in-process
flows of the fault matrix talk to it. Children get only the environment they are given
here (never this machine's FOLLOWFLOW_* or .env), so a test states every setting it
depends on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from followflow.emulator import Emulator, EmulatorServer

CLI = str(Path(sys.executable).with_name("followflow"))
HELPERS = Path(__file__).parent


@pytest.fixture(scope="package")
def prefect_api(real_prefect_server: tuple[str, Path]) -> str:
    """The API URL of the real Prefect server every reliability test talks to."""
    return real_prefect_server[0]


@pytest.fixture(scope="package")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PREFECT_HOME of every child: where the lease journal lives (tasks/leases.py)."""
    return tmp_path_factory.mktemp("prefect-home")


@pytest.fixture
def inprocess_prefect(prefect_api: str, prefect_home: Path) -> Iterator[str]:
    """Point flows called in this process at the package's Prefect server."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect_api, PREFECT_HOME: prefect_home}):
        yield prefect_api
        _drain_prefect_workers()


def _drain_prefect_workers() -> None:
    """Send queued logs and events now, while the server is up (as Prefect's harness does)."""
    import inspect

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:
        try:
            logs = APILogWorker.instance().drain()
            if inspect.isawaitable(logs):
                await logs
        except RuntimeError:
            pass  # never started
        events = EventsWorker.drain_all()
        if inspect.isawaitable(events):
            await events

    run_coro_as_sync(drain())


def _clean_environment() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "UV_CACHE_DIR")
    return {k: v for k, v in os.environ.items() if k in keep}


@dataclass
class Admin:
    """The emulator's admin API over HTTP (the same calls a separate emulator would take)."""

    base_url: str

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.base_url}/_emulator/{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = httpx.post(f"{self.base_url}/_emulator/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def truth(self, kind: str, user_id: int) -> set[int]:
        return set(self.get(f"truth/{kind}/{user_id}")["ids"])

    def actions(self) -> list[dict[str, Any]]:
        return list(self.get("actions")["actions"])

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        return list(self.get(f"requests?since={since}")["requests"])

    def faults(self, spec: str | None) -> None:
        self.post("faults", {"spec": spec})


@dataclass
class World:
    """An emulator on loopback plus the environment that points the CLI at it."""

    emulator: Emulator
    server: EmulatorServer
    tmp: Path
    api_url: str
    prefect_home: Path
    database_url: str | None = None  # a PostgreSQL store instead of the DuckDB file
    admin: Admin = field(init=False)
    db_path: Path = field(init=False)
    manifest: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.admin = Admin(self.server.base_url)
        self.db_path = self.tmp / "followflow.duckdb"
        self.manifest = self.emulator.manifest(self.server.base_url)

    def user(self, username: str) -> dict[str, Any]:
        return next(u for u in self.manifest["users"] if u["username"] == username)

    def account_id(self, username: str) -> int:
        return int(self.user(username)["id"])

    def env(self, writer: str = "ff_demo", **extra: str) -> dict[str, str]:
        """The child environment: app and `writer`'s OAuth 1.0a credentials, fast retries."""
        app, user = self.manifest["app"], self.user(writer)
        env = _clean_environment() | {
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(self.prefect_home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "FOLLOWFLOW_X_BASE_URL": self.server.base_url,
            "FOLLOWFLOW_BEARER_TOKEN": app["bearer_token"],
            "FOLLOWFLOW_CONSUMER_KEY": app["consumer_key"],
            "FOLLOWFLOW_CONSUMER_SECRET": app["consumer_secret"],
            "FOLLOWFLOW_ACCESS_TOKEN": user["access_token"],
            "FOLLOWFLOW_ACCESS_TOKEN_SECRET": user["access_token_secret"],
            "FOLLOWFLOW_DB_PATH": str(self.db_path),
            "FOLLOWFLOW_TOKEN_STORE_PATH": str(self.tmp / "tokens.json"),
            "FOLLOWFLOW_BACKOFF_BASE_S": "0.01",
            "FOLLOWFLOW_RATE_LIMIT_MARGIN_S": "0.05",
            "FOLLOWFLOW_ACTION_MIN_SPACING_S": "0",
        }
        if self.database_url is not None:
            env["FOLLOWFLOW_DATABASE_URL"] = self.database_url
        env.update(extra)
        return {k: v for k, v in env.items() if v != ""}  # "" removes a variable

    def start(self, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        """The CLI in a child process of its own session (so a kill takes all of it)."""
        return subprocess.Popen(
            [CLI, *args],
            env=env,
            cwd=self.tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def run(
        self, args: list[str], env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the CLI to the end; the test fails (not hangs) past `timeout`."""
        child = self.start(args, env if env is not None else self.env())
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(child)
            raise
        return subprocess.CompletedProcess(child.args, child.returncode, out, err)


def kill(child: subprocess.Popen[str]) -> None:
    """SIGKILL the child's whole session and reap it (a zombie still looks alive)."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.communicate()


@pytest.fixture
def world_factory(
    tmp_path: Path, prefect_api: str, prefect_home: Path, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """Factory: `world_factory(backend=..., **Emulator.create kwargs)` -> World (wall clock,
    loopback); backend "postgres" stores in a fresh database of the session's cluster."""
    servers: list[EmulatorServer] = []

    def make(backend: str = "duckdb", **kwargs: Any) -> World:
        emulator = Emulator.create(**{"seed": 1, "size": "demo", **kwargs})
        server = EmulatorServer(emulator).start()
        servers.append(server)
        url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
        return World(emulator, server, tmp_path, prefect_api, prefect_home, url)

    yield make
    for server in servers:
        server.stop()


def query(db_path: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Rows of a query on the DuckDB file, opened read-only (retrying a brief lock)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with duckdb.connect(str(db_path), read_only=True) as con:
                return con.execute(sql, params or []).fetchall()
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def assert_clean_failure(result: subprocess.CompletedProcess[str]) -> str:
    """Non-zero exit, one `followflow: error:` line last on stderr, no traceback."""
    err_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0, (result.stdout, result.stderr)
    assert err_lines, "nothing on stderr"
    last = err_lines[-1]
    assert last.startswith("followflow: error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert len([line for line in err_lines if line.startswith("followflow: error:")]) == 1
    return last
