"""Worker hosts on one machine: Linux network namespaces joined to the root side by veth pairs.

Where the shared services live: on the root side of the links. Every link's root end
carries the same services address (10.231.<net>.1/32), so the emulator, the Prefect
server and PostgreSQL listen on that one address (`PostgresCluster(listen=("127.0.0.1",
hosts.services_address))`, started after the links exist: conftest's `hosts_postgres`)
and the test process keeps them in-process or as its own children, with the ground truth
(`Emulator.truth_*`) a call away. A services namespace
of its own would put every service behind `ip netns exec` and a second link, for no
isolation the hosts lack: each host has one address (10.231.<net>.<10+i>/32) and one
route, to the services address over its own link, and no default route. So it reaches
the services and nothing else: not the machine's loopback (its own is empty), not
another host (no route), not the outside. All traffic stays on this machine.

`<net>` is the first of 0..255 that no other live run holds (a flock), so test sessions
running at once get different addresses. Names carry the creating process's id
(`ffh-<pid>-<n>`, links `ffh<pid>r<n>`): a run sweeps the namespaces and links of
processes that no longer exist (a killed run) before making its own, and never touches
those of a live one.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tasks.leases import process_alive

PREFIX = "ffh"
SUBNET = "10.231"
_NETNS = re.compile(rf"{PREFIX}-(?P<pid>[0-9]+)-[0-9]+")
_LINK = re.compile(rf"{PREFIX}(?P<pid>[0-9]+)r[0-9]+")
_LOCKS = Path(tempfile.gettempdir()) / "followflow-hosts"
_numbers = itertools.count()  # hosts made by this process, in every set: names stay unique


def unavailable() -> str | None:
    """Why namespaces cannot be made here (the reason to skip with), or None."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is missing: apt-get install iproute2"
    if os.geteuid() != 0:
        return "network namespaces need root (`ip netns add`); run the tests as root"
    return None


def ip(*args: str, namespace: str | None = None, check: bool = True) -> str:
    """Run `ip ARGS` (inside `namespace` if given); returns its output."""
    argv = ["ip", *args] if namespace is None else ["ip", "netns", "exec", namespace, "ip", *args]
    done = subprocess.run(argv, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")
    return done.stdout


def namespaces() -> list[str]:
    """Every network namespace on the machine, by name."""
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]


def links() -> list[str]:
    """Every network interface of the root namespace, by name."""
    return [line.split()[1].split("@")[0] for line in ip("-o", "link").splitlines()]


