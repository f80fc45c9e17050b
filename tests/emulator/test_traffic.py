"""The request log behind `GET /_emulator/requests`: every answer and every 429, per client."""

from __future__ import annotations

import httpx

from followflow.clock import ManualClock
from followflow.emulator import Emulator, EmulatorServer
from followflow.emulator.traffic import Traffic


def test_requests_and_429s_are_logged_with_group_status_and_client(
    emulator: Emulator, emulator_server: EmulatorServer, clock: ManualClock
) -> None:
    demo = emulator.account("ff_demo")
    headers = {"Authorization": f"Bearer {emulator.app.bearer_token}", "User-Agent": "bench/1"}
    with httpx.Client(base_url=emulator_server.base_url, headers=headers) as client:
        statuses = [client.get(f"/2/users/{demo.id}/followers").status_code for _ in range(16)]
        client.get("/2/users/by/username/ff_demo", headers={"User-Agent": "other/2"})
        client.get("/2/nowhere")
        body = client.get("/_emulator/requests").json()  # admin calls are not logged
        later = client.get("/_emulator/requests", params={"since": 17}).json()
    assert statuses == [200] * 15 + [429]
    assert body["total"] == 18
    rows = body["requests"]
    assert [r["seq"] for r in rows] == list(range(18))
    assert [r["status"] for r in rows[:16]] == [200] * 15 + [429]
    assert {r["group"] for r in rows[:16]} == {"followers"}
    assert {r["client"] for r in rows[:16]} == {"bench/1"}
    assert rows[16]["group"] == "lookup" and rows[16]["client"] == "other/2"
    assert rows[17]["group"] is None and rows[17]["status"] == 404
    assert all(r["at"] == clock() and r["method"] == "GET" for r in rows)
    assert later == {"total": 18, "requests": [rows[17]]}
    assert emulator.app.bearer_token not in str(body)


def test_the_log_is_bounded_but_the_total_keeps_counting() -> None:
    traffic = Traffic(max_records=3)
    for i in range(5):
        traffic.record(float(i), "GET", "followers", 200, "c")
    total, records = traffic.since(0)
    assert total == 5
    assert [r.seq for r in records] == [2, 3, 4]
    assert traffic.since(4)[1][0].at == 4.0
