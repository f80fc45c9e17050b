"""A flow that needs no store and no X account: it notes which host ran it.

Deployed from the project folder onto the `hosts` process pool; a worker inside a host
runs it with the worker's environment, where HOST_FOLDER names the host's own folder.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from prefect import flow, runtime


@flow(name="mark-host")
def mark_host(pause_s: float = 1.0) -> str:
    """Leave `ran-<flow run id>` in this host's folder, then hold the worker a moment."""
    folder = Path(os.environ["HOST_FOLDER"])
    (folder / f"ran-{runtime.flow_run.id}").write_text(str(os.getpid()))
    time.sleep(pause_s)  # so one worker cannot take every run before the others poll
    return folder.name
