"""Models parse real recorded bodies; a page becomes a `users`-shaped Arrow table, by
pyarrow's JSON reader or, for bodies it cannot take, through orjson, with the same rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pytest

from followflow.xapi.models import USERS_SCHEMA, Page, User
from tests.shared import xapi_file

AT = datetime(2026, 1, 1, tzinfo=UTC)


def recorded(uri_end: str) -> dict[str, Any]:
    cassettes = xapi_file("fixtures/tweepy-cassettes-decoded.json")
    for item in json.loads(cassettes.read_text())["recorded"]:
        if item["request"]["uri"].endswith(uri_end):
            body = item["body"]
            return dict(body if isinstance(body, dict) else json.loads(body))
    raise AssertionError(uri_end)


def test_recorded_followers_page() -> None:
    body = recorded("/2/users/783214/followers")
    page = Page.from_body(
        body, kind="followers", account_id=783214, pagination_token=None, fetched_at=AT
    )
    n = len(body["data"])  # the stored fixture keeps only the first users of the page
    assert page.result_count == 100
    assert page.next_token == body["meta"]["next_token"]
    assert page.user_ids.type == pa.int64()
    assert page.user_ids.to_pylist() == [int(u["id"]) for u in body["data"]]
    fast = Page.from_json(
        orjson.dumps(body),
        kind="followers",
        account_id=783214,
        pagination_token=None,
        fetched_at=AT,
    )
    assert fast.as_arrow().equals(page.as_arrow())
    assert (fast.next_token, fast.result_count) == (page.next_token, 100)
    table = page.as_arrow()
    assert table.schema == USERS_SCHEMA
    assert table.num_rows == n
    assert table.column("user_id").to_pylist() == page.user_ids.to_pylist()
    assert set(table.column("state").to_pylist()) == {"active"}
    assert set(table.column("updated_at").to_pylist()) == {AT}


def full_user(i: int) -> dict[str, Any]:
    return {
        "id": str(1_000_000_000_000 + i),
        "name": f"Name {i} ✨",
        "username": f"user_{i}",
        "created_at": "2013-12-14T04:35:55.000Z",
        "description": "a profile description " * 6,
        "location": "Lyon",
        "url": "https://t.co/abc",
        "protected": i % 50 == 0,
        "verified": False,
        "verified_type": "none",
        "profile_image_url": (
            "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"
            if i % 10 == 0
            else "https://pbs.twimg.com/profile_images/1/x_normal.jpg"
        ),
        "public_metrics": {
            "followers_count": i,
            "following_count": 2 * i,
            "post_count": 3 * i,
            "listed_count": 1,
            "like_count": 0,
            "media_count": 0,
        },
    }


def test_profile_fields_both_spec_generations() -> None:
    raw = full_user(10)
    user = User.model_validate(raw)
    assert user.tweet_count == 30 and user.default_profile_image
    assert user.created_at == datetime(2013, 12, 14, 4, 35, 55, tzinfo=UTC)
    old = dict(
        raw,
        public_metrics={
            "followers_count": 1,
            "following_count": 2,
            "tweet_count": 3,
            "listed_count": 4,
        },
    )
    row = (
        Page.from_body(
            {"data": [old]}, kind="following", account_id=1, pagination_token=None, fetched_at=AT
        )
        .as_arrow()
        .to_pylist()[0]
    )
    assert (row["tweet_count"], row["listed_count"], row["default_profile_image"]) == (3, 4, True)
    assert row["created_at"] == datetime(2013, 12, 14, 4, 35, 55, tzinfo=UTC)


def test_empty_page() -> None:
    page = Page.from_body(
        {"meta": {"result_count": 0}},
        kind="followers",
        account_id=1,
        pagination_token=None,
        fetched_at=AT,
    )
    assert page.result_count == 0 and page.next_token is None
    assert page.as_arrow().num_rows == 0 and len(page.user_ids) == 0


def from_json(body: object) -> Page:
    return Page.from_json(
        orjson.dumps(body), kind="followers", account_id=1, pagination_token=None, fetched_at=AT
    )


def test_a_page_read_by_pyarrow_equals_the_decoded_one() -> None:
    users = [full_user(i) for i in range(1000)]
    # Fields X leaves out: no location anywhere on the page, no url for some users.
    for i, user in enumerate(users):
        user.pop("location")
        if i % 3 == 0:
            user.pop("url")
    users[1].pop("public_metrics")
    body = {"data": users, "meta": {"result_count": 1000, "next_token": "A" * 16}}
    page = from_json(body)
    decoded = Page.from_body(
        body, kind="followers", account_id=1, pagination_token=None, fetched_at=AT
    )
    assert page.as_arrow().equals(decoded.as_arrow())
    assert page.as_arrow().column("location").null_count == 1000
    assert page.as_arrow().column("followers_count").null_count == 1  # not 0: X left it out
    assert (page.next_token, page.result_count) == ("A" * 16, 1000)


def test_bodies_pyarrow_cannot_take_are_decoded_all_the_same() -> None:
    problem = {"title": "Not Found Error", "detail": "Could not find user", "type": "x"}
    with_errors = from_json({"data": [full_user(1)], "errors": [problem]})
    assert with_errors.user_ids.to_pylist() == [1_000_000_000_001]
    assert with_errors.errors[0].title == "Not Found Error"
    # One JSON document over several lines: pyarrow's reader wants one per line.
    indented = orjson.dumps({"data": [full_user(2)]}, option=orjson.OPT_INDENT_2)
    page = Page.from_json(
        indented, kind="followers", account_id=1, pagination_token=None, fetched_at=AT
    )
    assert page.user_ids.to_pylist() == [1_000_000_000_002]
    assert from_json({"meta": {"result_count": 0}}).as_arrow().num_rows == 0


@pytest.mark.parametrize("content", [b'{"data": [{"id": "1"', b"[1, 2]", b""])
def test_a_body_cut_short_is_a_value_error(content: bytes) -> None:
    with pytest.raises(ValueError):
        Page.from_json(
            content, kind="followers", account_id=1, pagination_token=None, fetched_at=AT
        )
