"""The hosts harness itself: each host reaches the services over its own link and nothing
else, and every namespace and link it made is gone afterwards, also after a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from followflow.emulator import Emulator, EmulatorServer
from tests.hosts.conftest import need_namespaces
from tests.hosts.netns import (
    PREFIX,
    Host,
    Hosts,
    ip,
    links,
    make_hosts,
    namespaces,
    sweep_leftovers,
)

PROBE = str(Path(__file__).with_name("probe.py"))


def probe(host: Host, *targets: str) -> dict[str, str]:
    done = host.run([sys.executable, PROBE, *targets], env=os.environ)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def machine_address() -> str | None:
    """An address of this machine outside loopback and the test links, if it has one."""
    for line in ip("-4", "-o", "addr").splitlines():
        device, address = line.split()[1], line.split()[3].split("/")[0]
        if device != "lo" and not device.startswith(PREFIX):
            return address
    return None


def test_each_host_reaches_the_emulator_over_its_link_only(hosts: Hosts) -> None:
    emulator = Emulator.create(seed=2)
    with (
        EmulatorServer(emulator, host=hosts.services_address) as shared,
        EmulatorServer(emulator, host="127.0.0.1") as loopback_only,
    ):
        assert shared.base_url == f"http://{hosts.services_address}:{shared.port}"
        read = (
            "import sys, urllib.request as u; r = u.Request(sys.argv[1], headers="
            "{'Authorization': 'Bearer ' + sys.argv[2]}); print(u.urlopen(r).read().decode())"
        )
        url = f"{shared.base_url}/2/users/by/username/ff_demo"
        outside = machine_address()
        for host in hosts:
            done = host.run(
                [sys.executable, "-c", read, url, emulator.app.bearer_token], os.environ
            )
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["data"]["username"] == "ff_demo"
            service = f"{hosts.services_address}:{shared.port}"
            targets = [f"127.0.0.1:{loopback_only.port}", "8.8.8.8:53"]
            if outside is not None:
                targets.append(f"{outside}:{shared.port}")
            found = probe(host, service, *targets)
            assert found.pop(service) == f"ok {host.address}"  # over its own link
            # Its own loopback is empty; nothing else has a route.
            assert found[f"127.0.0.1:{loopback_only.port}"] == "ConnectionRefusedError"
            assert not any(result.startswith("ok") for result in found.values()), found
            assert found["8.8.8.8:53"] == "OSError"  # ENETUNREACH: no default route


def test_a_host_cannot_reach_another_hosts_services(hosts: Hosts) -> None:
    first, second = hosts[0], hosts[1]
    server = first.popen(
        [sys.executable, "-m", "http.server", "--bind", first.address, "8471"], os.environ
    )
    try:
        deadline = time.monotonic() + 20
        while (
            probe(first, f"{first.address}:8471")[f"{first.address}:8471"] != f"ok {first.address}"
        ):
            assert server.poll() is None and time.monotonic() < deadline, (
                "http.server did not start"
            )
            time.sleep(0.2)
        assert probe(second, f"{first.address}:8471") == {f"{first.address}:8471": "OSError"}
        assert probe(hosts[2], f"{first.address}:8471") == {f"{first.address}:8471": "OSError"}
    finally:
        first.kill_everything()
    assert first.pids() == []


def test_nothing_is_left_after_a_failing_block(tmp_path: Path) -> None:
    need_namespaces()
    before_ns, before_links = set(namespaces()), set(links())
    with pytest.raises(ZeroDivisionError):
        with make_hosts(2, tmp_path) as made:
            made[0].popen(["sleep", "600"], os.environ)
            assert {h.namespace for h in made} <= set(namespaces())
            1 / 0  # noqa: B018 (the failure under test)
    assert set(namespaces()) == before_ns
    assert set(links()) == before_links


def test_leftovers_of_a_killed_run_are_swept(tmp_path: Path) -> None:
    need_namespaces()
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid names the leftovers, as a killed run's would
    namespace, link, peer = (
        f"{PREFIX}-{dead.pid}-0",
        f"{PREFIX}{dead.pid}r0",
        f"{PREFIX}{dead.pid}n0",
    )
    ip("netns", "add", namespace)
    ip("link", "add", link, "type", "veth", "peer", "name", peer)
    ip("link", "set", peer, "netns", namespace)
    alive = f"{PREFIX}-{os.getpid()}-99"  # a live run's namespace is never swept
    ip("netns", "add", alive)
    try:
        assert namespace in sweep_leftovers()
        assert namespace not in namespaces()
        deadline = time.monotonic() + 5  # its link goes with the namespace, a moment later
        while link in links():
            assert time.monotonic() < deadline, f"{link} outlived its namespace"
            time.sleep(0.05)
        assert alive in namespaces()
    finally:
        ip("netns", "del", alive, check=False)


def test_each_host_reaches_postgresql_over_its_link(hosts: Hosts, hosts_postgres: Any) -> None:
    url = hosts_postgres.url(host=hosts.services_address)
    query = (
        "import sys, psycopg; c = psycopg.connect(sys.argv[1]); "
        "print(c.execute('SELECT inet_client_addr()').fetchone()[0])"
    )
    for host in hosts:
        done = host.run([sys.executable, "-c", query, url], os.environ)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == host.address  # PostgreSQL saw it come over the link
    loopback = hosts[0].run([sys.executable, "-c", query, hosts_postgres.url()], os.environ)
    assert loopback.returncode != 0 and "Connection refused" in loopback.stderr
