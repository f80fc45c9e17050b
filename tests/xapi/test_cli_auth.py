"""`followflow auth login|status` as a user runs them."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from followflow.cli import app


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {
        "FOLLOWFLOW_TOKEN_STORE_PATH": str(tmp_path / "tokens.json"),
        "FOLLOWFLOW_X_BASE_URL": "http://127.0.0.1:9",
        "FOLLOWFLOW_BEARER_TOKEN": "BEARER-VALUE-123",
    }
    return {**base, **extra}


def test_status_when_logged_out(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["auth", "status"], env=env(tmp_path))
    assert result.exit_code == 0, result.output
    assert "not logged in" in result.output
    assert "BEARER-VALUE-123" not in result.output


def test_login_without_client_id_fails_with_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["auth", "login"], env=env(tmp_path, FOLLOWFLOW_CLIENT_ID=""))
    assert result.exit_code == 1
    assert "FOLLOWFLOW_CLIENT_ID" in result.output
