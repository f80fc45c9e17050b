"""Where X's spec and recorded bodies are: ../shared/xapi beside the project (CI has it)."""

from __future__ import annotations

from pathlib import Path

import pytest

XAPI = Path(__file__).resolve().parents[2] / "shared" / "xapi"


def xapi_file(name: str) -> Path:
    """A file of ../shared/xapi, or skip the test saying why it cannot run."""
    path = XAPI / name
    if not path.exists():
        pytest.skip(f"{path} is absent: X's spec and fixtures live in ../shared/xapi")
    return path
