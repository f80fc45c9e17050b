"""A journal of the concurrency-slot leases this machine's processes hold, for crash recovery.

A process killed while it holds a slot (SIGKILL, OOM, power) cannot release it; Prefect
gives the slot back only when the lease expires (at least 60 s, plus the server's
repossessor loop), so the next run would sit idle for minutes. Each holder therefore
writes one small file per lease (`<home>/followflow-leases/<pid>-<lease id>.json`) and
removes it on release. Before acquiring, a process releases the leases of holders on
this host that are no longer running. A live holder's lease is never touched: when in
doubt (PID reused, permission denied) the lease simply expires as Prefect intends.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from uuid import UUID

import orjson
from prefect.settings import get_current_settings

from tasks import slots

log = logging.getLogger(__name__)


def journal_dir() -> Path:
    """Where lease files live: beside Prefect's own state, shared by this user's processes."""
    return Path(get_current_settings().home) / "followflow-leases"


def _api_url() -> str:
    return str(get_current_settings().api.url or "")


def process_alive(pid: int) -> bool:
    """Whether `pid` is a running (not zombie) process; unknown counts as alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # A killed child not yet reaped by its parent still answers signal 0.
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def record(lease_id: UUID, name: str) -> Path | None:
    """Note that this process holds `lease_id` on limit `name`; None if the note failed."""
    path = journal_dir() / f"{os.getpid()}-{lease_id}.json"
    entry = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "api_url": _api_url(),
        "lease_id": str(lease_id),
        "name": name,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(entry))
    except OSError as error:  # the lease still works; only fast recovery is lost
        log.warning("could not record concurrency lease for %s: %s", name, error)
        return None
    return path


def forget(path: Path | None) -> None:
    """Drop a lease note after the lease was released."""
    if path is not None:
        path.unlink(missing_ok=True)


def release_orphans() -> int:
    """Release leases held by processes of this host and API that died; returns how many."""
    folder = journal_dir()
    if not folder.is_dir():
        return 0
    host, api_url, released = socket.gethostname(), _api_url(), 0
    for path in folder.glob("*.json"):
        try:
            entry = orjson.loads(path.read_bytes())
            pid, lease_id = int(entry["pid"]), UUID(entry["lease_id"])
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # being written right now, or not ours to judge
        if entry.get("host") != host or entry.get("api_url") != api_url or process_alive(pid):
            continue
        try:
            slots.release(lease_id)
        except Exception as error:  # noqa: BLE001 - expired or already released: fine
            log.debug("lease %s of dead process %d: %s", lease_id, pid, error)
        else:
            released += 1
            log.info("released slot %r left by process %d, which died", entry.get("name"), pid)
        path.unlink(missing_ok=True)
    return released
