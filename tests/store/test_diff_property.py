"""The recorded events replay the previous list into the current one, for any two lists."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from followflow.store import head, history
from tests.store.helpers import full_snapshot

ids = st.lists(st.integers(min_value=1, max_value=60), unique=True, max_size=25)
_accounts = itertools.count(1)


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prop") / "ff.duckdb"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(previous=ids, current=ids, later=ids)
def test_events_replay_previous_into_current(
    shared_db: Path, previous: list[int], current: list[int], later: list[int]
) -> None:
    account = next(_accounts)  # a fresh account per example keeps one file for the run
    full_snapshot(shared_db, account, previous, start=0, page_size=10)
    state = set(previous)
    for start, ids_now in ((100, current), (200, later)):
        diff = full_snapshot(shared_db, account, ids_now, start=start, page_size=10)
        assert set(diff.gained_ids) == set(ids_now) - state
        assert set(diff.lost_ids) == state - set(ids_now)
        for event in history.events(shared_db, account, snapshot_id=diff.snapshot_id):
            if event.event == "gained":
                assert event.user_id not in state
                state.add(event.user_id)
            else:
                state.remove(event.user_id)
        assert state == set(ids_now)
        assert head.known_followers(shared_db, account, list(range(1, 61))) == state
