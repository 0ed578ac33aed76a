"""The tempo for walks: MIDI clock tick times in, a steady tempo out; taps too."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tests.conftest import FakeClock, wait_for
from vjengine.control.actions import Actions, Targets
from vjengine.params import default_store
from vjengine.tempo.midiclock import PUBLISH_INTERVAL, TICKS_PER_BEAT, TempoFollower, tempo
from vjengine.tempo.tap import TapTempo


def ticks(bpm: float, seconds: float, start: float = 0.0) -> np.ndarray:
    return start + np.arange(0.0, seconds, 60.0 / (bpm * TICKS_PER_BEAT))


def in_bursts(times: np.ndarray, period: float) -> np.ndarray:
    """What a driver that delivers once per `period` (JACK at 1024 frames, 48 kHz: 21.3 ms) does to them."""
    return np.ceil(times / period) * period


def follow(times) -> list[float]:
    follower = TempoFollower()
    return [bpm for t in times if (bpm := follower.tick(float(t))) is not None]


def test_steady_ticks_give_their_tempo():
    assert tempo(ticks(120, 2)) == pytest.approx(120.0)


def test_ticks_delivered_in_bursts_still_give_the_tempo_within_a_percent():
    published = follow(in_bursts(ticks(128, 4), 1024 / 48000))
    assert published[-1] == pytest.approx(128, rel=0.01)


def test_nothing_is_published_before_a_beat_of_ticks():
    assert follow(ticks(120, 60 / 120 * 0.9)) == []


def test_a_tempo_change_is_followed_within_a_few_seconds():
    before = ticks(120, 4)
    after = ticks(140, 3, start=before[-1] + 60 / (140 * TICKS_PER_BEAT))
    published = follow(np.concatenate([before, after]))
    assert published[-1] == pytest.approx(140, rel=0.005)


def test_updates_come_at_most_every_publish_interval_and_only_when_the_tempo_moves():
    follower = TempoFollower()
    stamps = [float(t) for t in in_bursts(ticks(100, 6), 0.01) if follower.tick(float(t)) is not None]
    assert len(stamps) <= 6 / PUBLISH_INTERVAL
    assert all(b - a >= PUBLISH_INTERVAL for a, b in zip(stamps, stamps[1:], strict=False))
    assert follow(ticks(100, 6)) == [100.0]  # a steady clock: said once


def test_a_pause_starts_a_fresh_estimate():
    follower = TempoFollower()
    for t in ticks(90, 2):
        follower.tick(float(t))
    resumed = [follower.tick(float(t)) for t in ticks(150, 3, start=10.0)]
    assert [bpm for bpm in resumed if bpm is not None][-1] == pytest.approx(150, rel=0.005)
    assert all(bpm is None or bpm > 140 for bpm in resumed)  # nothing of the old 90 mixed in


def tap_at(store, clock, *times: float) -> None:
    for t in times:
        clock.now = t
        store.set("tempo.tap", True, source="osc")


@pytest.fixture
def tapping():
    store, clock = default_store(), FakeClock()
    actions = Actions(Targets(store, tap=TapTempo(store, clock).tap))  # tempo.tap asks for the tap action
    actions.listen()
    yield store, clock
    actions.close()


def test_taps_set_the_tempo_from_their_median_interval(tapping):
    store, clock = tapping
    tap_at(store, clock, 0.0, 0.5, 1.0, 1.62, 2.0)  # 120 bpm with one late tap
    assert store.get("tempo.bpm") == 120.0


def test_each_tap_reads_back_false_so_the_next_press_counts(tapping):
    store, clock = tapping
    tap_at(store, clock, 0.0)
    assert store.get("tempo.tap") is False and store.get("tempo.bpm") == 0.0  # one tap is no tempo yet


def test_a_long_pause_starts_a_new_count(tapping):
    store, clock = tapping
    tap_at(store, clock, 0.0, 1.0, 10.0, 10.4)
    assert store.get("tempo.bpm") == 150.0


def test_the_old_tempo_names_still_set_the_tempo_with_one_warning(caplog):
    store = default_store()
    with caplog.at_level(logging.WARNING, logger="vjengine.params"):
        store.set("walk.bpm", 100.0, source="osc")
        store.set("walk.bpm", 101.0, source="osc")
    assert store.get("tempo.bpm") == 101.0
    assert [r.getMessage() for r in caplog.records if "walk.bpm" in r.getMessage()] == [
        "walk.bpm is now tempo.bpm (the old name works until the next release); please write tempo.bpm"
    ]


def test_a_controller_map_with_the_old_tap_name_binds_the_new_one(caplog):
    from vjengine.control.mapping import parse_map

    table = {
        "controller": {"name": "pads"},
        "binding": [{"param": "walk.tap", "type": "note", "number": 36, "mode": "momentary"}],
    }
    with caplog.at_level(logging.WARNING, logger="vjengine.control.mapping"):
        controller = parse_map(table, default_store().params)
    assert [b.param.name for b in controller.bindings] == ["tempo.tap"]
    assert any("walk.tap is now tempo.tap" in r.getMessage() for r in caplog.records)


def test_the_old_osc_address_still_sets_the_tempo_over_udp():
    from pythonosc.udp_client import SimpleUDPClient

    from vjengine.control.osc import OSCReceiver

    store = default_store()
    osc = OSCReceiver(store, port=0)
    osc.start()
    try:
        SimpleUDPClient("127.0.0.1", osc.port).send_message("/vj/walk/bpm", 128.0)
        assert wait_for(lambda: store.get("tempo.bpm") == 128.0)
    finally:
        osc.close()
