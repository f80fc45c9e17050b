"""Fixtures for the emulator's auth tests: a registry with two owned accounts."""

from __future__ import annotations

import pytest

from followflow.emulator.auth import AuthRegistry

OWNED = [(1_500_000_000_000_000_001, "ff_demo"), (1_500_000_000_000_000_002, "ff_alice")]
DEMO_ID, ALICE_ID = OWNED[0][0], OWNED[1][0]
PUBLIC_BASES = ("https://api.twitter.com", "https://api.x.com")


@pytest.fixture
def registry() -> AuthRegistry:
    return AuthRegistry.generate(seed=7, owned=OWNED)
