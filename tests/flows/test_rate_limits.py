"""Reads within X's 15-minute windows, on an emulator whose windows last five seconds.

One process sends no request the window cannot take and fills every window; two processes
sharing one token take turns through the global concurrency limit `x:followers:app`.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter

import pytest

from flows.params import SnapshotParams
from flows.snapshot_followers import snapshot_followers

pytestmark = pytest.mark.usefixtures("prefect_harness")

WINDOW_S = 5.0
LIMIT = 15  # reads per window, preset v2-2023


def follower_reads(live):  # type: ignore[no-untyped-def]
    _, records = live.emulator.traffic.since(0)
    return [r for r in records if r.group == "followers"]


def windows(records) -> list[Counter[int]]:  # type: ignore[no-untyped-def]
    """Status counts per emulator window, rebuilt the way limits.py opens them: a window
    opens on the whole second of the first request after the previous one closed."""
    found: list[Counter[int]] = []
    start = -math.inf
    for record in sorted(records, key=lambda r: r.at):
        if record.at >= start + WINDOW_S:
            start = math.floor(record.at)
            found.append(Counter())
        found[-1][record.status] += 1
    return found


def test_one_process_fills_every_window_and_sees_no_429(live_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(window_seconds=WINDOW_S)
    monkeypatch.setenv("FOLLOWFLOW_PAGE_SIZE", "100")
    from followflow.settings import get_settings

    get_settings.cache_clear()
    (outcome,) = snapshot_followers(SnapshotParams(accounts=["ff_demo"], lists="followers"))
    reads = follower_reads(live)
    assert outcome.status == "complete"
    assert [r.status for r in reads].count(429) == 0
    pages = len(reads)
    assert pages == outcome.requests == 31  # 3,098 followers, 100 a page
    used = windows(reads)
    assert [w[200] for w in used] == [LIMIT, LIMIT, 1]
    start = math.floor(reads[0].at)
    ideal = (pages - 1) // LIMIT * WINDOW_S
    assert reads[-1].at - start <= ideal + 1.0, [round(r.at - start, 2) for r in reads]


def test_two_processes_share_one_token_and_take_turns(live_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(window_seconds=WINDOW_S)
    from prefect.settings import PREFECT_API_URL

    env = {
        **os.environ,
        "FOLLOWFLOW_PAGE_SIZE": "100",
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
    }
    command = [sys.executable, "-m", "followflow.cli", "snapshot", "--lists", "followers"]
    runs = [
        subprocess.Popen([*command, name], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for name in ("ff_demo", "ff_alice")
    ]
    results = [run.communicate(timeout=240) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], results
    reads = follower_reads(live)
    served = [r for r in reads if r.status == 200]
    assert len(served) == 31 + 9  # ff_demo 3,098 and ff_alice 820 followers, 100 a page
    used = windows(reads)
    assert all(w[429] <= 2 for w in used), used
    # Together they use the whole limit of every window but the last.
    assert all(w[200] == LIMIT for w in used[:-1]), used
