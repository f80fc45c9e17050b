"""Driving real processes for the end-to-end tests: the `prefect` and `followflow` commands,
a long-running child (`followflow serve`, a worker) that is always stopped, and bounded
polling of the Prefect API. Nothing here is mocked.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.objects import Artifact, FlowRun, StateType
from prefect.exceptions import PrefectHTTPStatusError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FINAL = {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
T = TypeVar("T")


def command(line: str) -> list[str]:
    """`uv run prefect ...` as the README writes it, run with this venv's executables."""
    words = shlex.split(line)
    if words[:2] == ["uv", "run"]:
        words = words[2:]
    return [str(BIN / words[0]), *words[1:]]


def run(
    line: str, env: dict[str, str], cwd: Path = PROJECT_ROOT, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run one command line to the end; returns the CompletedProcess (text)."""
    return subprocess.run(
        command(line), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def trigger(line: str, env: dict[str, str]) -> UUID:
    """Run a `prefect deployment run ...` line; returns the id of the flow run it created."""
    done = run(line, env)
    found = re.search(r"UUID: ([0-9a-f-]{36})", done.stdout)
    assert done.returncode == 0 and found, f"{line}\n{done.stdout}\n{done.stderr}"
    return UUID(found[1])


def trigger_all(lines: list[str], env: dict[str, str]) -> list[UUID]:
    """`trigger` each line at the same time (each command costs 1-3 s of Prefect import)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(lines)) as pool:
        return list(pool.map(lambda line: trigger(line, env), lines))


class Child:
    """A long-running command in its own process group, with its output in a file."""

    def __init__(self, line: str, env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            command(line),
            env=env,
            cwd=cwd,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM the whole group, then SIGKILL after 15 s."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._out.close()


@contextmanager
def child(line: str, env: dict[str, str], cwd: Path, log: Path) -> Iterator[Child]:
    """Run `line` for the block; it is stopped however the block ends."""
    started = Child(line, env, cwd, log)
    try:
        yield started
    finally:
        started.stop()


def poll(what: str, check: Callable[[], T | None], timeout: float, every: float = 0.25) -> T:
    """Call `check` until it returns something other than None, or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def approval_form(client: SyncPrefectClient, run_id: UUID, keyset: dict[str, str]) -> str:
    """The description of a paused run's input form, once it is there (it is saved after
    the run is paused). Prefect answers a missing input with a plain 404 error, not
    ObjectNotFound: catching only that one failed whenever the first look came too early."""

    def described() -> str | None:
        try:
            return client.read_flow_run_input(run_id, keyset["description"])
        except PrefectHTTPStatusError as error:
            if error.response.status_code == 404:
                return None
            raise

    return poll("the approval form", described, timeout=30)


def wait_for_run(
    client: SyncPrefectClient,
    run_id: UUID,
    states: set[StateType] = FINAL,
    timeout: float = 90,
    logs: Callable[[], str] = lambda: "",
) -> FlowRun:
    """The flow run once its state is one of `states` (by default: any final state)."""

    def check() -> FlowRun | None:
        flow_run = client.read_flow_run(run_id)
        if flow_run.state_type in states:
            return flow_run
        if flow_run.state_type in FINAL:
            raise AssertionError(f"run ended {flow_run.state!r}\n{logs()[-4000:]}")
        return None

    try:
        return poll(f"run {run_id} to reach {sorted(states)}", check, timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{logs()[-4000:]}") from None


def artifacts(client: SyncPrefectClient, run_id: UUID) -> dict[str, Artifact]:
    """The run's artifacts (from the flow and its tasks) by key."""
    found = client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
    )
    return {a.key: a for a in found if a.key}


def progress_artifacts(client: SyncPrefectClient, run_id: UUID) -> list[Artifact]:
    """The run's progress artifacts, keyed or not."""
    found = client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
    )
    return [a for a in found if a.type == "progress"]


def run_logs(client: SyncPrefectClient, run_id: UUID) -> str:
    """The run's log lines, oldest first."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    return "\n".join(log.message for log in logs)


def data(artifact: Artifact) -> Any:
    """An artifact's data, decoded when it is JSON text (table artifacts)."""
    import json

    if isinstance(artifact.data, str) and artifact.type == "table":
        return json.loads(artifact.data)
    return artifact.data
