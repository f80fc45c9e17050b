"""The retry condition Prefect tasks share: re-run a task only for errors marked retryable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from followflow.xapi.errors import RateLimitError, XAPIError

# Delays between whole-task re-runs; the client already retried each request (STYLE.md 5).
RETRY_DELAYS_S: list[float] = [5.0, 30.0]


def is_transient(error: BaseException) -> bool:
    """True for retryable X errors, except rate limits: the flow waits those out itself,
    outside the bucket's concurrency slot, and a 24-hour cap is never retried."""
    return (
        isinstance(error, XAPIError) and error.retryable and not isinstance(error, RateLimitError)
    )


def retry_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect's retry condition: re-run a task whose error `is_transient`."""
    try:
        state.result()
    except Exception as error:
        return is_transient(error)
    return False


P = ParamSpec("P")
R = TypeVar("R")


def read_task(name: str, run_name: str) -> Callable[[Callable[P, R]], Task[P, R]]:
    """A Prefect task for one read: re-run only for transient errors, never cached.

    Reads must see X as it is now, so no result is ever reused.
    """
    return task(
        name=name,
        task_run_name=run_name,
        retries=len(RETRY_DELAYS_S),
        retry_delay_seconds=RETRY_DELAYS_S,
        retry_condition_fn=retry_transient,
        cache_policy=NO_CACHE,
    )
