"""The slot client's transport: a busy server's 503 is re-sent at once, within a patience.

The 503 comes from a collision in the Prefect server's SQLite, which a test cannot make
happen on cue; a scripted transport stands in for the server here (the real collisions are
exercised in tests/flows/test_limits.py and measured in bench/many_accounts.py).
"""

from __future__ import annotations

import time

import httpx

from tasks.slots import ResendWhileBusy


def scripted(statuses: list[int], sent: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        status = statuses.pop(0) if statuses else 503
        return httpx.Response(status, json={"n": len(sent)})

    return httpx.MockTransport(answer)


def test_a_busy_answer_is_sent_again_with_the_same_body() -> None:
    sent: list[httpx.Request] = []
    with httpx.Client(transport=ResendWhileBusy(scripted([503, 503, 200], sent))) as client:
        response = client.post("http://prefect.test/api/x", json={"names": ["a"]})
    assert response.status_code == 200
    assert response.json() == {"n": 3}
    assert [request.content for request in sent] == [b'{"names":["a"]}'] * 3


def test_other_answers_pass_through_untouched() -> None:
    sent: list[httpx.Request] = []
    with httpx.Client(transport=ResendWhileBusy(scripted([423], sent))) as client:
        assert client.post("http://prefect.test/api/x").status_code == 423
    assert len(sent) == 1


def test_a_server_busy_past_the_patience_gets_its_503_reported() -> None:
    sent: list[httpx.Request] = []
    transport = ResendWhileBusy(scripted([], sent), patience_s=0.3)
    started = time.monotonic()
    with httpx.Client(transport=transport) as client:
        assert client.get("http://prefect.test/api/x").status_code == 503
    assert time.monotonic() - started < 1.0
    assert 3 <= len(sent) <= 6  # 50 ms, 100 ms, 200 ms pauses with jitter within 0.3 s
