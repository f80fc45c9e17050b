"""The retry loop: every 429 kind, 5xx, timeouts, resets and truncated bodies, all bounded."""

from __future__ import annotations

import logging

import httpx
import pytest

from followflow.clock import ManualClock
from followflow.xapi.errors import (
    DailyCapReached,
    RateLimited,
    RateLimitUnknown,
    ServerError,
    TransportError,
    UsageCapExceeded,
)
from followflow.xapi.ratelimit import FOLLOW, FOLLOWERS
from tests.xapi.scripted import Script, reply, scripted_client, users

PAGE = {"data": users(1, 2), "meta": {"result_count": 2}}
TOO_MANY = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank"}
FOLLOWED = {"data": {"following": True, "pending_follow": False}}


def test_429_without_reset_backs_off_boundedly_then_raises(clock: ManualClock) -> None:
    script = Script(*[reply(429, TOO_MANY, x_rate_limit_remaining=0)] * 10)
    client = scripted_client(script, clock, max_retries=3, backoff_base_s=1.0, backoff_max_s=8.0)
    with pytest.raises(RateLimitUnknown) as caught:
        client.get_page("followers", 42)
    assert len(script.requests) == 4  # 1 + max_retries, never a hot loop
    assert len(clock.slept) == 3
    # jittered exponential backoff: each delay in [d/2, d] for d = 1, 2, 4
    for slept, full in zip(clock.slept, (1.0, 2.0, 4.0), strict=True):
        assert full / 2 <= slept <= full
    assert caught.value.retryable
    assert caught.value.title == "Too Many Requests"


def test_429_without_any_header_is_bounded_too(clock: ManualClock) -> None:
    script = Script(*[reply(429, TOO_MANY)] * 10)
    with pytest.raises(RateLimitUnknown):
        scripted_client(script, clock, max_retries=2).get_page("followers", 42)
    assert len(script.requests) == 3


def test_429_without_remaining_waits_for_reset(clock: ManualClock) -> None:
    reset = clock.now + 300
    script = Script(reply(429, TOO_MANY, x_rate_limit_reset=int(reset)), reply(200, PAGE))
    page = scripted_client(script, clock).get_page("followers", 42)
    assert page.user_ids.to_pylist() == [1, 2]
    assert clock.slept == [pytest.approx(300.5)]
    assert clock.now >= reset


def test_window_429_waits_until_reset(clock: ManualClock) -> None:
    reset = int(clock.now) + 600
    spent = reply(
        429, TOO_MANY, x_rate_limit_limit=15, x_rate_limit_remaining=0, x_rate_limit_reset=reset
    )
    script = Script(spent, reply(200, PAGE, x_rate_limit_remaining=14, x_rate_limit_reset=reset))
    scripted_client(script, clock).get_page("followers", 42)
    assert len(script.requests) == 2
    assert clock.now >= reset


def test_window_429_beyond_wait_cap_raises_with_reset(clock: ManualClock) -> None:
    reset = int(clock.now) + 2000
    script = Script(reply(429, TOO_MANY, x_rate_limit_remaining=0, x_rate_limit_reset=reset))
    with pytest.raises(RateLimited) as caught:
        scripted_client(script, clock, max_rate_limit_wait_s=960).get_page("followers", 42)
    assert caught.value.reset_at == reset
    assert caught.value.retryable
    assert clock.slept == []


def test_24h_cap_429_with_window_calls_left_raises_without_retry(clock: ManualClock) -> None:
    # The one real observation (REFERENCE §3.3): 429, limit 50, remaining 49.
    reset = int(clock.now) + 700
    capped = reply(
        429, TOO_MANY, x_rate_limit_limit=50, x_rate_limit_remaining=49, x_rate_limit_reset=reset
    )
    script = Script(*[capped] * 5)
    with pytest.raises(DailyCapReached) as caught:
        scripted_client(script, clock).follow(1, 2)
    assert len(script.requests) == 1
    assert clock.slept == []
    assert not caught.value.retryable
    assert caught.value.cap == "unknown"
    assert caught.value.reset_at == pytest.approx(clock.now + 86_400)


