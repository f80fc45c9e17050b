"""Flow-run heartbeats only where someone listens for them.

Prefect 3.9 sends a heartbeat from a thread that sleeps in one-second steps, and every flow
run waits for that thread when it ends: an empty flow takes 1.10 s with Prefect's default
(a heartbeat every 180 s) against 0.18 s without (10 runs each on a test server, load 3).
A CLI command pays that for each of its flows and subflows. Heartbeats serve one reader,
an automation that marks silent runs crashed (README, "More machines", step 6), and whoever
sets that up sets PREFECT_FLOWS_HEARTBEAT_FREQUENCY too: so flows run in this process send
heartbeats when the frequency is set (environment or profile), and none otherwise.
Runs that a worker or `followflow serve` starts are processes of their own and keep
Prefect's default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def heartbeats_only_when_asked() -> Iterator[None]:
    """No heartbeat thread for flows run inside the block, unless the frequency was set."""
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        get_current_settings,
        temporary_settings,
    )

    if "heartbeat_frequency" in get_current_settings().flows.model_fields_set:
        yield
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
