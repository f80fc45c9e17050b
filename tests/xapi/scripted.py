"""A scripted httpx transport for the client's edge cases (the emulator covers the rest)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson

from followflow.clock import ManualClock
from followflow.xapi.auth import BearerAuth, XAuth
from followflow.xapi.client import XClient

Step = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def reply(status: int = 200, body: Any = None, **headers: str | float | int) -> httpx.Response:
    """A response; header names are given with underscores (x_rate_limit_reset=...)."""
    content = b"" if body is None else orjson.dumps(body)
    hdrs = {k.replace("_", "-"): str(v) for k, v in headers.items()}
    hdrs.setdefault("content-type", "application/json; charset=utf-8")
    return httpx.Response(status, content=content, headers=hdrs)


class Script:
    """Answers requests from a list of steps in order; records every request it saw."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.steps:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        if callable(step):
            return step(request)
        return step


def scripted_client(
    script: Script,
    clock: ManualClock,
    auth: XAuth | None = None,
    **kwargs: Any,
) -> XClient:
    kwargs.setdefault("max_retries", 3)
    return XClient(
        "https://api.x.com",
        auth or BearerAuth("test-bearer"),
        transport=httpx.MockTransport(script),
        sleep=clock.sleep,
        clock=clock,
        **kwargs,
    )


def users(*ids: int) -> list[dict[str, str]]:
    return [{"id": str(i), "name": f"n{i}", "username": f"u{i}"} for i in ids]
