"""The X API v2 follows surface: one function per endpoint (REFERENCE §1).

Each handler gets the request, the authenticated principal and the path match, and
returns a `Reply`; app.py has already checked auth and the 15-minute window, and adds the
rate-limit headers. Handlers validate like X: every bad parameter is one entry of a 400
Invalid Request body; an unknown user is 200 with a `Not Found Error` entry.

Choices where X's behaviour is not known (REFERENCE §2.4, §8.9): a path id that is not
the authenticated user is 400 invalid-request with the observed message; following
yourself or a suspended account is 403 (see problems.py); following an unknown or
deactivated id is 200 with a `Not Found Error` entry and no `data`; unfollowing one is a
no-op success. Followers and following of a protected user are served to anyone (X would
refuse non-followers).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import orjson

from followflow.emulator import problems
from followflow.emulator.auth import Principal, read_body
from followflow.emulator.fields import ParamError, Selection, parse
from followflow.emulator.limits import RateLimiter, day_headers
from followflow.emulator.paging import Cursor, Tokens, read_page
from followflow.emulator.prefetch import Prefetcher
from followflow.emulator.profiles import Profiles
from followflow.emulator.serialize import JSON_TYPE, PROBLEM_TYPE, dumps
from followflow.emulator.state import ActionRecord, State
from followflow.emulator.world import World

ID_PATTERN = "^[0-9]{1,19}$"
USERNAME_PATTERN = "^[A-Za-z0-9_]{1,15}$"
_ID = re.compile(r"[0-9]{1,19}")
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,15}")
LIST_PARAMS = ("max_results", "pagination_token")
FIELD_NAMES = ("expansions", "tweet.fields", "post.fields", "user.fields")
JSONDict = dict[str, Any]


@dataclass
class Reply:
    """What a handler answers; app.py turns it into an httpx.Response."""

    status: int
    body: Any
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    after: Callable[[], None] | None = None  # work to do once the response is sent


@dataclass
class Services:
    """Everything the handlers read and change."""

    world: World
    state: State
    profiles: Profiles
    tokens: Tokens
    limiter: RateLimiter
    clock: Callable[[], float]
    new_problems: bool  # preset v2-2026: problem types on api.x.com, whatever the request
    lock: threading.RLock
    prefetch: Prefetcher[tuple[bytes, Cursor | None]] | None = None  # on over loopback only


Handler = Callable[[Services, httpx.Request, Principal, "re.Match[str]"], Reply]


def _bad(svc: Services, errors: list[ParamError]) -> Reply:
    return Reply(400, problems.invalid_request(errors, svc.new_problems))


def _pattern_error(name: str, value: str, pattern: str) -> ParamError:
    return ParamError(
        name, value, f"The `{name}` query parameter value [{value}] does not match {pattern}"
    )


def _viewer(svc: Services, principal: Principal) -> int | None:
    return None if principal.user_id is None else svc.world.index_of_id(principal.user_id)


def _render(
    svc: Services, indices: list[int], sel: Selection, principal: Principal
) -> tuple[list[JSONDict], list[JSONDict]]:
    viewer = _viewer(svc, principal)
    relation = None
    if viewer is not None and "connection_status" in sel.user_fields:
        state = svc.state

        def relation(index: int) -> list[str]:
            return state.relation(viewer, index)

    return svc.profiles.render(indices, sel, svc.state.changed, relation)


def _missing_user(
    svc: Services, index: int | None, param: str, value: str, new: bool
) -> JSONDict | None:
    """The error entry for a user that cannot be shown, or None if it can."""
    if index is None:
        return problems.not_found(param, value, new)
    status = svc.state.status_of(index)
    if status == "suspended":
        return problems.suspended(param, value, new)
    if status == "deactivated":
        return problems.not_found(param, value, new)
    return None


# --- followers / following -------------------------------------------------------------------
def user_list(kind: Literal["followers", "following"]) -> Handler:
    """GET /2/users/:id/followers or /following."""

    def handler(
        svc: Services, request: httpx.Request, principal: Principal, m: re.Match[str]
    ) -> Reply:
        path_id = m["id"]
        listed = ("id", *LIST_PARAMS, *FIELD_NAMES)
        sel, others, errors = parse(request.url.params, LIST_PARAMS, listed)
        if not _ID.fullmatch(path_id):
            errors.insert(0, _pattern_error("id", path_id, ID_PATTERN))
        n = 100  # X's default page size (REFERENCE §1.2)
        raw_max = others.get("max_results")
        if raw_max is not None:
            if raw_max.isdigit() and 1 <= int(raw_max) <= 1000:
                n = int(raw_max)
            else:
                message = (
                    f"The `max_results` query parameter value [{raw_max}] is not between 1 and 1000"
                )
                errors.append(ParamError("max_results", raw_max, message))
        list_key = f"{kind}:{path_id}"
        cursor = None
        token = others.get("pagination_token")
        if token is not None:
            cursor = svc.tokens.decode(list_key, token)
            if cursor is None:
                message = (
                    f"The `pagination_token` query parameter value [{token}] is not a valid token."
                )
                errors.append(ParamError("pagination_token", token, message))
        if errors:
            return _bad(svc, errors)
        new = svc.new_problems
        index = svc.world.index_of_id(int(path_id))
        missing = _missing_user(svc, index, "id", path_id, new)
        if missing is not None or index is None:
            return Reply(200, {"errors": [missing]})
        state = svc.state
        edges = state.followers(index) if kind == "followers" else state.following(index)
        prefetch = svc.prefetch
        # A page's bytes depend on the list, the cursor, the size, the fields and (only for
        # connection_status) who asks: that is the prefetch key.
        asker = principal.user_id if "connection_status" in sel.user_fields else None
        shape = (sel.user_fields, sel.post_fields, sel.expansions, sel.new_generation, asker)
        ready = (
            None if prefetch is None else prefetch.take((list_key, cursor, n, shape), state.version)
        )
        if ready is not None:
            body, following = ready
        else:
            indices, meta, following = read_page(
                edges, cursor, n, state.hidden, svc.tokens, list_key
            )
            body = _list_body(svc, indices, meta, sel, principal)
        if prefetch is None or following is None:
            return Reply(200, body)
        next_page: Cursor = following

        def schedule() -> None:
            # Runs after this response is written (see server.py), so the render does not
            # hold the GIL while this one is still being sent.
            with svc.lock:
                indices, meta, after = read_page(
                    edges, next_page, n, state.hidden, svc.tokens, list_key
                )
                version = state.version

            def render() -> tuple[bytes, Cursor | None]:
                return _list_body(svc, indices, meta, sel, principal), after

            prefetch.schedule((list_key, next_page, n, shape), version, render)

        return Reply(200, body, after=schedule)

    return handler


def _list_body(
    svc: Services, indices: list[int], meta: JSONDict, sel: Selection, principal: Principal
) -> bytes:
    body: JSONDict = {}
    if indices:
        users, posts = _render(svc, indices, sel, principal)
        body["data"] = users
        if posts:
            body["includes"] = {sel.includes_key: posts}
    body["meta"] = meta
    return dumps(body)


# --- follow / unfollow -----------------------------------------------------------------------
def _principal_name(principal: Principal) -> str:
    return f"{principal.method}:{principal.user_id if principal.user_id is not None else 'app'}"


def _log(
    svc: Services,
    principal: Principal,
    action: Literal["follow", "unfollow"],
    source: int,
    target: int,
    result: str,
) -> None:
    svc.state.log.append(
        ActionRecord(svc.clock(), _principal_name(principal), action, source, target, result)
    )


def _mismatch(path_id: str, principal: Principal) -> ParamError:
    message = (
        f"The `id` query parameter value [{path_id}] must be the same as the "
        f"authenticating user [{principal.user_id}]"
    )
    return ParamError("id", path_id, message)


def _source_errors(
    request: httpx.Request, name: str, path_id: str, principal: Principal
) -> list[ParamError]:
    errors = []
    for key, value in request.url.params.multi_items():
        message = f"The query parameter [{key}] is not one of [{name}]"
        errors.append(ParamError(key, value, message))
    if not _ID.fullmatch(path_id):
        errors.append(_pattern_error(name, path_id, ID_PATTERN))
    elif int(path_id) != principal.user_id:
        errors.append(_mismatch(path_id, principal))
    return errors


def _target_from_body(request: httpx.Request) -> tuple[str | None, ParamError | None]:
    try:
        body = orjson.loads(read_body(request) or b"null")
    except orjson.JSONDecodeError:
        return None, ParamError("body", "", "The request body is not valid JSON")
    if not isinstance(body, dict) or "target_user_id" not in body:
        return None, ParamError("target_user_id", "", "The `target_user_id` field is required")
    extra = sorted(set(body) - {"target_user_id"})
    if extra:
        message = f"The body field [{extra[0]}] is not one of [target_user_id]"
        return None, ParamError(extra[0], str(body[extra[0]]), message)
    target = body["target_user_id"]
    if not isinstance(target, str) or not _ID.fullmatch(target):
        value = str(target)
        return None, ParamError(
            "target_user_id",
            value,
            f"The `target_user_id` field value [{value}] does not match {ID_PATTERN}",
        )
    return target, None


def follow(svc: Services, request: httpx.Request, principal: Principal, m: re.Match[str]) -> Reply:
    """POST /2/users/:id/following {"target_user_id"}."""
    path_id = m["id"]
    errors = _source_errors(request, "id", path_id, principal)
    target_raw, body_error = _target_from_body(request)
    if body_error is not None:
        errors.append(body_error)
    if errors or target_raw is None:
        return _bad(svc, errors)
    world, state, now = svc.world, svc.state, svc.clock()
    source = world.index_of_id(int(path_id))
    target = world.index_of_id(int(target_raw))
    assert source is not None  # the principal is an owned account
    user_bucket, app_bucket = principal.bucket_key, principal.app_id
    quotas = svc.limiter.day_quotas("follow", user_bucket, app_bucket, now)
    missing = _missing_user(svc, target, "target_user_id", target_raw, svc.new_problems)
    if missing is not None and missing["title"] == "Forbidden":
        _log(svc, principal, "follow", int(path_id), int(target_raw), "rejected_suspended")
        return Reply(
            403,
            problems.forbidden(problems.CANNOT_FOLLOW_SUSPENDED),
            PROBLEM_TYPE,
            day_headers(quotas),
        )
    if missing is not None or target is None:
        _log(svc, principal, "follow", int(path_id), int(target_raw), "rejected_not_found")
        return Reply(200, {"errors": [missing]}, headers=day_headers(quotas))
    if target == source:
        _log(svc, principal, "follow", int(path_id), int(target_raw), "rejected_self")
        return Reply(
            403, problems.forbidden(problems.CANNOT_FOLLOW_SELF), PROBLEM_TYPE, day_headers(quotas)
        )
    spent = [kind for kind, quota in quotas.items() if not quota.allowed]
    if spent:
        _log(svc, principal, "follow", int(path_id), int(target_raw), f"capped_{spent[0]}")
        return Reply(429, problems.TOO_MANY_REQUESTS, headers=day_headers(quotas))
    result = state.follow(source, target, svc.profiles.protected(target))
    quotas = svc.limiter.day_consume("follow", user_bucket, app_bucket, now)
    _log(svc, principal, "follow", int(path_id), int(target_raw), result)
    pending = result in ("pending_follow", "already_pending")
    data = {"following": not pending, "pending_follow": pending}
    return Reply(200, {"data": data}, headers=day_headers(quotas))


def unfollow(
    svc: Services, request: httpx.Request, principal: Principal, m: re.Match[str]
) -> Reply:
    """DELETE /2/users/:source_user_id/following/:target_user_id."""
    path_id, target_raw = m["source"], m["target"]
    errors = _source_errors(request, "source_user_id", path_id, principal)
    if not _ID.fullmatch(target_raw):
        errors.append(_pattern_error("target_user_id", target_raw, ID_PATTERN))
    if errors:
        return _bad(svc, errors)
    world, now = svc.world, svc.clock()
    source = world.index_of_id(int(path_id))
    target = world.index_of_id(int(target_raw))
    assert source is not None
    user_bucket, app_bucket = principal.bucket_key, principal.app_id
    quotas = svc.limiter.day_quotas("unfollow", user_bucket, app_bucket, now)
    spent = [kind for kind, quota in quotas.items() if not quota.allowed]
    if spent:
        _log(svc, principal, "unfollow", int(path_id), int(target_raw), f"capped_{spent[0]}")
        return Reply(429, problems.TOO_MANY_REQUESTS, headers=day_headers(quotas))
    result = "not_following" if target is None else svc.state.unfollow(source, target)
    quotas = svc.limiter.day_consume("unfollow", user_bucket, app_bucket, now)
    _log(svc, principal, "unfollow", int(path_id), int(target_raw), result)
    return Reply(200, {"data": {"following": False}}, headers=day_headers(quotas))


# --- lookups ---------------------------------------------------------------------------------
def _single(
    svc: Services,
    request: httpx.Request,
    principal: Principal,
    index: int | None,
    param: str,
    value: str,
    errors: list[ParamError],
    listed: tuple[str, ...],
) -> Reply:
    sel, _, more = parse(request.url.params, (), listed)
    errors = errors + more
    if errors:
        return _bad(svc, errors)
    missing = _missing_user(svc, index, param, value, svc.new_problems)
    if missing is not None or index is None:
        return Reply(200, {"errors": [missing]})
    users, posts = _render(svc, [index], sel, principal)
    body: JSONDict = {"data": users[0]}
    if posts:
        body["includes"] = {sel.includes_key: posts}
    return Reply(200, body)


def me(svc: Services, request: httpx.Request, principal: Principal, m: re.Match[str]) -> Reply:
    """GET /2/users/me."""
    index = _viewer(svc, principal)
    value = str(principal.user_id)
    return _single(svc, request, principal, index, "id", value, [], FIELD_NAMES)


def by_id(svc: Services, request: httpx.Request, principal: Principal, m: re.Match[str]) -> Reply:
    """GET /2/users/:id."""
    raw = m["id"]
    if not _ID.fullmatch(raw):
        return _single(
            svc,
            request,
            principal,
            None,
            "id",
            raw,
            [_pattern_error("id", raw, ID_PATTERN)],
            ("id", *FIELD_NAMES),
        )
    index = svc.world.index_of_id(int(raw))
    return _single(svc, request, principal, index, "id", raw, [], ("id", *FIELD_NAMES))


def by_username(
    svc: Services, request: httpx.Request, principal: Principal, m: re.Match[str]
) -> Reply:
    """GET /2/users/by/username/:username."""
    raw = m["username"]
    listed = ("username", *FIELD_NAMES)
    if not _USERNAME.fullmatch(raw):
        return _single(
            svc,
            request,
            principal,
            None,
            "username",
            raw,
            [_pattern_error("username", raw, USERNAME_PATTERN)],
            listed,
        )
    index = svc.world.index_of_username(raw)
    return _single(svc, request, principal, index, "username", raw, [], listed)


def _many(kind: Literal["ids", "usernames"]) -> Handler:
    def handler(
        svc: Services, request: httpx.Request, principal: Principal, m: re.Match[str]
    ) -> Reply:
        sel, others, errors = parse(request.url.params, (kind,), (kind, *FIELD_NAMES))
        raw = others.get(kind)
        values: list[str] = []
        if raw is None or raw == "":
            errors.insert(0, ParamError(kind, "", f"The `{kind}` query parameter can not be empty"))
        else:
            # The spec bounds the list as sent (maxItems 100, no uniqueItems), so a repeated
            # id counts; the answer carries each user once.
            sent = raw.split(",")
            values = list(dict.fromkeys(sent))
            if not 1 <= len(sent) <= 100:
                message = (
                    f"The number of values in the `{kind}` query parameter list "
                    f"[{len(sent)}] is not between 1 and 100"
                )
                errors.append(ParamError(kind, raw, message))
            pattern, regex = (ID_PATTERN, _ID) if kind == "ids" else (USERNAME_PATTERN, _USERNAME)
            errors.extend(
                _pattern_error(kind, v, pattern) for v in values if not regex.fullmatch(v)
            )
        if errors:
            return _bad(svc, errors)
        new = svc.new_problems
        found: list[int] = []
        missing: list[JSONDict] = []
        for value in values:
            if kind == "ids":
                index = svc.world.index_of_id(int(value))
            else:
                index = svc.world.index_of_username(value)
            entry = _missing_user(svc, index, kind, value, new)
            if entry is not None or index is None:
                missing.append(entry or problems.not_found(kind, value, new))
            else:
                found.append(index)
        body: JSONDict = {}
        if found:
            users, posts = _render(svc, found, sel, principal)
            body["data"] = users
            if posts:
                body["includes"] = {sel.includes_key: posts}
        if missing:
            body["errors"] = missing
        return Reply(200, body)

    return handler


by_ids = _many("ids")
by_usernames = _many("usernames")
