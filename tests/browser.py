"""Headless Chromium for the tests that look at a rendered page.

Debian's `chromium` package: `.ci/run` installs it when missing. Without the
background-networking flags Chromium hangs on an offline machine, so it also runs under a
timeout, in its own process group so that a hang can be killed whole.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_S = 60

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is missing: apt-get install chromium (.ci/run does)",
)


def chromium(*args: str, profile: Path) -> bytes:
    """Run headless Chromium with `args` (a profile folder of its own); its stdout."""
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium took more than {TIMEOUT_S} s: {' '.join(args)}")
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out
