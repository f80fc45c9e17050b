"""Bytes on the wire: orjson bodies and the content types X uses (REFERENCE §7.8)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

JSON_TYPE = "application/json; charset=utf-8"
PROBLEM_TYPE = "application/problem+json"


def dumps(body: Any) -> bytes:
    """Compact JSON, as X sends it (orjson: ~15x faster than json on a 1,000-user page)."""
    return orjson.dumps(body)


def loads(raw: bytes | str) -> Any:
    return orjson.loads(raw)


def json_response(
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
    content_type: str = JSON_TYPE,
) -> httpx.Response:
    """An httpx response with a JSON body and the given headers."""
    merged = dict(headers or {})
    merged["content-type"] = content_type
    return httpx.Response(status, headers=merged, content=dumps(body))


def with_headers(response: httpx.Response, headers: Mapping[str, str]) -> httpx.Response:
    """A copy of `response` with `headers` added (the body is read, never re-encoded)."""
    merged = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    merged.update(headers)
    return httpx.Response(response.status_code, headers=merged, content=response.read())
