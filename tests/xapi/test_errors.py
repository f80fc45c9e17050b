"""X's observed error bodies (REFERENCE §2.3) end in the right typed error, fields kept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from followflow.clock import ManualClock
from followflow.xapi.errors import (
    BadRequest,
    Forbidden,
    InvalidPaginationToken,
    NotFound,
    Unauthorized,
    UserNotFound,
    UserSuspended,
    XAPIError,
)
from tests.shared import xapi_file
from tests.xapi.scripted import Script, reply, scripted_client, users


def observed(case_prefix: str) -> dict[str, Any]:
    """The body of the first observed error whose case starts with `case_prefix`."""
    observed_errors = xapi_file("fixtures/observed-errors.json")
    for item in json.loads(observed_errors.read_text())["errors"]:
        if item["case"].startswith(case_prefix) and isinstance(item.get("body"), dict):
            return dict(item["body"])
    raise AssertionError(f"no observed error case starts with {case_prefix!r}")


@pytest.mark.parametrize(
    ("case", "status", "error", "title"),
    [
        ("401 bad/missing credentials", 401, Unauthorized, "Unauthorized"),
        ("403 app-only bearer", 403, Forbidden, "Unsupported Authentication"),
        ("403 app not in Project", 403, Forbidden, "Client Forbidden"),
        ("403 generic", 403, Forbidden, "Forbidden"),
        ("403 OAuth1 token lacks write", 403, Forbidden, "Forbidden"),
        ("400 invalid request: unknown query", 400, BadRequest, "Invalid Request"),
    ],
)
def test_observed_bodies_map_to_typed_errors(
    clock: ManualClock, case: str, status: int, error: type[XAPIError], title: str
) -> None:
    body = observed(case)
    script = Script(reply(status, body))
    with pytest.raises(error) as caught:
        scripted_client(script, clock).follow(1, 2)
    raised = caught.value
    assert type(raised) is error
    assert raised.status_code == status
    assert (raised.type, raised.title, raised.detail) == (
        body.get("type"),
        body.get("title"),
        body.get("detail"),
    )
    assert title in str(raised) and "POST /2/users/1/following" in str(raised)
    assert not raised.retryable
    assert len(script.requests) == 1


def test_rejected_pagination_token_is_its_own_bad_request(clock: ManualClock) -> None:
    message = (
        "The `pagination_token` query parameter value [ABCDEFGHIJKLMNOP] is not a valid token."
    )
    body = {
        "errors": [{"parameters": {"pagination_token": ["ABCDEFGHIJKLMNOP"]}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }
    script = Script(reply(400, body))
    with pytest.raises(InvalidPaginationToken) as caught:
        scripted_client(script, clock).get_page(
            "followers", 42, pagination_token="ABCDEFGHIJKLMNOP"
        )
    assert isinstance(caught.value, BadRequest)
    assert caught.value.title == "Invalid Request"


def test_404_and_unknown_status(clock: ManualClock) -> None:
    script = Script(reply(404, {"title": "Not Found Error", "type": "about:blank"}), reply(418))
    client = scripted_client(script, clock)
    with pytest.raises(NotFound):
        client.me()
    with pytest.raises(XAPIError) as caught:
        client.me()
    assert caught.value.status_code == 418


def test_v1_style_error_body_keeps_its_message(clock: ManualClock) -> None:
    script = Script(reply(400, {"errors": [{"code": 214, "message": "Bad thing"}]}))
    with pytest.raises(BadRequest) as caught:
        scripted_client(script, clock).me()
    assert caught.value.problem is not None and caught.value.problem.code == 214
    assert "Bad thing" in str(caught.value)


def test_unknown_account_listing_is_user_not_found(clock: ManualClock) -> None:
    body = observed("200 user lookup by id, unknown id")
    with pytest.raises(UserNotFound) as caught:
        scripted_client(Script(reply(200, body)), clock).get_page("followers", 2244994946)
    assert caught.value.detail == "Could not find user with id: [2244994946]."


def test_suspended_account_listing_is_user_suspended(clock: ManualClock) -> None:
    body = {
        "errors": [
            {
                "value": "17",
                "detail": "User has been suspended: [17].",
                "title": "Forbidden",
                "resource_type": "user",
                "parameter": "id",
                "resource_id": "17",
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            }
        ]
    }
    with pytest.raises(UserSuspended):
        scripted_client(Script(reply(200, body)), clock).get_page("following", 17)


def test_lookup_splits_by_100_and_reports_missing(clock: ManualClock) -> None:
    missing = observed("200 user lookup by id, unknown id")["errors"][0]

    def answer(request: Any) -> Any:
        ids = [int(i) for i in request.url.params["ids"].split(",")]
        return reply(
            200, {"data": users(*ids[:-1]), "errors": [dict(missing, resource_id=str(ids[-1]))]}
        )

    script = Script(answer, answer, answer)
    result = scripted_client(script, clock).lookup_users(list(range(1, 251)))
    assert [len(r.url.params["ids"].split(",")) for r in script.requests] == [100, 100, 50]
    assert len(result.users) == 247
    assert [p.resource_id for p in result.missing] == ["100", "200", "250"]
    assert {p.account_state for p in result.missing} == {"deactivated"}


def test_lookup_usernames(clock: ManualClock) -> None:
    body = observed("200 single-user lookup, unknown username")
    script = Script(reply(200, {"data": users(7), **body}))
    result = scripted_client(script, clock).lookup_usernames(["u7", "nonexist"])
    assert script.requests[0].url.path == "/2/users/by"
    assert script.requests[0].url.params["usernames"] == "u7,nonexist"
    assert [u.username for u in result.users] == ["u7"]
    assert result.missing[0].value == "nonexist"
