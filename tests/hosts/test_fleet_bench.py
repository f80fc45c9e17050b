"""bench/fleet.py's smoke configuration: its figures are real.

The bench runs a small fleet on three hosts on PostgreSQL (with `-m slow`, also on one
host on the DuckDB file, side by side) and writes its
figures and the emulator's request logs. Checked here on
their own: every stored list has the size the world's seed gives that account
(`fleet_specs`, not the emulator's answer the bench compared with), every listing was
read, and the 429 figures are what the request log says, counted again here.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from followflow.emulator.world import DOMAIN, fleet_specs
from tests.hosts.conftest import need_namespaces
from tests.postgres import postgres_bin_dir

ACCOUNTS = 8
WINDOW_S = 3.0
PROJECT = Path(__file__).resolve().parents[2]
LISTING = re.compile(r"/2/users/(?P<id>[0-9]+)/(?P<kind>followers|following)")

pytestmark = pytest.mark.timeout(280)


def most_429s_per_window(rows: list[dict[str, Any]]) -> tuple[int, int]:
    """(most 429s in one window, 429s in all) of one token's requests, in log order: a
    window opens on the whole second of the first request after the last one closed."""
    opened, in_window, most, total = None, 0, 0, 0
    for row in sorted(rows, key=lambda r: r["seq"]):
        if opened is None or row["at"] >= opened + WINDOW_S:
            opened, in_window = math.floor(row["at"]), 0
        if row["status"] == 429:
            in_window, total = in_window + 1, total + 1
            most = max(most, in_window)
    return most, total


@pytest.mark.parametrize(
    "setups",
    [
        ["hosts"],  # the default run: the setup only this bench has
        pytest.param(["hosts", "one-host"], marks=pytest.mark.slow),  # side by side
    ],
)
def test_the_smoke_fleet_figures_come_from_the_store_and_the_log(
    setups: list[str], tmp_path: Path
) -> None:
    need_namespaces()
    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL server binaries are missing: apt-get install postgresql")
    out = tmp_path / "fleet.json"
    argv = [sys.executable, "bench/fleet.py", "--accounts", str(ACCOUNTS), "--runs", "2"]
    argv += ["--window-seconds", str(WINDOW_S), "--json", str(out), "--timeout", "150"]
    argv += ["--setups", ",".join(setups)]
    done = subprocess.run(argv, cwd=PROJECT, capture_output=True, text=True, timeout=270)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document = json.loads(out.read_text())
    specs = fleet_specs(ACCOUNTS, 1, DOMAIN["demo"])
    expected = {f"{s.username} followers": s.followers for s in specs}
    expected |= {f"{s.username} following": s.following for s in specs}
    assert [f["setup"] for f in document["figures"]] == setups
    for figures in document["figures"]:
        log = document["request_logs"][figures["setup"]]
        assert figures["stored"] == expected, figures["setup"]
        assert figures["lists_wrong"] == [] and figures["lists_checked"] == 2 * ACCOUNTS
        assert figures["failed_runs"] == 0
        by_token: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in log:
            m = LISTING.fullmatch(row["path"])
            if m is not None:
                by_token.setdefault((m["kind"], m["id"]), []).append(row)
        assert len(by_token) == figures["tokens"] == 2 * ACCOUNTS  # every listing was read
        counted = [most_429s_per_window(rows) for rows in by_token.values()]
        assert figures["max_429_per_token_window"] == max(most for most, _ in counted)
        assert figures["total_429"] == sum(total for _, total in counted)
        assert figures["requests"] == len(log)
        assert figures["wall_s"] > 0 and figures["alone_s"] > 0 and figures["prefect_cpu_s"] > 0
        starts, ends = figures["run_starts_s"], figures["run_ends_s"]
        assert len(starts) == len(ends) == 2 and 0 < min(starts) <= max(starts) < max(ends)
        assert max(ends) == pytest.approx(figures["wall_s"])  # the wall ends with the last run
        assert all(mb > 50 for mb in figures["peak_rss_mb"].values())  # a worker is python
    hosts = document["figures"][0]
    assert len(hosts["peak_rss_mb"]) == 3 and hosts["postgres_cpu_s"] > 0
    assert "lists equal to the truth" in done.stdout
