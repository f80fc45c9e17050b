"""The local Prefect server a command starts ends with the command, however it ends.

The end-to-end case is real: `followflow snapshot` with no PREFECT_API_URL starts its own
`prefect server start`, is SIGKILLed mid-run, and nothing of that server may be left. The
watcher's other paths (a server with children, one that ignores SIGTERM, a killed
watcher) and the clean-up of leftovers use small stand-in processes, since making a real
Prefect server hang or fork on cue is not possible.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from followflow.emulator import Emulator, EmulatorServer
from followflow.prefect_server import end_leftover_servers, local_servers
from followflow.server_watch import process_mark
from tests.reliability.conftest import CLI, kill

# A stand-in server: sleeps; with "ignore-term" it ignores SIGTERM, with "fork" it starts
# a child that ignores SIGTERM (as a server's worker might), with "exit-3" it exits 3.
STAND_IN = """
import signal, subprocess, sys, time
if "exit-3" in sys.argv:
    sys.exit(3)
if "ignore-term" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if "fork" in sys.argv:
    subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
time.sleep(600)
"""


def alive(pid: int) -> bool:
    """Running (a zombie has exited: it only waits for its parent to read its status)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in {"Z", "X"}


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)


def mark_of(pid: int) -> str:
    mark = process_mark(pid)
    assert mark is not None
    return mark


def watcher_argv(record: Path, *stand_in: str, grace_s: float = 0.5) -> list[str]:
    return [sys.executable, "-m", "followflow.server_watch", str(grace_s), str(record)] + [
        sys.executable,
        "-c",
        STAND_IN,
        *stand_in,
    ]


class Watched:
    """`followflow.server_watch` over a stand-in server, owned by this test process."""

    made = itertools.count()

    def __init__(self, home: Path, *stand_in: str, grace_s: float = 0.5) -> None:
        (home / "local-servers").mkdir(parents=True, exist_ok=True)
        self.record = home / "local-servers" / f"server-{next(self.made)}.json"
        watch_end, self.owner_end = os.pipe()
        self.watcher = subprocess.Popen(
            watcher_argv(self.record, *stand_in, grace_s=grace_s),
            stdin=watch_end,
            start_new_session=True,
        )
        os.close(watch_end)
        wait_for(self.record.exists, 10, "the stand-in server started")
        self.server = int(json.loads(self.record.read_text())["server"].partition(":")[0])

    def owner_leaves(self) -> None:
        os.close(self.owner_end)
        self.owner_end = -1

    def close(self) -> None:
        if self.owner_end >= 0:
            self.owner_leaves()
        self.watcher.wait(timeout=15)


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[Callable[..., Watched]]:
    made: list[Watched] = []

    def make(*stand_in: str, grace_s: float = 0.5, home: Path = tmp_path) -> Watched:
        made.append(Watched(home, *stand_in, grace_s=grace_s))
        return made[-1]

    yield make
    for each in made:
        each.close()


def test_when_the_owner_goes_the_whole_group_goes(watched: Callable[..., Watched]) -> None:
    run = watched("fork")
    wait_for(lambda: bool(children(run.server)), 10, "the stand-in's child started")
    worker = children(run.server)[0]
    run.owner_leaves()
    assert run.watcher.wait(timeout=5) == 0
    assert not alive(run.server)
    assert not alive(worker), "a child of the server outlived it"


def test_a_server_ignoring_sigterm_is_killed_after_the_grace(
    watched: Callable[..., Watched],
) -> None:
    run = watched("ignore-term", grace_s=1.0)
    time.sleep(0.3)  # the stand-in has set SIGTERM aside by then
    started = time.monotonic()
    run.owner_leaves()
    assert run.watcher.wait(timeout=10) == 0
    assert 1.0 <= time.monotonic() - started < 5.0
    assert not alive(run.server)


def test_a_killed_watcher_takes_the_server_with_it(watched: Callable[..., Watched]) -> None:
    run = watched()
    run.watcher.send_signal(signal.SIGKILL)
    wait_for(lambda: not alive(run.server), 5, "the server ended after its watcher was killed")


def test_a_server_that_exits_on_its_own_passes_its_code_on(tmp_path: Path) -> None:
    watch_end, owner_end = os.pipe()
    watcher = subprocess.Popen(
        watcher_argv(tmp_path / "server.json", "exit-3"), stdin=watch_end, start_new_session=True
    )
    os.close(watch_end)
    try:
        assert watcher.wait(timeout=10) == 3  # while the owner still holds the pipe
    finally:
        os.close(owner_end)
    assert not (tmp_path / "server.json").exists()


