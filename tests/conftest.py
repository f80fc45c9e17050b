"""Shared fixtures: one place, used by every test module (STYLE.md 11)."""

from __future__ import annotations

import pytest

from followflow.clock import ManualClock
from followflow.settings import Settings


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(tmp_path: object) -> Settings:
    # Tests build Settings explicitly and never read .env or the environment's secrets.
    return Settings(_env_file=None, db_path=tmp_path / "test.duckdb")  # type: ignore[call-arg, operator]


@pytest.fixture
def emulator(clock: ManualClock):  # type: ignore[no-untyped-def]
    """The demo-size emulator (seed 1, preset v2-2023, limits on) on the shared ManualClock."""
    from followflow.emulator import Emulator

    return Emulator.create(seed=1, size="demo", clock=clock)


@pytest.fixture
def emulator_server(emulator):  # type: ignore[no-untyped-def]
    """`emulator` served on a loopback port: `emulator_server.base_url`."""
    from followflow.emulator import EmulatorServer

    with EmulatorServer(emulator) as server:
        yield server


@pytest.fixture
def make_client(clock: ManualClock):  # type: ignore[no-untyped-def]
    """Factory: `make_client(handler, auth, **kw)` -> XClient over an in-process handler
    (e.g. `emulator.handle`), sleeping on and reading the shared ManualClock."""
    import httpx

    from followflow.xapi.client import XClient

    made: list[XClient] = []

    def make(handler, auth, **kwargs):  # type: ignore[no-untyped-def]
        client = XClient(
            "https://api.x.com",
            auth,
            transport=httpx.MockTransport(handler),
            sleep=clock.sleep,
            clock=clock,
            **kwargs,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture(scope="session")
def prefect_harness():  # type: ignore[no-untyped-def]
    """One Prefect test server for the whole session (starting one costs seconds); flows
    run in the tests' process as the CLI runs them, without heartbeats."""
    from prefect.testing.utilities import prefect_test_harness

    from followflow.heartbeats import heartbeats_only_when_asked

    with prefect_test_harness(server_startup_timeout=120), heartbeats_only_when_asked():
        yield


@pytest.fixture(scope="session")
def real_prefect_server(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A real `prefect server start` for tests that run commands as subprocesses:
    `(api_url, prefect_home)`. One for the session: it takes ~20 s to start here."""
    from followflow.prefect_server import local_prefect_server

    home = tmp_path_factory.mktemp("prefect-home")
    with local_prefect_server(home) as api_url:
        yield api_url, home


class Live:
    """An emulator over loopback on the wall clock, with FOLLOWFLOW_* pointing at it."""

    def __init__(self, emulator, server, db_path):  # type: ignore[no-untyped-def]
        self.emulator = emulator
        self.server = server
        self.db_path = db_path

    def account_id(self, username: str) -> int:
        return int(self.emulator.account(username).id)


@pytest.fixture
def live_factory(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Factory: `live_factory(**Emulator.create kwargs)` -> Live, configured for the flows.

    Reads use the app's Bearer token; writes use OAuth 1.0a of `writer` (default ff_demo).
    """
    from followflow.demo import emulator_settings
    from followflow.emulator import Emulator, EmulatorServer
    from followflow.settings import get_settings
    from tasks.clients import forget_clients

    servers = []

    def make(writer: str = "ff_demo", **kwargs):  # type: ignore[no-untyped-def]
        emulator = Emulator.create(**{"seed": 1, "size": "demo", **kwargs})
        server = EmulatorServer(emulator).start()
        servers.append(server)
        env = {
            **emulator_settings(emulator, server.base_url, writer),
            "DB_PATH": str(tmp_path / "followflow.duckdb"),
            "TOKEN_STORE_PATH": str(tmp_path / "tokens.json"),
            "BACKOFF_BASE_S": "0.01",
            "RATE_LIMIT_MARGIN_S": "0.05",
            "ACTION_MIN_SPACING_S": "0",
        }
        for key, value in env.items():
            monkeypatch.setenv(f"FOLLOWFLOW_{key}", value)
        get_settings.cache_clear()
        forget_clients()
        return Live(emulator, server, tmp_path / "followflow.duckdb")

    yield make
    get_settings.cache_clear()
    forget_clients()
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def postgres_cluster():  # type: ignore[no-untyped-def]
    """One throwaway PostgreSQL cluster for the session (tests/postgres.py).

    Skips where Debian's `postgresql` server binaries are missing; in CI (`CI` set) that
    is a failure instead, since `.ci/run` installs them and the PostgreSQL half must run.
    """
    import os

    from tests.postgres import PostgresCluster, postgres_bin_dir

    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        reason = "PostgreSQL server binaries are missing: apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the PostgreSQL half; .ci/run installs it)")
        pytest.skip(reason)
    cluster = PostgresCluster(bin_dir).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster, request):  # type: ignore[no-untyped-def]
    """The URL of a new empty database in the session's cluster, dropped after the test."""
    import re

    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40]
    name = f"{name}_{id(request) % 100000}"
    url = postgres_cluster.create_database(name)
    yield url
    postgres_cluster.drop_database(name)


@pytest.fixture(params=["duckdb", "postgres"])
def store(request, tmp_path):  # type: ignore[no-untyped-def]
    """The store a test writes, on each backend in turn (DESIGN.md 6; STYLE.md 4):
    a DuckDB file in the test's folder, then a fresh PostgreSQL database."""
    from pydantic import SecretStr

    from followflow.store.location import PostgresUrl
    from followflow.store.postgres import close_pools

    if request.param == "duckdb":
        yield tmp_path / "ff.duckdb"
        return
    location = PostgresUrl(SecretStr(request.getfixturevalue("postgres_url")))
    yield location
    close_pools()
    import shutil

    shutil.rmtree(location.spool_root(), ignore_errors=True)
