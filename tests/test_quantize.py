"""Beat-quantised actions: a preset recall lands on the first frame at or after the next beat or bar
boundary of the engine's tempo, whoever asked (here the dispatcher and the `preset.recall` parameter; each
control surface in test_quantize_paths.py). The beat count runs on an injected clock moved once a frame.

`QuantizedRig` is the part of a run these tests need: the tempo service on a frame clock, a
preset bank with slot 5 stored, and the actions handing quantized ones to the quantizer."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.conftest import FakeClock, wait_for
from vjengine.control.actions import Actions, Targets
from vjengine.latent.morph import PresetPlayer
from vjengine.latent.presets import Preset, PresetBank
from vjengine.params import ParamStore, default_store
from vjengine.tempo.service import Tempo

FRAME_S = 0.05  # at 120 bpm a frame is 0.1 beat
SLOT = 5


class QuantizedRig:
    """A store, a beat count on a frame clock and its quantizer, and the actions on a preset player.

    `landed` keeps the beat count at each moment preset.a became SLOT (on whichever thread it happened);
    `requested` is set once an action was handed to the quantizer, or once it landed without waiting."""

    def __init__(self, bank: PresetBank, store: ParamStore | None = None, **targets) -> None:
        self.store = store or default_store()
        self.store.set("tempo.bpm", 120.0)
        self.clock = FakeClock(step=FRAME_S)
        self.tempo = Tempo(self.store, self.clock)
        self.landed: list[float] = []
        self.requested = threading.Event()
        self.store.add_listener(self._changed)
        self.actions = Actions(Targets(self.store, PresetPlayer(bank, self.store), **targets), defer=self._defer)
        self.actions.listen()

    def _defer(self, action) -> None:
        self.tempo.defer(action)
        self.requested.set()

    def _changed(self, name: str, value, source: str) -> None:
        if name == "preset.a" and value == SLOT:
            self.landed.append(self.tempo.count.beats)
            self.requested.set()

    def frame(self) -> None:
        """What the render loop does once a frame: the clock moves, then the tempo's tick (beats, what is due)."""
        self.clock.tick({})
        self.tempo.update(None, self.store.snapshot(), self.clock.now)

    def play_to(self, beats: float) -> None:
        while self.tempo.count.beats < beats - 1e-6:
            self.frame()

    def wait_requested(self) -> None:
        """Until the request reached the dispatcher (a control surface works on its own thread)."""
        assert wait_for(self.requested.is_set), "the request never reached the actions"

    def play_until_landed(self, limit: int = 200) -> float:
        """Frames until the recall lands; the beat count of the frame it landed on. Fails if it had already
        landed when asked (it did not wait)."""
        assert not self.landed, f"the recall landed at once, at beat {self.landed[0]:.2f}"
        for _ in range(limit):
            self.frame()
            if self.landed:
                return self.landed[0]
        raise AssertionError("the recall never landed")

    def close(self) -> None:
        self.actions.close()


def stored_bank(path) -> PresetBank:
    PresetBank(path).store(Preset(SLOT, np.zeros((8, 16)), {"corruption.gain": 0.5}, "drop"))
    return PresetBank(path)


@pytest.fixture
def rig(tmp_path):
    rig = QuantizedRig(stored_bank(tmp_path))
    yield rig
    rig.close()


@pytest.mark.parametrize("ask", ["dispatcher", "parameter"])
def test_a_recall_quantised_to_the_beat_lands_on_the_next_beat(rig, ask):
    rig.store.set("preset.quantize", "beat")
    rig.play_to(0.3)
    if ask == "dispatcher":
        assert rig.actions.invoke("preset.recall", [SLOT], source="osc")
    else:
        rig.store.set("preset.recall", SLOT, source="midi")
    assert rig.store.get("preset.recall") == 0  # waiting; the pad reads 0 again
    assert rig.play_until_landed() == pytest.approx(1.0, abs=1e-6)  # the frame that reached beat 1


def test_a_recall_quantised_to_the_bar_waits_for_the_downbeat(rig):
    rig.store.set_many({"preset.quantize": "bar", "tempo.quantum": 4})
    rig.play_to(2.5)
    rig.store.set("preset.recall", SLOT, source="midi")
    assert rig.play_until_landed() == pytest.approx(4.0, abs=1e-6)


def test_without_quantize_a_recall_is_at_once(rig):
    rig.store.set("preset.recall", SLOT, source="osc")
    assert rig.landed == [0.0] and rig.store.get("corruption.gain") == 0.5


def test_without_a_tempo_a_quantised_recall_is_at_once(rig):
    rig.store.set_many({"preset.quantize": "bar", "tempo.bpm": 0.0})
    rig.actions.invoke("/vj/preset/recall", [SLOT], source="osc")
    assert rig.landed == [0.0]


def test_a_slot_set_at_start_is_recalled_at_once_whatever_the_quantize(tmp_path):
    """`--set preset.recall=5 --set preset.quantize=bar`: the first frame shows the preset."""
    store = default_store()
    store.set_many({"preset.recall": SLOT, "preset.quantize": "bar", "tempo.bpm": 120.0}, source="config")
    rig = QuantizedRig(stored_bank(tmp_path), store)
    try:
        assert rig.landed == [0.0] and store.get("preset.recall") == 0
        assert store.snapshot()["corruption.gain"] == 0.5  # set, not gliding: nothing had been shown yet
    finally:
        rig.close()
