"""The admin API under `/_emulator/`: ground truth, the action log, faults, clock, churn.

Apart from the X surface: no auth, no rate limits, no faults. Ids are JSON integers.

    GET  /_emulator/health                      {"status": "ok", "now", "seed", "size", "preset"}
    GET  /_emulator/manifest                    the manifest, with this server's base URL
    GET  /_emulator/truth/followers/{id}        {"user_id", "count", "ids": [newest first]}
    GET  /_emulator/truth/following/{id}
    GET  /_emulator/actions[?since=N]           {"actions": [{at, principal, action, ...}]}
    GET  /_emulator/requests[?since=N]          {"total", "requests": [{seq, at, method,
                                                 group, status, client, path, token}]}
                                                 (traffic.py; token: pagination_token)
    POST /_emulator/faults      {"spec": str | null}
    POST /_emulator/clock/advance {"seconds": s}  {"now"}
    POST /_emulator/churn       {"user_id", "gained", "lost"} -> {"gained": [...], "lost": [...]}
    POST /_emulator/day-cap     {"kind", "principal_kind", "limit"}
    POST /_emulator/approve     {"source_id", "target_id"} -> {"approved": bool}
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from followflow.emulator.auth import read_body
from followflow.emulator.serialize import json_response

if TYPE_CHECKING:
    from followflow.emulator.app import Emulator

_TRUTH = re.compile(r"/_emulator/truth/(?P<kind>followers|following)/(?P<id>[0-9]{1,19})")


class AdminError(Exception):
    """A bad admin request: answered 400 with the message."""


def _body(request: httpx.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(read_body(request) or b"{}")
    except orjson.JSONDecodeError:
        raise AdminError("body is not JSON") from None
    if not isinstance(body, dict):
        raise AdminError("body must be a JSON object")
    return body


def _int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise AdminError(f"{key} must be an integer")
    try:
        return int(value)
    except ValueError:
        raise AdminError(f"{key} must be an integer") from None


def handle(emu: Emulator, request: httpx.Request) -> httpx.Response:
    """Answer an admin request."""
    try:
        return _dispatch(emu, request)
    except AdminError as error:
        return json_response(400, {"error": str(error)})
    except KeyError as error:
        return json_response(404, {"error": str(error.args[0]) if error.args else "not found"})
    except (TypeError, ValueError) as error:
        return json_response(409, {"error": str(error)})


def _dispatch(emu: Emulator, request: httpx.Request) -> httpx.Response:
    method, path = request.method, request.url.path.rstrip("/")
    if method == "GET":
        if path == "/_emulator/health":
            health = {
                "status": "ok",
                "now": emu.clock(),
                "seed": emu.world.seed,
                "size": emu.world.size,
                "preset": emu.preset,
            }
            return json_response(200, health)
        if path == "/_emulator/manifest":
            base = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
            return json_response(200, emu.manifest(base))
        if path == "/_emulator/actions":
            since = int(request.url.params.get("since", "0") or 0)
            log = emu.action_log[since:]
            return json_response(200, {"actions": [dataclasses.asdict(r) for r in log]})
        if path == "/_emulator/requests":
            total, records = emu.traffic.since(int(request.url.params.get("since", "0") or 0))
            rows = [dataclasses.asdict(r) for r in records]
            return json_response(200, {"total": total, "requests": rows})
        m = _TRUTH.fullmatch(path)
        if m is not None:
            user_id = int(m["id"])
            truth = emu.truth_followers if m["kind"] == "followers" else emu.truth_following
            ids = truth(user_id)
            return json_response(200, {"user_id": user_id, "count": len(ids), "ids": ids})
    elif method == "POST":
        body = _body(request)
        if path == "/_emulator/faults":
            spec = body.get("spec")
            if spec is not None and not isinstance(spec, str):
                raise AdminError("spec must be a string or null")
            try:
                emu.set_faults(spec)
            except ValueError as error:
                raise AdminError(str(error)) from None
            return json_response(200, {"faults": spec})
        if path == "/_emulator/clock/advance":
            seconds = body.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise AdminError("seconds must be a number >= 0")
            emu.advance(float(seconds))
            return json_response(200, {"now": emu.clock()})
        if path == "/_emulator/churn":
            gained, lost = emu.churn_now(
                _int(body, "user_id"), _int(body, "gained"), _int(body, "lost")
            )
            return json_response(200, {"gained": gained, "lost": lost})
        if path == "/_emulator/day-cap":
            kind, principal_kind = body.get("kind"), body.get("principal_kind")
            if not isinstance(kind, str) or not isinstance(principal_kind, str):
                raise AdminError("kind and principal_kind must be strings")
            emu.set_day_cap(kind, principal_kind, _int(body, "limit"))
            return json_response(200, {"kind": kind, "principal_kind": principal_kind})
        if path == "/_emulator/approve":
            approved = emu.approve_pending(_int(body, "source_id"), _int(body, "target_id"))
            return json_response(200, {"approved": approved})
    return json_response(404, {"error": f"no admin route {method} {path}"})
