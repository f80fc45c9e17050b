"""OAuth 2.0 refresh tokens in a Prefect Secret block, refreshed by several hosts at once.

The emulator rotates refresh tokens and makes the old one single use, as X does. Three
real processes (each with a PREFECT_HOME of its own, as on separate hosts) get ready, then
are let go at the same instant with expired access tokens in one block: two for one account, one for
another. Each must be answered, the account's token must be refreshed exactly once (the
second process uses the rotated token instead of spending the old one), and the block
must end with both accounts' new tokens (no process overwrote the other's save).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import World

pytestmark = [pytest.mark.usefixtures("inprocess_prefect"), pytest.mark.timeout(300)]

RACER = Path(__file__).with_name("refresh_racer.py")


def expired(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "access_token": user["oauth2_access_token"],
        "refresh_token": user["oauth2_refresh_token"],
        "expires_at": time.time() - 60,
        "scope": "tweet.read users.read follows.read follows.write offline.access",
        "user_id": user["id"],
        "username": user["username"],
    }


def block_document(name: str) -> dict[str, Any]:
    from prefect.blocks.system import Secret

    value = Secret.load(name, _sync=True).get()  # type: ignore[call-arg,union-attr]
    return json.loads(value) if isinstance(value, str) else value  # Prefect parses JSON text


def test_hosts_refreshing_one_account_at_once_spend_its_refresh_token_once(
    world_factory: Any, tmp_path: Path
) -> None:
    from prefect.blocks.system import Secret

    world: World = world_factory()
    demo, alice = world.user("ff_demo"), world.user("ff_alice")
    block = f"x-tokens-race-{uuid.uuid4().hex[:8]}"
    document = {"default": str(demo["id"]), "accounts": {}}
    for user in (demo, alice):
        document["accounts"][str(user["id"])] = expired(user)
    Secret(value=json.dumps(document)).save(block)
    go = tmp_path / "go"
    children = []
    for n, user in enumerate((demo, demo, alice)):
        env = world.env(
            FOLLOWFLOW_BEARER_TOKEN="",
            FOLLOWFLOW_CONSUMER_KEY="",
            FOLLOWFLOW_CONSUMER_SECRET="",
            FOLLOWFLOW_ACCESS_TOKEN="",
            FOLLOWFLOW_ACCESS_TOKEN_SECRET="",
            FOLLOWFLOW_CLIENT_ID=world.manifest["app"]["client_id"],
            FOLLOWFLOW_TOKEN_STORE_BLOCK=block,
            PREFECT_HOME=str(tmp_path / f"host{n}"),
        )
        children.append(
            subprocess.Popen(
                [sys.executable, str(RACER), str(tmp_path / f"ready{n}"), str(go), str(user["id"])],
                env=env,
                cwd=Path(__file__).parents[2],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 120  # each child imports Prefect and loads its tokens
    while not all((tmp_path / f"ready{n}").exists() for n in range(len(children))):
        assert all(child.poll() is None for child in children), [c.communicate() for c in children]
        assert time.monotonic() < deadline, "the children did not get ready in 120 s"
        time.sleep(0.05)
    go.touch()  # all three send their first request within a few milliseconds of this
    results = [child.communicate(timeout=120) for child in children]
    for child, (_, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
    assert [int(out) for out, _ in results] == [demo["id"], demo["id"], alice["id"]]

    refreshes = [r for r in world.admin.requests() if r["path"] == "/2/oauth2/token"]
    assert len(refreshes) == 2, refreshes  # one per account, none refused
    assert all(r["status"] == 200 for r in refreshes)
    stored = block_document(block)["accounts"]
    for user in (demo, alice):
        tokens = stored[str(user["id"])]
        assert tokens["refresh_token"] != user["oauth2_refresh_token"]
        assert tokens["expires_at"] > time.time() + 3600
        # The rotated refresh token the block holds is the live one.
        assert world.emulator.registry.refresh(tokens["refresh_token"], time.time()) is not None
