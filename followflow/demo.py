"""`followflow demo`: the built-in emulator and the settings that point followflow at it.

The demo's steps are the `demo` flow (`flows/demo.py`); this module only provides the
world it runs in: an emulator on a free loopback port and FOLLOWFLOW_* settings for this
process, so nothing the user configured for real X is touched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from followflow.emulator import Emulator, EmulatorServer
from followflow.settings import get_settings

SEED = 1
CAMPAIGN_ACCOUNT = "ff_demo"


def emulator_settings(emulator: Emulator, base_url: str, writer: str) -> dict[str, str]:
    """FOLLOWFLOW_* settings (without the prefix) that point followflow at `emulator`:
    reads with the app's Bearer token, writes as `writer` with OAuth 1.0a."""
    account = emulator.account(writer)
    return {
        "X_BASE_URL": base_url,
        "BEARER_TOKEN": emulator.app.bearer_token,
        "CONSUMER_KEY": emulator.app.consumer_key,
        "CONSUMER_SECRET": emulator.app.consumer_secret,
        "ACCESS_TOKEN": account.access_token,
        "ACCESS_TOKEN_SECRET": account.access_token_secret,
    }


@contextmanager
def demo_world(db_path: Path) -> Iterator[str]:
    """Serve a fresh emulator and point this process's settings at it; yields its URL."""
    emulator = Emulator.create(seed=SEED, size="demo", preset="v2-2026")
    with EmulatorServer(emulator) as server, tempfile.TemporaryDirectory() as tokens:
        values = {
            **emulator_settings(emulator, server.base_url, CAMPAIGN_ACCOUNT),
            "DB_PATH": str(db_path.resolve()),
            "TOKEN_STORE_PATH": str(Path(tokens) / "tokens.json"),
            "APP_NAME": "followflow-demo",
            # Pacing is shown, without making anyone wait for it.
            "ACTION_MIN_SPACING_S": "0.05",
        }
        saved = {key: os.environ.get(f"FOLLOWFLOW_{key}") for key in values}
        os.environ.update({f"FOLLOWFLOW_{key}": value for key, value in values.items()})
        get_settings.cache_clear()
        try:
            yield server.base_url
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(f"FOLLOWFLOW_{key}", None)
                else:
                    os.environ[f"FOLLOWFLOW_{key}"] = value
            get_settings.cache_clear()


def where_next(db_path: Path, report_path: Path) -> str:
    """What to open and run after the demo."""
    return "\n".join(
        [
            "Where to look next:",
            f"  report   {report_path}  (open it in a browser; it needs no network)",
            f"  query    uv run python -c \"import duckdb; con = duckdb.connect('{db_path}', "
            "read_only=True); print(con.sql('SELECT * FROM follower_events LIMIT 10'))\"",
            "  runs     PREFECT_HOME=~/.cache/followflow/prefect uv run prefect server start",
            "           then open http://127.0.0.1:4200: the demo's flow runs and artifacts",
            "  for real set FOLLOWFLOW_BEARER_TOKEN and friends (README), then "
            "`uv run followflow snapshot @you`",
        ]
    )
