"""Fixtures of the many-hosts tests: three hosts (network namespaces), and the services
they share on the root side of their links (netns.py says why there).

Where namespaces cannot be made (not root, no `ip`), the tests skip with that reason; in
CI (`CI` set, run as root) that is a failure instead: there they must run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.hosts.followflow_hosts import (
    Followflow,
    serve_emulator,
    set_up_followflow,
    start_followflow_worker,
)
from tests.hosts.netns import Hosts, make_hosts, unavailable
from tests.hosts.workers import PrefectOnPostgres, prefect_on_postgres

HOSTS = 3


def need_namespaces() -> None:
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI runs as root and must run the many-hosts tests)")
    pytest.skip(reason)


@pytest.fixture(scope="package")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    """Three worker hosts for the package, removed at its end (also after failures)."""
    need_namespaces()
    root: Path = tmp_path_factory.mktemp("hosts")
    with make_hosts(HOSTS, root) as made:
        yield made


@pytest.fixture(scope="package")
def hosts_postgres(hosts: Hosts) -> Iterator[Any]:
    """The hosts' PostgreSQL cluster: it listens on the services address too, and holds
    both the followflow store and the Prefect server's database, as in README "More
    machines" (one PostgreSQL for everything shared).

    Its own cluster, not the session's: PostgreSQL binds its addresses when it starts, and
    the session's cluster starts before any host's link exists.
    """
    from tests.postgres import PostgresCluster, postgres_bin_dir

    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries are missing: apt-get install postgresql")
    cluster = PostgresCluster(bin_dir, listen=("127.0.0.1", hosts.services_address)).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="package")
def prefect_on_pg(
    hosts: Hosts, hosts_postgres: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrefectOnPostgres]:
    """`prefect server start` on the services address, its state in the hosts' cluster
    (a database of its own, beside the store's)."""
    database = hosts_postgres.create_database("prefect_hosts")
    home = tmp_path_factory.mktemp("prefect-on-pg")
    with prefect_on_postgres(database, hosts.services_address, home) as server:
        print(f"\nPrefect server on PostgreSQL started in {server.startup_s:.1f} s")
        yield server


# followflow itself on the hosts (followflow_hosts.py): one emulator on the services
# address, one PostgreSQL store and one set of deployments for the whole package.
FLEET = 12  # fleet accounts ff_fleet0.. besides the demo ones
DAY_S = 10.0  # the emulator's 24-hour-cap day and the budgets' window, shortened
WINDOW_S = 5.0  # the emulator's rate-limit window, shortened
PER_USER = 8  # follows per account per DAY_S: three campaigns of 10 want more than...
PER_APP = 20  # ...the app allows, so they contend for its budget


@pytest.fixture(scope="package")
def followflow_on_hosts(
    hosts: Hosts,
    prefect_on_pg: PrefectOnPostgres,
    hosts_postgres: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Followflow]:
    """followflow's deployments on the server, its store in `hosts_postgres`, X emulated."""
    hosts_postgres.create_database("followflow")
    store_url = hosts_postgres.url("followflow", host=hosts.services_address)
    home = tmp_path_factory.mktemp("deployer")
    options = {"preset": "v2-2026", "window_seconds": WINDOW_S, "day_seconds": DAY_S}
    with serve_emulator(hosts.services_address, FLEET, **options) as emulator:
        with prefect_on_pg.client() as client:
            yield set_up_followflow(
                client,
                prefect_on_pg.api_url,
                home,
                emulator,
                store_url,
                "ff_demo",
                FOLLOWFLOW_BUDGET_WINDOW_S=str(DAY_S),
                FOLLOWFLOW_FOLLOW_BUDGET_PER_USER=str(PER_USER),
                FOLLOWFLOW_FOLLOW_BUDGET_PER_APP=str(PER_APP),
                FOLLOWFLOW_BACKOFF_BASE_S="0.01",
                FOLLOWFLOW_RATE_LIMIT_MARGIN_S="0.05",
                FOLLOWFLOW_ACTION_MIN_SPACING_S="0",
            )


@contextmanager
def workers_on_every_host(hosts: Hosts, followflow: Followflow) -> Iterator[Hosts]:
    """A followflow worker in every host for the block; every host's processes end after."""
    for host in hosts:
        start_followflow_worker(host, followflow.api_url, followflow.settings)
    try:
        yield hosts
    finally:
        for host in hosts:
            host.kill_everything()


@pytest.fixture
def followflow_workers(hosts: Hosts, followflow_on_hosts: Followflow) -> Iterator[Hosts]:
    """Workers of one test, for tests that lose hosts or their store."""
    with workers_on_every_host(hosts, followflow_on_hosts) as running:
        yield running