def _kill_namespace(name: str) -> None:
    """SIGKILL every process in namespace `name` and wait until they are gone."""
    for _ in range(50):
        pids = [int(p) for p in ip("netns", "pids", name, check=False).split()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def _remove(namespace: str | None, link: str | None) -> None:
    if namespace is not None and namespace in namespaces():
        _kill_namespace(namespace)
    if link is not None and link in links():
        ip("link", "del", link, check=False)  # takes its peer with it
    if namespace is not None and namespace in namespaces():
        ip("netns", "del", namespace, check=False)


def sweep_leftovers() -> list[str]:
    """Remove the namespaces and links of earlier runs whose process is gone; their names."""
    swept = []
    for name in namespaces():
        m = _NETNS.fullmatch(name)
        if m and not process_alive(int(m["pid"])):
            _remove(name, None)
            swept.append(name)
    for name in links():
        m = _LINK.fullmatch(name)
        if m and not process_alive(int(m["pid"])):
            _remove(None, name)
            swept.append(name)
    return swept


@dataclass
class Host:
    """One worker host: its namespace, address, working folder and link."""

    index: int
    namespace: str
    address: str
    folder: Path
    link: str  # the root end of its veth pair
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def popen(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start `argv` inside this host, in its working folder, output to `log`."""
        out = (log or self.folder / f"{Path(argv[0]).name}.log").open("ab")
        try:
            child = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace, *argv],
                env=dict(env),
                cwd=self.folder,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            out.close()
        self.children.append(child)
        return child

    def run(
        self, argv: Sequence[str], env: Mapping[str, str], timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` inside this host to the end (text output)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.namespace, *argv],
            env=dict(env),
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def pids(self) -> list[int]:
        """Every process running in this host now."""
        return [int(p) for p in ip("netns", "pids", self.namespace).split()]

    def kill_everything(self) -> None:
        """Lose the host: SIGKILL every process in it (what a power cut does to them)."""
        _kill_namespace(self.namespace)
        for child in self.children:
            child.wait()

    def link_down(self) -> None:
        """Cut the host off the network; its processes keep running."""
        ip("link", "set", self.link, "down")


@dataclass
class Hosts:
    """The hosts of one run and the services address they all reach."""

    net: int
    services_address: str
    hosts: list[Host]

    def __iter__(self) -> Iterator[Host]:
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def __getitem__(self, index: int) -> Host:
        return self.hosts[index]


@contextmanager
def _free_net() -> Iterator[int]:
    """Hold the first 10.231.<net>.0/24 no other live run holds, for the block."""
    _LOCKS.mkdir(exist_ok=True)
    for net in range(256):
        fd = os.open(_LOCKS / f"{net}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield net
        finally:
            os.close(fd)
        return
    raise RuntimeError(f"all 256 networks {SUBNET}.*.0/24 are held by live runs")


def _names(number: int) -> tuple[str, str, str]:
    """(namespace, root end, host end) of this process's host `number`."""
    pid = os.getpid()
    return f"{PREFIX}-{pid}-{number}", f"{PREFIX}{pid}r{number}", f"{PREFIX}{pid}n{number}"


def _make_host(net: int, index: int, number: int, services: str, root: Path) -> Host:
    namespace, link, peer = _names(number)
    address = f"{SUBNET}.{net}.{10 + index}"
    folder = root / f"host{index}"
    folder.mkdir()
    host = Host(index, namespace, address, folder, link)
    ip("netns", "add", namespace)
    ip("link", "add", link, "type", "veth", "peer", "name", peer)
    ip("link", "set", peer, "netns", namespace)
    ip("addr", "add", f"{services}/32", "dev", link)
    ip("link", "set", link, "up")
    ip("route", "add", f"{address}/32", "dev", link, "src", services)
    ip("link", "set", "lo", "up", namespace=namespace)
    ip("addr", "add", f"{address}/32", "dev", peer, namespace=namespace)
    ip("link", "set", peer, "up", namespace=namespace)
    ip("route", "add", f"{services}/32", "dev", peer, "src", address, namespace=namespace)
    return host


@contextmanager
def make_hosts(count: int, root: Path) -> Iterator[Hosts]:
    """`count` hosts with working folders under `root`; all removed however the block ends.

    Raises RuntimeError where namespaces cannot be made (see `unavailable`).
    """
    reason = unavailable()
    if reason is not None:
        raise RuntimeError(reason)
    sweep_leftovers()
    with _free_net() as net:
        services = f"{SUBNET}.{net}.1"
        numbers = [next(_numbers) for _ in range(count)]
        made: list[Host] = []
        try:
            for index, number in enumerate(numbers):
                made.append(_make_host(net, index, number, services, root))
            _wait_up(made)
            yield Hosts(net, services, made)
        finally:
            # By name, not by `made`: a host whose making failed half-way is removed too.
            for number in numbers:
                namespace, link, _ = _names(number)
                _remove(namespace, link)
            for host in made:
                for child in host.children:
                    child.wait(timeout=10)  # killed with the namespace: reap it


def _wait_up(hosts: list[Host]) -> None:
    """A veth carries traffic once both ends are up, which the kernel reports a moment later."""
    deadline = time.monotonic() + 10
    for host in hosts:
        while "state UP" not in ip("link", "show", host.link):
            if time.monotonic() > deadline:
                raise RuntimeError(f"link {host.link} did not come up within 10 s")
            time.sleep(0.05)