def test_24h_cap_429_with_headers_names_the_cap_and_reset(clock: ManualClock) -> None:
    day_reset = int(clock.now) + 50_000
    capped = reply(
        429,
        TOO_MANY,
        x_rate_limit_limit=50,
        x_rate_limit_remaining=30,
        x_rate_limit_reset=int(clock.now) + 100,
        x_user_limit_24hour_limit=400,
        x_user_limit_24hour_remaining=12,
        x_user_limit_24hour_reset=day_reset - 10,
        x_app_limit_24hour_limit=1000,
        x_app_limit_24hour_remaining=0,
        x_app_limit_24hour_reset=day_reset,
    )
    script = Script(capped)
    with pytest.raises(DailyCapReached) as caught:
        scripted_client(script, clock).follow(1, 2)
    assert (caught.value.cap, caught.value.reset_at) == ("app", day_reset)
    assert "app 24-hour cap" in str(caught.value)


def test_spent_app_cap_stops_the_next_follow_before_sending(clock: ManualClock) -> None:
    day_reset = int(clock.now) + 40_000
    last = reply(
        200,
        FOLLOWED,
        x_rate_limit_remaining=40,
        x_rate_limit_reset=int(clock.now) + 900,
        x_app_limit_24hour_limit=1000,
        x_app_limit_24hour_remaining=0,
        x_app_limit_24hour_reset=day_reset,
    )
    script = Script(last)
    client = scripted_client(script, clock)
    assert client.follow(1, 2).following
    with pytest.raises(DailyCapReached) as caught:
        client.follow(1, 3)
    assert len(script.requests) == 1  # the second follow was never sent
    assert caught.value.cap == "app"
    assert caught.value.reset_at == day_reset
    assert caught.value.status_code is None
    # Once the day is over, the bucket is usable again.
    clock.advance(40_001)
    script.steps.append(reply(200, FOLLOWED))
    assert client.follow(1, 3).following


def test_app_cap_is_shared_between_principals(clock: ManualClock) -> None:
    from followflow.xapi.ratelimit import Bucket, RateLimitState

    state = RateLimitState()
    headers = httpx.Headers(
        {"x-app-limit-24hour-remaining": "0", "x-app-limit-24hour-reset": "9e12"}
    )
    state.update(Bucket(FOLLOW, "user-1"), headers)
    assert state.spent_daily(Bucket(FOLLOW, "user-2"), clock.now) is not None
    assert state.spent_daily(Bucket(FOLLOWERS, "user-2"), clock.now) is None


def test_known_empty_bucket_waits_before_sending(clock: ManualClock) -> None:
    reset = int(clock.now) + 120
    script = Script(
        reply(200, PAGE, x_rate_limit_limit=15, x_rate_limit_remaining=0, x_rate_limit_reset=reset),
        lambda request: reply(200, PAGE) if clock.now >= reset else reply(429, TOO_MANY),
    )
    client = scripted_client(script, clock)
    client.get_page("followers", 42)
    client.get_page("followers", 42)
    assert len(script.requests) == 2
    assert clock.slept == [pytest.approx(120.5)]
    window = client.rate_limits.get(client.bucket(FOLLOWERS))
    assert window is not None and not window.exhausted(clock.now)  # its reset has passed


def test_known_empty_bucket_beyond_cap_raises_without_sending(clock: ManualClock) -> None:
    reset = int(clock.now) + 5000
    script = Script(reply(200, PAGE, x_rate_limit_remaining=0, x_rate_limit_reset=reset))
    client = scripted_client(script, clock)
    client.get_page("followers", 42)
    with pytest.raises(RateLimited) as caught:
        client.get_page("followers", 42)
    assert caught.value.reset_at == reset
    assert len(script.requests) == 1


