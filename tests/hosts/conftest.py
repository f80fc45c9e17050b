"""Fixtures of the many-hosts tests: three hosts (network namespaces), and the services
they share on the root side of their links (netns.py says why there).

Where namespaces cannot be made (not root, no `ip`), the tests skip with that reason; in
CI (`CI` set, run as root) that is a failure instead: there they must run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
def prefect_on_pg(
    hosts: Hosts, postgres_cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrefectOnPostgres]:
    """`prefect server start` on the services address, its state in the session's cluster."""
    database = postgres_cluster.create_database("prefect_hosts")
    home = tmp_path_factory.mktemp("prefect-on-pg")
    try:
        with prefect_on_postgres(database, hosts.services_address, home) as server:
            print(f"\nPrefect server on PostgreSQL started in {server.startup_s:.1f} s")
            yield server
    finally:
        postgres_cluster.drop_database("prefect_hosts")


@pytest.fixture(scope="package")
def hosts_postgres(hosts: Hosts) -> Iterator[Any]:
    """A PostgreSQL cluster the hosts reach: it listens on the services address too.

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
