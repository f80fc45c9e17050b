"""OAuth 2.0 refresh tokens in a Prefect Secret block, refreshed by several hosts at once.

The emulator rotates refresh tokens and makes the old one single use, as X does. Three
real processes (each with a PREFECT_HOME of its own, as on separate hosts) start at the
same instant with expired access tokens in one block: two for one account, one for
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
    start_at = time.time() + 8.0  # after every child has imported Prefect and loaded its tokens
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
                [sys.executable, str(RACER), str(start_at), str(user["id"])],
                env=env,
                cwd=Path(__file__).parents[2],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = [child.communicate(timeout=120) for child in children]
    for child, (_, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
    answers = [out.split() for out, _ in results]
    assert [int(user_id) for user_id, _ in answers] == [demo["id"], demo["id"], alice["id"]]
    assert all(float(early) > 0 for _, early in answers), f"not ready in time: {answers}"

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
