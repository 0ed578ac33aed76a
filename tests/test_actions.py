"""The actions' dispatcher: quantized actions are handed to `defer` (the tempo's quantizer), the others run at
once, wrong arguments are one warning line said once, and a failing action never reaches its caller's thread."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from vjengine.control.actions import ACTIONS, Actions, Targets, find
from vjengine.engine.bank import BankEntry, ModelBank
from vjengine.engine.rig import Rig
from vjengine.latent.morph import PresetPlayer
from vjengine.latent.presets import Preset, PresetBank
from vjengine.models import random_generator
from vjengine.params import default_store
from vjengine.params.modulation import Modulation
from vjengine.tempo.tap import TapTempo


class Held:
    """A `defer` that keeps what it is handed, to run when the test says the boundary came."""

    def __init__(self) -> None:
        self.actions: list = []

    def __call__(self, action) -> None:
        self.actions.append(action)

    def boundary(self) -> None:
        actions, self.actions = self.actions, []
        for action in actions:
            action()


@pytest.fixture
def store():
    return default_store()


@pytest.fixture
def player(store, tmp_path):
    PresetBank(tmp_path).store(Preset(5, np.zeros((8, 16), np.float32), {"corruption.gain": 0.5}, "drop"))
    player = PresetPlayer(PresetBank(tmp_path), store)
    player.shown(torch.zeros(1, 8, 16), 1.0, None)  # a frame is out: storing has something to keep
    return player


@pytest.fixture
def held():
    return Held()


@pytest.fixture
def actions(store, player, held):
    actions = Actions(Targets(store, player, Modulation(store), learn=lambda name: None), defer=held)
    actions.listen()
    yield actions
    actions.close()


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_recall_and_model_select_wait_for_the_beat_and_nothing_else_does():
    assert {action.name for action in ACTIONS if action.quantized} == {"preset.recall", "model.select"}


def test_a_quantized_recall_is_held_until_the_boundary(store, actions, held):
    assert actions.invoke("/vj/preset/recall", [5], source="osc")
    assert store.get("preset.a") == 0 and len(held.actions) == 1
    held.boundary()
    assert store.get("preset.a") == 5 and store.get("corruption.gain") == 0.5


def test_a_recall_asked_through_its_parameter_is_held_the_same_way(store, actions, held):
    store.set("preset.recall", 5, source="midi")
    assert store.get("preset.recall") == 0 and store.get("preset.a") == 0 and len(held.actions) == 1
    held.boundary()
    assert store.get("preset.a") == 5


def test_storing_a_preset_is_at_once(store, actions, held, player):
    store.set("corruption.gain", 0.25)
    assert actions.invoke("preset.store", [7, "verse"], source="oscquery")
    assert held.actions == [] and player.bank.get(7).name == "verse"
    assert player.bank.get(7).params["corruption.gain"] == 0.25


def test_a_model_select_is_held_until_the_boundary(store, held):
    build = lambda entry: Rig.build(random_generator("sg2", 8, seed=len(entry.name)), name=entry.name)  # noqa: E731
    entries = [BankEntry("a", "a"), BankEntry("bb", "bb")]
    bank = ModelBank(entries, build, store, build(entries[0]))
    try:
        actions = Actions(Targets(store, models=bank), defer=held)
        assert actions.invoke("/vj/model/select", ["bb"], source="osc")
        assert store.get("model.slot") == 0
        held.boundary()
        assert store.get("model.slot") == 1
    finally:
        bank.close()


def test_a_tap_is_at_once_and_its_parameter_reads_false_again(store, held):
    now = [0.0]
    actions = Actions(Targets(store, tap=TapTempo(store, lambda: now[0]).tap), defer=held)
    actions.listen()
    for now[0] in (0.0, 0.5):
        store.set("tempo.tap", True, source="midi")
        assert store.get("tempo.tap") is False
    assert store.get("tempo.bpm") == 120.0 and held.actions == []
    actions.close()


@pytest.mark.parametrize(
    ("args", "why"),
    [
        ([], "wrong arguments"),
        ([5, 2.0, "extra"], "wrong arguments"),
        (["five"], "slot is a whole number, not the text 'five'"),
        ([2.5], "slot is a whole number, not 2.5"),
        ([5, float("nan")], "seconds is a number, not NaN"),
    ],
    ids=["none", "too-many", "text", "fraction", "nan"],
)
def test_wrong_arguments_are_one_line_said_once_and_nothing_is_done(store, actions, held, caplog, args, why):
    for _ in range(3):
        assert not actions.invoke("/vj/preset/recall", args, source="osc")
    assert warnings(caplog) == [f"OSC /vj/preset/recall {args}: {why}; send /vj/preset/recall SLOT [SECONDS]"]
    assert held.actions == [] and store.get("preset.a") == 0
    assert actions.invoke("/vj/preset/recall", [5.0], source="osc")  # a controller's float is a fine slot


def test_a_recall_that_fails_on_the_beat_is_one_line_and_the_render_thread_goes_on(store, actions, held, caplog):
    assert actions.invoke("preset.recall", [9], source="midi")  # an empty slot: found out when it is done
    held.boundary()  # on the render thread, in a run: it must not raise there
    assert warnings(caplog) == [
        "MIDI /vj/preset/recall [9]: preset 9 is empty (stored: 5); store one with /vj/preset/store; ignored"
    ]


def test_an_action_failing_unexpectedly_names_the_failure(store, caplog):
    def full_disk(name: str) -> None:
        raise OSError(28, "No space left on device")

    assert not Actions(Targets(store, learn=full_disk)).invoke("/vj/learn", ["visual.mix"], source="oscquery")
    assert warnings(caplog) == [
        "OSCQuery /vj/learn ['visual.mix']: OSError: [Errno 28] No space left on device; ignored"
    ]


def test_an_action_of_a_part_this_run_lacks_says_so(store, caplog):
    assert not Actions(Targets(store)).invoke("/vj/model/select", ["x"], source="osc")
    assert warnings(caplog) == ["OSC /vj/model/select ['x']: this run has no model bank; ignored"]


def test_actions_are_found_by_name_or_address_and_an_unknown_one_is_a_programming_error():
    assert find("preset.recall") is find("/vj/preset/recall")
    with pytest.raises(KeyError, match="no action 'preset.recal'"):
        find("preset.recal")
