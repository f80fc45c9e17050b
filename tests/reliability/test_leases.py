"""A slot held by a process that was killed is given back at once, a live one never.

Prefect keeps a crashed holder's slot until its lease expires (at least 60 s, plus the
server's repossessor loop); tasks/leases.py notes every lease held on this machine so the
next run releases the slots of dead processes before it waits for one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tasks import leases
from tasks.limits import hold
from tasks.slots import SlotTimeout
from tests.reliability.conftest import HELPERS

pytestmark = [pytest.mark.usefixtures("inprocess_prefect"), pytest.mark.timeout(120)]


def start_holder(name: str, api_url: str, home: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PREFECT_API_URL": api_url,
        "PREFECT_HOME": str(home),
        "PYTHONPATH": str(HELPERS.parents[1]),
    }
    child = subprocess.Popen(
        [sys.executable, str(HELPERS / "holder.py"), name],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_slot_of_a_killed_holder_comes_back_at_once(prefect_api: str, prefect_home: Path) -> None:
    name = f"test:lease:{uuid.uuid4().hex[:8]}"
    child = start_holder(name, prefect_api, prefect_home)
    notes = list(leases.journal_dir().glob(f"{child.pid}-*.json"))
    assert len(notes) == 1, "the holder noted its lease"
    os.killpg(child.pid, signal.SIGKILL)
    child.communicate()
    started = time.monotonic()
    with hold(name, timeout_s=30):
        waited = time.monotonic() - started
    # At once, not after the lease's 120 s: the bound leaves room for a loaded machine.
    assert waited < 60, f"waited {waited:.1f} s for a dead process's slot"
    assert not notes[0].exists(), "the dead holder's note is gone"


def test_slot_of_a_live_holder_is_never_taken(prefect_api: str, prefect_home: Path) -> None:
    name = f"test:lease:{uuid.uuid4().hex[:8]}"
    child = start_holder(name, prefect_api, prefect_home)
    try:
        with pytest.raises(SlotTimeout):
            with hold(name, timeout_s=2):
                pass
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()


def test_a_zombie_counts_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    while not Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z":
        time.sleep(0.01)
    assert not leases.process_alive(child.pid)
    assert leases.process_alive(os.getpid())
    child.wait()
    assert not leases.process_alive(child.pid)