# The owner of a leftover: starts the watcher (argv), holds its pipe, sleeps until killed.
OWNER = """
import os, subprocess, sys, time
watch_end, owner_end = os.pipe()
subprocess.Popen(sys.argv[1:], stdin=watch_end, start_new_session=True)
time.sleep(600)
"""


def leftover(home: Path, *stand_in: str, watcher_killed: bool) -> tuple[int, int, int]:
    """A server whose command is gone and whose watcher failed it: stopped (SIGSTOP, so it
    never sees the pipe close) or killed. Returns (watcher, server, server's first child)."""
    (home / "local-servers").mkdir(parents=True, exist_ok=True)
    record = home / "local-servers" / "server-1.json"
    owner = subprocess.Popen([sys.executable, "-c", OWNER, *watcher_argv(record, *stand_in)])
    wait_for(record.exists, 10, "the leftover's watcher wrote its record")
    marks = json.loads(record.read_text())
    watcher, server = (int(marks[k].partition(":")[0]) for k in ("watcher", "server"))
    if "fork" in stand_in:
        wait_for(lambda: bool(children(server)), 10, "the stand-in's child started")
    time.sleep(0.3)  # the stand-in has set SIGTERM aside by then
    os.kill(watcher, signal.SIGKILL if watcher_killed else signal.SIGSTOP)
    owner.kill()
    owner.wait()
    return watcher, server, (children(server) or [0])[0]


def test_only_leftovers_of_gone_commands_under_this_home_are_ended(
    tmp_path: Path, watched: Callable[..., Watched]
) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    stopped = leftover(home / "a", "fork", watcher_killed=False)
    hung = leftover(home / "b", "ignore-term", watcher_killed=True)
    other_home = leftover(elsewhere, watcher_killed=False)
    live = watched(home=home / "c")
    try:
        for where, (watcher, server, child) in ((home / "a", stopped), (home / "b", hung)):
            [ended] = end_leftover_servers(where, grace_s=0.5)
            assert ended.server.startswith(f"{server}:")
            assert not any(alive(pid) for pid in (watcher, server, child) if pid)
            assert local_servers(where) == []
        assert end_leftover_servers(home / "c", grace_s=0.5) == []
        assert alive(live.server) and alive(other_home[1])
    finally:
        for pid in other_home[:2]:
            with suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def test_a_sigkilled_command_leaves_no_server_and_the_next_ends_leftovers(
    tmp_path: Path,
) -> None:
    """As seen: `followflow snapshot` without PREFECT_API_URL, killed with SIGKILL mid-run."""
    home = tmp_path / ".cache" / "followflow" / "prefect"  # under HOME=tmp_path
    home.mkdir(parents=True)
    older = leftover(home, watcher_killed=False)
    emulator = Emulator.create(seed=1, size="demo")  # 15 reads a window: the run waits
    with EmulatorServer(emulator) as x:
        environment = {
            k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FOLLOWFLOW_"))
        } | {
            "HOME": str(tmp_path),
            "FOLLOWFLOW_X_BASE_URL": x.base_url,
            "FOLLOWFLOW_BEARER_TOKEN": emulator.app.bearer_token,
            "FOLLOWFLOW_PAGE_SIZE": "5",
        }
        command = subprocess.Popen(
            [CLI, "snapshot", "ff_demo", "--lists", "followers"],
            env=environment,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            wait_for(
                lambda: emulator.traffic.total > 0 or command.poll() is not None,
                120,
                "the snapshot started reading",
            )
            assert command.poll() is None, command.communicate()[0]
            assert not any(alive(pid) for pid in older), "the leftover from before is left"
            [record] = local_servers(home)
            assert record.owner == mark_of(command.pid)
            ours = [int(m.partition(":")[0]) for m in (record.watcher, record.server)]
            ports = {int(p) for p in re.findall(r"--port\0(\d+)", cmdline(ours[1]))}
            assert ports
        finally:
            kill(command)
    wait_for(lambda: not any(alive(pid) for pid in ours), 20, "the server ended")
    assert local_servers(home) == []
    for port in ports:
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
            pass


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""
