"""The process between a followflow command and the local Prefect server it started.

Run as `python -m followflow.server_watch GRACE_S RECORD SERVER_ARGV...` by the command,
with standard input the read end of a pipe whose write end only the command holds. It
starts the server in a process group of its own and ends that group when the pipe reaches
end-of-file: when the command closes it on the way out, and equally when the command dies
without a word (SIGKILL, OOM, a closed terminal), since the kernel closes the write end
of a dead process. A server that ignores SIGTERM for GRACE_S seconds is killed, with
anything it started. If the watcher itself is killed, the kernel sends the server SIGTERM
(Linux's PR_SET_PDEATHSIG).

While the server runs, RECORD (a JSON file) names the command, the watcher and the
server, so a later command can tell a leftover from a live server (`prefect_server`).
The watcher exits with the server's exit code, so the command still sees a server that
dies on its own. Only the standard library is imported: this process lives as long as
the server and should cost little.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

GRACE_S = 10.0  # what the local server gets; tests pass less
POLL_S = 0.5
OWNER_PIPE = 0  # standard input
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def process_mark(pid: int) -> str | None:
    """ "<pid>:<start time in clock ticks>", which names one process even once its pid is
    given to another; None if it has exited (a zombie included) or there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] in {"Z", "X"} else f"{pid}:{fields[19]}"


def running(mark: str) -> bool:
    pid = mark.partition(":")[0]
    return pid.isdigit() and process_mark(int(pid)) == mark


def _exited(pid: int) -> bool:
    """Whether `pid` has exited, leaving it unreaped: its process group id stays taken
    (no new process can be given it) until we have killed what is left of the group."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _owner_gone(pipe: int) -> bool:
    readable, _, _ = select.select([pipe], [], [], POLL_S)
    return bool(readable) and os.read(pipe, 1) == b""


def stop_group(server: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the server's group, SIGKILL whatever is left after `grace_s`, then reap."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace_s
    while not _exited(server.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        os.killpg(server.pid, signal.SIGKILL)  # children the server left, or a hung server
    except ProcessLookupError:
        pass
    server.wait()


def _die_with_me() -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel SIGTERM the server if this watcher dies first:
    the one case the pipe cannot cover."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork, not in it
    watcher = os.getpid()
    sigterm = int(signal.SIGTERM)

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, sigterm)
        if os.getppid() != watcher:  # died between the fork and the prctl
            os._exit(1)

    return arm


def _write_record(record: Path, server_pid: int) -> None:
    marks = {
        "owner": process_mark(os.getppid()),
        "watcher": process_mark(os.getpid()),
        "server": process_mark(server_pid),
    }
    partial = record.with_suffix(".partial")
    partial.write_text(json.dumps(marks))
    partial.replace(record)  # never a half-written record


def main(grace_s: float, record: Path, argv: list[str]) -> int:
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, stop)
    server = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_me()
    )
    try:
        _write_record(record, server.pid)
        while not stopping:
            if _exited(server.pid):
                stop_group(server, grace_s)  # died on its own: the exit code tells the owner
                return server.returncode if server.returncode >= 0 else 128 - server.returncode
            stopping = _owner_gone(OWNER_PIPE)
        stop_group(server, grace_s)
        return 0
    finally:
        if server.returncode is None:  # the record could not be written
            stop_group(server, grace_s)
        record.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]))
