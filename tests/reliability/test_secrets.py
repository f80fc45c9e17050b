"""No configured secret appears anywhere after full runs with DEBUG logging.

Runs, each a real CLI child with every credential configured, followflow and Prefect at
DEBUG (httpx and httpcore included, on the console), Prefect's console logs shown:
a snapshot, a live follow-back, a snapshot of an unknown account (an exception's text
in a failed run), and `auth status` with expired OAuth 2.0 tokens (so it refreshes and
the rotated tokens are new secrets too). Then every secret value is searched for in: the
children's stdout and stderr; every log, flow run (name, parameters, state message),
task run (name, state message) and artifact the Prefect server holds, read back through
its API; and every row of every table of the DuckDB file.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import World, query

pytestmark = [pytest.mark.usefixtures("inprocess_prefect"), pytest.mark.timeout(600)]

PAGE = 200


def store_expired_tokens(world: World, path: Path) -> None:
    user = world.user("ff_demo")
    document = {
        "default": str(user["id"]),
        "accounts": {
            str(user["id"]): {
                "access_token": user["oauth2_access_token"],
                "refresh_token": user["oauth2_refresh_token"],
                "expires_at": time.time() - 60,
                "scope": "tweet.read users.read follows.read follows.write offline.access",
                "user_id": user["id"],
                "username": "ff_demo",
            }
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(document, fh)


def secret_values(world: World, token_store: Path) -> dict[str, str]:
    """Every configured secret, plus the OAuth 2.0 tokens the refresh rotated in."""
    app, user = world.manifest["app"], world.user("ff_demo")
    secrets = {
        "bearer token": app["bearer_token"],
        "consumer key": app["consumer_key"],
        "consumer secret": app["consumer_secret"],
        "client secret": app["client_secret"],
        "access token": user["access_token"],
        "access token secret": user["access_token_secret"],
        "OAuth 2.0 access token": user["oauth2_access_token"],
        "OAuth 2.0 refresh token": user["oauth2_refresh_token"],
    }
    stored = json.loads(token_store.read_text())["accounts"][str(user["id"])]
    assert stored["access_token"] != user["oauth2_access_token"], "auth status refreshed"
    secrets["rotated OAuth 2.0 access token"] = stored["access_token"]
    secrets["rotated OAuth 2.0 refresh token"] = stored["refresh_token"]
    # A token's tail alone would still be a leak; the client id is public by design.
    return secrets


def prefect_texts() -> Iterator[tuple[str, str]]:
    """(where, text) for everything the Prefect server holds that a secret could reach."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        offset = 0
        while batch := client.read_logs(limit=PAGE, offset=offset):
            for log in batch:
                yield f"log {log.name}", log.message
            offset += len(batch)
        offset = 0
        while runs := client.read_flow_runs(limit=PAGE, offset=offset):
            for run in runs:
                yield "flow run name", run.name
                yield "flow run parameters", json.dumps(run.parameters, default=str)
                if run.state is not None:
                    yield "flow run state", f"{run.state.name}: {run.state.message}"
            offset += len(runs)
        offset = 0
        while tasks := client.read_task_runs(limit=PAGE, offset=offset):
            for task in tasks:
                yield "task run name", task.name
                if task.state is not None:
                    yield "task run state", f"{task.state.name}: {task.state.message}"
            offset += len(tasks)
        offset = 0
        while artifacts := client.read_artifacts(limit=PAGE, offset=offset):
            for artifact in artifacts:
                yield f"artifact {artifact.key}", json.dumps(artifact.data, default=str)
                yield f"artifact {artifact.key} description", str(artifact.description)
            offset += len(artifacts)


def database_texts(db: Path) -> Iterator[tuple[str, str]]:
    tables = [r[0] for r in query(db, "SELECT table_name FROM information_schema.tables")]
    assert {"users", "snapshots", "actions"} <= set(tables)
    for table in tables:
        for row in query(db, f'SELECT * FROM "{table}"'):
            yield f"table {table}", "\t".join(str(value) for value in row)


def test_no_secret_in_logs_artifacts_exceptions_or_the_database(world_factory) -> None:  # type: ignore[no-untyped-def]
    world = world_factory(limits=False)
    token_store = world.tmp / "secrets" / "tokens.json"
    store_expired_tokens(world, token_store)
    env = world.env(
        FOLLOWFLOW_LOG_LEVEL="DEBUG",
        PREFECT_LOGGING_LEVEL="DEBUG",
        PREFECT_LOGGING_ROOT_LEVEL="DEBUG",
        # httpx and httpcore log to the console at DEBUG (root level); routing them to the
        # API as well would log the API log handler's own requests, endlessly.
        PREFECT_LOGGING_EXTRA_LOGGERS="followflow",
        FOLLOWFLOW_CLIENT_ID=world.manifest["app"]["client_id"],
        FOLLOWFLOW_CLIENT_SECRET=world.manifest["app"]["client_secret"],
        FOLLOWFLOW_TOKEN_STORE_PATH=str(token_store),
        FOLLOWFLOW_BUDGET_WINDOW_S="60",
    )
    runs = [
        (["snapshot", "ff_demo", "--verbose"], 0),
        (["follow-back", "ff_demo", "--live", "--yes", "--max-follows", "3", "--verbose"], 0),
        (["snapshot", "nobody_zz_123", "--verbose"], 1),
        (["auth", "status"], 0),
    ]
    captured: list[tuple[str, str]] = []
    for args, code in runs:
        result = world.run(args, env, timeout=300)
        assert result.returncode == code, result.stderr[-3000:]
        captured += [
            (f"stdout of {args[0]}", result.stdout),
            (f"stderr of {args[0]}", result.stderr),
        ]
    debug = "\n".join(text for _, text in captured)
    assert " | DEBUG   | httpcore" in debug, "DEBUG logging, httpx included, really was on"
    secrets = secret_values(world, token_store)
    texts: list[tuple[str, Any]] = [
        *captured,
        *prefect_texts(),
        *database_texts(world.db_path),
        ("a canary proving the search finds what is there", f"x{secrets['access token']}y"),
    ]
    assert any(where.startswith("log ") for where, _ in texts), "run logs were read back"
    assert any(where.startswith("artifact") for where, _ in texts), "artifacts were read back"
    leaks = [
        f"{name} in {where}"
        for where, text in texts
        for name, value in secrets.items()
        if value and value in str(text)
    ]
    assert leaks == ["access token in a canary proving the search finds what is there"]
    signatures = [where for where, text in texts if "oauth_signature" in str(text)]
    assert signatures == [], "no OAuth 1.0a signature (or Authorization header) logged"
    print(f"secrets: {len(secrets)} values searched in {len(texts)} texts: none found")
