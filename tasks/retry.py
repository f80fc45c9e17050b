"""The retry condition Prefect tasks share: re-run a task only for errors marked retryable."""

from __future__ import annotations

from typing import Any

from prefect import Task
from prefect.client.schemas.objects import State, TaskRun

from followflow.xapi.errors import RateLimitError, XAPIError

# Delays between whole-task re-runs; the client already retried each request (STYLE.md 5).
RETRY_DELAYS_S: list[float] = [5.0, 30.0]


def retry_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """True for retryable X errors, except rate limits: the flow waits those out itself,
    outside the bucket's concurrency slot, and a 24-hour cap is never retried."""
    try:
        state.result()
    except RateLimitError:
        return False
    except XAPIError as error:
        return error.retryable
    except Exception:
        return False
    return False
