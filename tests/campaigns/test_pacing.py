"""Pacing with a manual clock: window, spacing with jitter, day spread, bounded waits."""

from __future__ import annotations

import logging
import random

import pytest

from followflow.campaigns.pacing import Delay, Pacer, next_delay
from followflow.clock import ManualClock


def pacer(clock: ManualClock, **kwargs: object) -> Pacer:
    options: dict[str, object] = {
        "min_spacing_s": 20.0,
        "jitter_s": 0.0,
        "day_spread": False,
        "clock": clock,
        "sleep": clock.sleep,
        "rng": random.Random(7),
    }
    options.update(kwargs)
    return Pacer(**options)  # type: ignore[arg-type]


def test_next_delay_rules() -> None:
    assert next_delay(100.0, [], min_spacing_s=20) == Delay(0.0, "none")
    assert next_delay(100.0, [90.0], min_spacing_s=20, jitter=3) == Delay(13.0, "spacing")
    assert next_delay(100.0, [50.0], min_spacing_s=20) == Delay(0.0, "none")
    sent = [float(t) for t in range(50)]  # 50 actions in the first 50 s
    assert next_delay(50.0, sent, min_spacing_s=0) == Delay(850.0, "window")
    assert next_delay(50.0, sent[:49], min_spacing_s=0) == Delay(0.0, "none")
    # The window frees as its oldest actions pass 900 s; older ones do not count.
    assert next_delay(899.5, sent, min_spacing_s=0) == Delay(0.5, "window")
    assert next_delay(900.0, sent, min_spacing_s=0) == Delay(0.0, "none")
    assert next_delay(1000.0, [*sent, 999.0], min_spacing_s=0) == Delay(0.0, "none")
    spread = next_delay(100.0, [100.0], min_spacing_s=20, budget_left=100, day_left_s=86_400.0)
    assert spread == Delay(864.0, "day_spread")
    assert next_delay(100.0, [100.0], min_spacing_s=20, budget_left=0, day_left_s=50.0) == Delay(
        20.0, "spacing"
    )


def test_first_action_goes_at_once_then_spacing_with_jitter(clock: ManualClock) -> None:
    p = pacer(clock, jitter_s=10.0)
    assert p.wait() == Delay(0.0, "none")
    p.record()
    waits = []
    for _ in range(50):
        d = p.wait()
        p.record()
        waits.append(d.seconds)
    assert all(20.0 <= w <= 30.0 for w in waits)
    assert len({round(w, 3) for w in waits}) > 40  # jittered, not a fixed rhythm
    assert clock.slept == waits


def test_next_delay_is_stable_until_record(clock: ManualClock) -> None:
    p = pacer(clock, jitter_s=10.0)
    p.record()
    assert p.next_delay() == p.next_delay()
    first = p.next_delay()
    clock.advance(5)
    assert p.next_delay().seconds == pytest.approx(first.seconds - 5)


def test_window_limit_holds_over_a_long_run(clock: ManualClock) -> None:
    p = pacer(clock, min_spacing_s=1.0, jitter_s=0.5)
    sent: list[float] = []
    for _ in range(300):
        p.wait()
        sent.append(clock.now)
        p.record()
        clock.advance(0.01)  # the request itself
    for i, t in enumerate(sent):
        in_window = [s for s in sent[i:] if s < t + 900]
        assert len(in_window) <= 50
    # Not slower than needed: 300 actions take six windows, not more.
    assert sent[-1] - sent[0] < 6 * 900


def test_day_spread_spaces_the_budget_over_the_day(clock: ManualClock) -> None:
    p = pacer(clock, day_spread=True, day_s=3600.0)
    budget = 10
    sent = []
    for _ in range(10):
        d = p.wait(budget_left=budget)
        sent.append(clock.now)
        p.record()
        budget -= 1
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    # The first action starts the day; each next one waits (day left) / (budget left).
    assert gaps == pytest.approx([400.0] * 9)
    assert sent[-1] - sent[0] <= 3600  # the whole budget fits in the day
    assert d.reason == "day_spread"
    clock.advance(1)
    assert p.day_left_s() == 3599  # the last action, at the day's end, began the next day


def test_explicit_day_left_and_spread_off(clock: ManualClock) -> None:
    p = pacer(clock, day_spread=True)
    p.record()
    assert p.next_delay(budget_left=4, day_left_s=400.0) == Delay(100.0, "day_spread")
    off = pacer(clock, day_spread=False)
    off.record()
    assert off.next_delay(budget_left=4, day_left_s=400.0) == Delay(20.0, "spacing")


def test_waits_are_bounded_and_logged(clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    p = pacer(clock, day_spread=True, max_wait_s=60.0)
    p.record()
    with caplog.at_level(logging.INFO, logger="followflow.campaigns.pacing"):
        d = p.wait(budget_left=1, day_left_s=86_400.0)
    assert d == Delay(60.0, "day_spread")
    assert clock.slept == [60.0]
    assert "waiting the 60.0 s cap" in caplog.text
    assert "pacing: waiting 60.0 s (day_spread)" in caplog.text


def test_seed_remembers_a_previous_runs_actions(clock: ManualClock) -> None:
    p = pacer(clock, min_spacing_s=0.0)
    p.seed([clock.now - 100 + i for i in range(50)])  # 50 in the last 100 s
    assert p.next_delay() == Delay(800.0, "window")
    assert len(p.sent) == 50


def test_rejects_negative_parameters(clock: ManualClock) -> None:
    with pytest.raises(ValueError):
        pacer(clock, min_spacing_s=-1.0)
