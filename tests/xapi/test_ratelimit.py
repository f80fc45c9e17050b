"""Header parsing, endpoint groups and bucket state."""

from __future__ import annotations

import httpx
import pytest

from followflow.xapi.ratelimit import (
    Bucket,
    DailyLimit,
    RateLimit,
    RateLimitState,
    group_for,
)


@pytest.mark.parametrize(
    ("method", "path", "group"),
    [
        ("GET", "/2/users/1/followers", "followers"),
        ("GET", "/2/users/1/following", "following"),
        ("POST", "/2/users/1/following", "follow"),
        ("DELETE", "/2/users/1/following/2", "unfollow"),
        ("GET", "/2/users/me", "me"),
        ("GET", "/2/users", "lookup"),
        ("GET", "/2/users/12", "lookup"),
        ("GET", "/2/users/by", "lookup"),
        ("GET", "/2/users/by/username/ff_demo", "lookup"),
    ],
)
def test_groups(method: str, path: str, group: str) -> None:
    assert group_for(method, path) == group


def test_unknown_route_has_no_group() -> None:
    with pytest.raises(ValueError):
        group_for("GET", "/2/tweets")


def test_bucket_name_is_the_concurrency_limit_name() -> None:
    assert Bucket("followers", "user-42").name == "x:followers:user-42"


def test_partial_and_bad_headers() -> None:
    assert RateLimit.from_headers(httpx.Headers({})) is None
    only_reset = RateLimit.from_headers(httpx.Headers({"x-rate-limit-reset": "1700000000"}))
    assert only_reset == RateLimit(None, None, 1_700_000_000.0)
    junk = RateLimit.from_headers(httpx.Headers({"x-rate-limit-remaining": "lots"}))
    assert junk is None
    days = DailyLimit.all_from_headers(
        httpx.Headers({"x-user-limit-24hour-remaining": "3", "x-user-limit-24hour-limit": "400"})
    )
    assert days == [DailyLimit("user", 400, 3, None)]


def test_state_keeps_known_reset_when_a_response_omits_it() -> None:
    state = RateLimitState()
    bucket = Bucket("followers", "app")
    state.update(
        bucket,
        httpx.Headers(
            {"x-rate-limit-limit": "15", "x-rate-limit-remaining": "3", "x-rate-limit-reset": "100"}
        ),
    )
    state.update(bucket, httpx.Headers({"x-rate-limit-remaining": "2"}))
    assert state.get(bucket) == RateLimit(15, 2, 100.0)
    state.mark_spent(bucket, None)
    window = state.get(bucket)
    assert window is not None and window.exhausted(99.0) and not window.exhausted(100.0)
