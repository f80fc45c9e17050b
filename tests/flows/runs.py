"""What the Prefect test server recorded of a flow run."""

from __future__ import annotations

import time
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import TaskRun


def task_runs(flow_run_id: UUID | None) -> list[TaskRun]:
    """The flow run's task runs once the server has recorded all of them as final."""
    flow_runs = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:
            found = client.read_task_runs(flow_run_filter=flow_runs)
            settled = all(run.state is not None and run.state.is_final() for run in found)
            if (found and settled) or time.monotonic() > deadline:
                return found
            time.sleep(0.2)