def test_repeated_window_429s_are_bounded(clock: ManualClock) -> None:
    # A server that keeps answering 429 with a reset in the past must not trap the client.
    script = Script(
        *[
            lambda r: reply(
                429, TOO_MANY, x_rate_limit_remaining=0, x_rate_limit_reset=int(clock.now) - 1
            )
        ]
        * 20
    )
    with pytest.raises(RateLimited):
        scripted_client(script, clock, max_window_waits=3).get_page("followers", 42)
    assert len(script.requests) == 4


def test_usage_cap_is_not_retried(clock: ManualClock) -> None:
    body = {
        "title": "UsageCapExceeded",
        "period": "Monthly",
        "scope": "Product",
        "detail": "Usage cap exceeded: Monthly product cap",
        "type": "https://api.twitter.com/2/problems/usage-capped",
    }
    script = Script(reply(429, body))
    with pytest.raises(UsageCapExceeded) as caught:
        scripted_client(script, clock).get_page("followers", 42)
    assert len(script.requests) == 1
    assert caught.value.detail == "Usage cap exceeded: Monthly product cap"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_then_succeeds(clock: ManualClock, status: int) -> None:
    script = Script(reply(status, {"title": "x"}), reply(status, None), reply(200, PAGE))
    assert scripted_client(script, clock).get_page("followers", 42).result_count == 2
    assert len(clock.slept) == 2


def test_5xx_forever_raises_server_error(clock: ManualClock) -> None:
    script = Script(*[httpx.Response(503, text="<html>busy</html>")] * 10)
    with pytest.raises(ServerError) as caught:
        scripted_client(script, clock, max_retries=2).get_page("followers", 42)
    assert caught.value.status_code == 503 and caught.value.retryable
    assert len(script.requests) == 3


@pytest.mark.parametrize(
    "fault",
    [
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.ConnectError("reset by peer"),
        httpx.ReadError("connection reset"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        httpx.Response(200, content=b'{"data":[{"id":"1","name":"a","usern'),  # truncated
    ],
    ids=[
        "read-timeout",
        "connect-timeout",
        "connect-reset",
        "read-reset",
        "incomplete",
        "truncated",
    ],
)
def test_transient_faults_are_retried(
    clock: ManualClock, fault: Exception | httpx.Response
) -> None:
    script = Script(fault, reply(200, PAGE))
    page = scripted_client(script, clock).get_page("followers", 42)
    assert page.user_ids.to_pylist() == [1, 2]
    assert len(clock.slept) == 1


def test_transient_faults_forever_raise_transport_error(clock: ManualClock) -> None:
    script = Script(*[httpx.ReadTimeout("slow")] * 10)
    with pytest.raises(TransportError) as caught:
        scripted_client(script, clock, max_retries=3).get_page("followers", 42)
    assert caught.value.retryable
    assert len(script.requests) == 4
    assert "ReadTimeout" in str(caught.value)


def test_backoff_is_capped(clock: ManualClock) -> None:
    script = Script(*[reply(500)] * 9)
    with pytest.raises(ServerError):
        scripted_client(script, clock, max_retries=8, backoff_max_s=5.0).get_page("followers", 1)
    assert max(clock.slept) <= 5.0


def test_every_wait_is_logged_with_reason_and_length(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    reset = int(clock.now) + 60
    script = Script(
        reply(503),
        httpx.ReadTimeout("slow"),
        reply(429, TOO_MANY, x_rate_limit_remaining=0, x_rate_limit_reset=reset),
        reply(429, TOO_MANY),
        reply(200, PAGE),
    )
    with caplog.at_level(logging.INFO, logger="followflow.xapi"):
        scripted_client(script, clock).get_page("followers", 42)
    waits = [r.getMessage() for r in caplog.records if r.name == "followflow.xapi"]
    assert len(waits) == len(clock.slept) == 4
    for message, slept in zip(waits, clock.slept, strict=True):
        assert message.startswith(f"waiting {slept:.2f} s: ")
    assert "HTTP 503" in waits[0]
    assert "ReadTimeout" in waits[1]
    assert "15-minute window" in waits[2]
    assert "without x-rate-limit-reset" in waits[3]
    assert all("x:followers:app" in m for m in waits)
