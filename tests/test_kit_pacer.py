"""The kit's pacer, on a fake clock: a fixed rate whatever the work, never a burst after a stall."""

from __future__ import annotations

import pytest

from vjengine.kit import Pacer


class FakeTime:
    """A clock and a wait in one: `wait(timeout)` moves the clock on at once and says whether to stop."""

    def __init__(self) -> None:
        self.now = 0.0
        self.stopped = False
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        self.now += timeout
        return self.stopped


def test_the_pacer_keeps_to_its_rate_whatever_the_work_per_tick():
    fake = FakeTime()
    pacer = Pacer(20, clock=fake.clock, wait=fake.wait)
    for work in [0.0, 0.01, 0.04, 0.0, 0.03, 0.02]:
        fake.now += work
        assert pacer.tick()
    assert fake.now == pytest.approx(6 / 20)  # absolute deadlines: the work does not add up to drift


def test_the_pacer_starts_afresh_after_a_long_stall_instead_of_bursting():
    fake = FakeTime()
    pacer = Pacer(20, clock=fake.clock, wait=fake.wait)
    pacer.tick()
    fake.now += 1.0  # twenty ticks' worth of stall
    waited = []
    for _ in range(3):
        before = fake.now
        pacer.tick()
        waited.append(fake.now - before)
    assert waited == pytest.approx([0.0, 0.05, 0.05])  # one tick at once, then the normal rate


def test_the_pacer_follows_a_new_rate_and_does_not_wait_at_rate_zero():
    fake = FakeTime()
    pacer = Pacer(10, clock=fake.clock, wait=fake.wait)
    pacer.tick()
    pacer.rate = 0
    pacer.tick()
    pacer.tick()
    assert fake.waits[1:] == [0.0, 0.0]
    pacer.rate = 50
    pacer.tick()
    pacer.tick()
    assert fake.waits[-1] == pytest.approx(0.02)


def test_the_pacer_says_stop_when_its_wait_does():
    fake = FakeTime()
    fake.stopped = True
    assert not Pacer(20, clock=fake.clock, wait=fake.wait).tick()
