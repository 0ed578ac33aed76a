"""The kit's smoother, hysteresis and say-once helper."""

from __future__ import annotations

import logging
import math

import pytest

from vjengine.kit import Hysteresis, SayOnce, Smoother, approach


def test_approach_is_63_percent_of_the_way_after_one_time_constant():
    assert approach(0.0, 1.0, 0.5, 0.5) == pytest.approx(1 - math.exp(-1))
    assert approach(0.0, 1.0, 0.5, 0.0) == 1.0  # no time constant: at once
    assert approach(0.3, 1.0, -1.0, 0.5) == 0.3  # time never runs backwards


def test_the_smoother_reads_its_time_from_the_clock_and_does_not_depend_on_the_step_rate():
    now = [0.0]
    coarse = Smoother(0.2, start=0.0, clock=lambda: now[0])
    fine = Smoother(0.2, start=0.0, clock=lambda: now[0])
    coarse.step(1.0)
    fine.step(1.0)
    for _ in range(10):
        now[0] += 0.02
        fine.step(1.0)
    coarse.step(1.0)
    assert coarse.value == pytest.approx(fine.value) == pytest.approx(1 - math.exp(-1))


def test_the_smoother_rises_and_falls_with_their_own_time_constants():
    envelope = Smoother(0.01, fall=1.0, start=0.0)
    assert envelope.step(1.0, dt=0.1) == pytest.approx(1.0, abs=1e-4)  # fast attack
    assert envelope.step(0.0, dt=0.1) == pytest.approx(math.exp(-0.1), rel=1e-3)  # slow release


def test_the_first_step_jumps_unless_given_a_start_and_reset_forgets():
    smoother = Smoother(1.0, clock=lambda: 0.0)
    assert smoother.step(5.0) == 5.0
    smoother.reset(0.0)
    assert smoother.step(5.0, dt=1.0) == pytest.approx(5 * (1 - math.exp(-1)))


def test_hysteresis_holds_between_its_thresholds():
    latch = Hysteresis(on=0.6, off=0.35)
    assert [latch.update(v) for v in (0.5, 0.6, 0.4, 0.36, 0.35, 0.5, 0.59)] == [
        False, True, True, True, False, False, False,
    ]  # fmt: skip


def test_hysteresis_on_low_values_when_on_is_the_lower_threshold():
    still = Hysteresis(on=1.0, off=2.0)
    assert [still.update(v) for v in (1.5, 0.9, 1.9, 2.0, 1.5)] == [False, True, True, False, False]
    with pytest.raises(ValueError):
        Hysteresis(on=1.0, off=1.0)


def test_say_once_says_each_key_once_and_again_after_forget(caplog):
    log = logging.getLogger("test.kit")
    say = SayOnce(log)
    with caplog.at_level(logging.DEBUG, logger="test.kit"):
        assert say("file", "cannot read %s", "a.npy")
        assert not say("file", "cannot read %s", "a.npy")
        assert say("other", "other problem")
        say.forget("file")
        assert say("file", "cannot read %s", "a.npy")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["cannot read a.npy", "other problem", "cannot read a.npy"]
    assert [r.levelno for r in caplog.records].count(logging.DEBUG) == 1  # the repeat is kept for debugging


def test_say_once_remembers_at_most_its_limit(caplog):
    say = SayOnce(logging.getLogger("test.kit"), limit=2)
    with caplog.at_level(logging.WARNING, logger="test.kit"):
        results = [say(key, "refused %s", key) for key in ("a", "b", "c")]
    assert results == [True, True, False]
    assert [r.getMessage() for r in caplog.records] == ["refused a", "refused b"]
