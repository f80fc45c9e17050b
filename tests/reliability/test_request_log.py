"""The emulator's request log names each request's path and pagination token.

The crash tests count, per token, how often a page was fetched; this checks the log
they read (GET /_emulator/requests) says which page each request asked for.
"""

from __future__ import annotations

import httpx

from followflow.emulator import Emulator, EmulatorServer


def test_request_log_has_path_and_pagination_token() -> None:
    emulator = Emulator.create(seed=1, size="demo", limits=False)
    account = emulator.account("ff_alice")
    with EmulatorServer(emulator) as server:
        headers = {"Authorization": f"Bearer {emulator.app.bearer_token}"}
        path = f"/2/users/{account.id}/followers"
        with httpx.Client(base_url=server.base_url, headers=headers) as http:
            first = http.get(path, params={"max_results": 100}).json()
            token = first["meta"]["next_token"]
            http.get(path, params={"max_results": 100, "pagination_token": token})
            log = http.get("/_emulator/requests").json()
    rows = [(r["path"], r["token"], r["status"]) for r in log["requests"]]
    assert rows == [(path, None, 200), (path, token, 200)]
    assert log["total"] == 2
