"""A follow or unfollow is re-sent only when the request provably never left.

After a timeout, reset or cut-short answer the action may have been carried out, and a
second request would be a second action in X's log (the emulator logs it as
`already_following`); the campaign asks X about the relationship instead.
"""

from __future__ import annotations

import httpx
import pytest

from followflow.clock import ManualClock
from followflow.xapi.errors import TransportError
from tests.xapi.scripted import Script, reply, scripted_client

FOLLOWED = {"data": {"following": True, "pending_follow": False}}
UNFOLLOWED = {"data": {"following": False}}


@pytest.mark.parametrize(
    "fault",
    [
        httpx.ReadTimeout("slow"),
        httpx.ReadError("reset by peer"),
        httpx.RemoteProtocolError("peer closed"),
        httpx.WriteTimeout("stalled"),
    ],
    ids=["read-timeout", "read-reset", "incomplete", "write-timeout"],
)
def test_a_write_that_may_have_landed_is_not_resent(clock: ManualClock, fault: Exception) -> None:
    for action in ("follow", "unfollow"):
        script = Script(fault, reply(200, FOLLOWED))
        client = scripted_client(script, clock)
        with pytest.raises(TransportError, match="not re-sent"):
            client.follow(1, 2) if action == "follow" else client.unfollow(1, 2)
        assert len(script.requests) == 1


def test_a_cut_short_follow_answer_is_not_resent(clock: ManualClock) -> None:
    cut = httpx.Response(200, content=b'{"data": {"follow')
    script = Script(cut, reply(200, FOLLOWED))
    with pytest.raises(TransportError, match="not re-sent"):
        scripted_client(script, clock).follow(1, 2)
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "fault",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("no answer"), reply(503, {})],
    ids=["connect-refused", "connect-timeout", "http-503"],
)
def test_a_write_that_never_arrived_or_was_refused_is_retried(
    clock: ManualClock, fault: Exception | httpx.Response
) -> None:
    script = Script(fault, reply(200, UNFOLLOWED))
    assert scripted_client(script, clock).unfollow(1, 2).following is False
    assert len(script.requests) == 2
