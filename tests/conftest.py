"""Shared fixtures: one place, used by every test module (STYLE.md 11)."""

from __future__ import annotations

import pytest

from followflow.clock import ManualClock
from followflow.settings import Settings


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(tmp_path: object) -> Settings:
    # Tests build Settings explicitly and never read .env or the environment's secrets.
    return Settings(_env_file=None, db_path=tmp_path / "test.duckdb")  # type: ignore[call-arg, operator]
