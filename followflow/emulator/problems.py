"""Error bodies, exactly as observed from X where an observation exists (REFERENCE §2).

Where X's text is unknown (REFERENCE §2.4, §8.10), the body is chosen here and marked
"chosen": following yourself and following a suspended account answer 403 with the
generic Forbidden shape and a specific `detail`; a missing OAuth 2.0 scope answers the
generic 403. The problem `type` host is the preset's, on every body (REFERENCE §8.2):
v2-2023 uses api.twitter.com, as every recorded body does; v2-2026 uses api.x.com, as the
2.167 spec and the 2026 docs do. It never depends on how a request spells its fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from followflow.emulator.fields import ParamError

JSON = dict[str, Any]
OLD_HOST = "https://api.twitter.com/2/problems/"
NEW_HOST = "https://api.x.com/2/problems/"


def problem_type(name: str, new_generation: bool) -> str:
    return (NEW_HOST if new_generation else OLD_HOST) + name


def invalid_request(errors: Sequence[ParamError], new_generation: bool) -> JSON:
    """400: one entry per bad parameter (observed shape: no `status` key)."""
    return {
        "errors": [e.as_json() for e in errors],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": problem_type("invalid-request", new_generation),
    }


def not_found(param: str, value: str, new_generation: bool) -> JSON:
    """A `Not Found Error` entry, for a 200 body's `errors` list."""
    return {
        "value": value,
        "detail": f"Could not find user with {param}: [{value}].",
        "title": "Not Found Error",
        "resource_type": "user",
        "parameter": param,
        "resource_id": value,
        "type": problem_type("resource-not-found", new_generation),
    }


def suspended(param: str, value: str, new_generation: bool) -> JSON:
    """A suspended user in a lookup: the same shape as not-found with title Forbidden."""
    return {
        "value": value,
        "detail": f"User has been suspended: [{value}].",
        "title": "Forbidden",
        "resource_type": "user",
        "parameter": param,
        "resource_id": value,
        "type": problem_type("resource-not-found", new_generation),
    }


UNAUTHORIZED: JSON = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}


def unsupported_authentication(new_generation: bool) -> JSON:
    """403 for app-only on a user-context endpoint (observed; two spaces after "endpoint.")."""
    return {
        "title": "Unsupported Authentication",
        "detail": (
            "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  "
            "Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context]."
        ),
        "type": problem_type("unsupported-authentication", new_generation),
        "status": 403,
    }


TOO_MANY_REQUESTS: JSON = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}

NOT_PERMITTED = "You are not permitted to perform this action."
CANNOT_FOLLOW_SELF = "You cannot follow yourself."  # chosen
CANNOT_FOLLOW_SUSPENDED = "You cannot follow an account that is suspended."  # chosen


def forbidden(detail: str = NOT_PERMITTED) -> JSON:
    """403 Forbidden; detail "Forbidden" is the body recorded for a missing OAuth 2.0 scope."""
    return {"detail": detail, "type": "about:blank", "title": "Forbidden", "status": 403}


def route_not_found() -> JSON:
    """An unknown route, or a method the route does not declare: X's edge, v1.1 shape.

    Chosen for undeclared methods (TRACE, OPTIONS, PUT, ...): X's answer to them was never
    recorded; it is a JSON 4xx either way, never an HTML page.
    """
    return {"errors": [{"message": "Sorry, that page does not exist", "code": 34}]}


def server_error(status: int, title: str) -> JSON:
    return {"title": title, "detail": title, "type": "about:blank", "status": status}
