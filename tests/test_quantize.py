"""Beat-quantised preset recalls: a recall from a controller lands on the first frame at or after the next
beat or bar boundary of the engine's tempo (the beat count runs on an injected clock)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import FakeClock
from vjengine.latent.morph import PresetPlayer
from vjengine.latent.presets import Preset, PresetBank
from vjengine.params import default_store
from vjengine.tempo.phase import TempoPhase
from vjengine.tempo.quantize import BeatQuantizer


@pytest.fixture
def rig(tmp_path):
    """A preset player with slot 5 stored, quantised by a beat count at 120 bpm (a frame every 50 ms)."""
    store, clock = default_store(), FakeClock()
    store.set("tempo.bpm", 120.0)
    PresetBank(tmp_path).store(Preset(5, np.zeros((8, 16)), {"corruption.gain": 0.5}, "drop"))
    player = PresetPlayer(PresetBank(tmp_path), store)
    phase = TempoPhase(store, clock)
    quantizer = BeatQuantizer(store, phase)
    player.defer = quantizer.defer
    player.listen()

    def frame() -> None:  # what the render loop does once a frame: the phase, then what is due
        clock.now += 0.05
        phase.analyse()
        quantizer.analyse()

    return store, frame, phase


def frames_until_recalled(store, frame, limit: int = 200) -> int:
    for count in range(1, limit):
        frame()
        if store.get("preset.a") == 5:
            return count
    raise AssertionError("the recall never landed")


def test_a_recall_quantised_to_the_beat_lands_on_the_next_beat(rig):
    store, frame, phase = rig
    store.set("preset.quantize", "beat")
    for _ in range(3):  # 0.15 s into the first beat
        frame()
    store.set("preset.recall", 5, source="osc")
    assert store.get("preset.a") == 0 and store.get("preset.recall") == 0  # waiting; the pad reads 0 again
    frames_until_recalled(store, frame)
    assert phase.beats == pytest.approx(1.0, abs=1e-6)  # the frame that reached beat 1 (a frame is 0.1 beat)


def test_a_recall_quantised_to_the_bar_waits_for_the_downbeat(rig):
    store, frame, phase = rig
    store.set_many({"preset.quantize": "bar", "tempo.quantum": 4})
    for _ in range(25):  # beat 2.5
        frame()
    store.set("preset.recall", 5, source="midi")
    frames_until_recalled(store, frame)
    assert phase.beats == pytest.approx(4.0, abs=1e-6)


def test_without_quantize_a_recall_is_at_once(rig):
    store, frame, phase = rig
    store.set("preset.recall", 5, source="osc")
    assert store.get("preset.a") == 5 and store.get("corruption.gain") == 0.5


def test_without_a_tempo_a_quantised_recall_is_at_once(rig):
    store, frame, phase = rig
    store.set_many({"preset.quantize": "bar", "tempo.bpm": 0.0})
    store.set("preset.recall", 5, source="osc")
    assert store.get("preset.a") == 5
