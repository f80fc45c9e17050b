"""Global concurrency limits: created by the project, never silently missing, taken quickly."""

from __future__ import annotations

import threading
import uuid

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

from tasks.limits import (
    campaign_limit_name,
    ensure_limits,
    hold,
    hold_all_if_free,
    taken_ahead,
    x_limit_name,
)
from tasks.slots import LimitMissing, SlotTimeout

pytestmark = pytest.mark.usefixtures("prefect_harness")


def active_slots(name: str) -> int:
    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(name).active_slots


def fresh_limits(count: int) -> list[str]:
    names = [f"test:slots:{uuid.uuid4().hex[:8]}" for _ in range(count)]
    ensure_limits(*names)
    return names


def test_names_follow_the_public_contract() -> None:
    assert x_limit_name("followers", "user-42") == "x:followers:user-42"
    assert campaign_limit_name(42) == "campaign:42"


def test_ensure_limits_creates_one_slot_limits_idempotently() -> None:
    name = x_limit_name("following", "user-7")
    ensure_limits(name)
    ensure_limits(name)
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(name)
    assert limit.limit == 1


def test_a_missing_limit_is_an_error_not_unthrottled_running() -> None:
    with pytest.raises(LimitMissing, match="x:followers:nobody"):
        with hold(x_limit_name("followers", "nobody"), timeout_s=5):
            pass


def test_a_held_slot_is_taken_and_given_back() -> None:
    (name,) = fresh_limits(1)
    with hold(name):
        assert active_slots(name) == 1
        with pytest.raises(SlotTimeout, match=name):
            with hold(name, timeout_s=0.5):
                pass
    assert active_slots(name) == 0


def test_many_threads_take_their_own_slots_at_once() -> None:
    # Concurrent increments collide in the server's SQLite; each must still get its slot.
    names = fresh_limits(8)
    start, held, errors = threading.Barrier(len(names)), [], []

    def take(name: str) -> None:
        start.wait()
        try:
            with hold(name, timeout_s=30):
                held.append(active_slots(name))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=take, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert held == [1] * len(names)
    assert [active_slots(name) for name in names] == [0] * len(names)


def test_slots_taken_ahead_serve_hold_and_unused_ones_go_back() -> None:
    used, unused = fresh_limits(2)
    with taken_ahead([used, unused]):
        assert (active_slots(used), active_slots(unused)) == (1, 1)
        # A fresh acquire would find the slot taken and time out: hold uses the one taken.
        with hold(used, timeout_s=0.5):
            assert active_slots(used) == 1
        assert (active_slots(used), active_slots(unused)) == (0, 1)
    assert (active_slots(used), active_slots(unused)) == (0, 0)


def test_taking_ahead_skips_a_slot_someone_else_holds() -> None:
    (name,) = fresh_limits(1)
    with hold(name):
        with taken_ahead([name]):
            pass
        assert active_slots(name) == 1, "the holder's slot was left alone"
    assert active_slots(name) == 0


def test_slots_taken_ahead_go_back_when_taking_the_rest_fails() -> None:
    (name,) = fresh_limits(1)
    with pytest.raises(LimitMissing, match="test:slots:missing"):
        with taken_ahead([name, "test:slots:missing"]):
            pass
    assert active_slots(name) == 0


def test_slots_of_many_limits_are_held_under_one_lease_only_if_all_are_free() -> None:
    names = fresh_limits(3)
    with hold_all_if_free([*names, names[0]]) as held:  # a bucket named twice is one slot
        assert held
        assert [active_slots(name) for name in names] == [1, 1, 1]
    assert [active_slots(name) for name in names] == [0, 0, 0]
    with hold(names[1]):
        with hold_all_if_free(names) as held:
            assert not held
            assert [active_slots(name) for name in names] == [0, 1, 0], "none taken"
    assert [active_slots(name) for name in names] == [0, 0, 0]


def test_one_missing_limit_among_many_takes_no_slot() -> None:
    names = fresh_limits(2)
    missing = f"test:slots:missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(LimitMissing, match=missing):
        with hold_all_if_free([*names, missing]):
            pass
    assert [active_slots(name) for name in names] == [0, 0]


def test_ensure_limits_creates_what_is_missing_and_sets_a_changed_limit_back_to_one() -> None:
    existing, changed = fresh_limits(2)
    with get_client(sync_client=True) as client:
        client.update_global_concurrency_limit(changed, GlobalConcurrencyLimitUpdate(limit=3))
    new = [f"test:slots:{uuid.uuid4().hex[:8]}" for _ in range(250)]  # more than a page
    ensure_limits(existing, changed, *new)
    with get_client(sync_client=True) as client:
        limits = [
            client.read_global_concurrency_limit_by_name(n) for n in [existing, changed, *new]
        ]
    assert {limit.limit for limit in limits} == {1}
