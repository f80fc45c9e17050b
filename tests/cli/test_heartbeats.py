"""Flows run by a command send heartbeats only when the frequency was set (heartbeats.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from prefect import flow
from prefect.settings import get_current_settings

from followflow.heartbeats import heartbeats_only_when_asked

SEEN_BY_A_COMMAND = """
from followflow.heartbeats import heartbeats_only_when_asked
from prefect.settings import get_current_settings
with heartbeats_only_when_asked():
    print(get_current_settings().flows.heartbeat_frequency)
"""


@flow
def heartbeat_seconds_of_this_run() -> int | None:
    return get_current_settings().flows.heartbeat_frequency  # what the engine reads


def test_a_flow_run_in_the_block_has_no_heartbeat_thread(prefect_harness: None) -> None:
    with heartbeats_only_when_asked():
        assert heartbeat_seconds_of_this_run() is None


@pytest.mark.parametrize(
    ("environment", "printed"),
    [
        ({}, "None"),
        ({"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}, "30"),
        ({"PREFECT_RUNNER_HEARTBEAT_FREQUENCY": "45"}, "45"),  # Prefect's older name
    ],
)
def test_a_frequency_someone_set_is_kept(environment: dict[str, str], printed: str) -> None:
    env = {k: v for k, v in os.environ.items() if "HEARTBEAT" not in k} | environment
    result = subprocess.run(
        [sys.executable, "-c", SEEN_BY_A_COMMAND], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == printed
