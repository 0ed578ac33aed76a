"""Triggers: a signal crossing a threshold sets a parameter once (a fist recalls a preset), then waits to re-arm."""

from __future__ import annotations

import numpy as np
import pytest

from vjengine.analysis.signals import check_signal
from vjengine.control.actions import Actions, Targets
from vjengine.latent.morph import PresetPlayer
from vjengine.latent.presets import Preset, PresetBank
from vjengine.params import ParamError, default_store
from vjengine.params.modulation import Modulation, parse_binding
from vjengine.params.triggers import Trigger


@pytest.fixture
def store():
    return default_store()


def writes(store, name: str) -> list:
    """Every value written to `name` from now on, in order."""
    seen: list = []
    store.add_listener(lambda param, value, source: seen.append(value) if param == name else None)
    return seen


def pad(store, name: str = "preset.recall") -> list:
    """The slots a trigger sent to `name`, which is read back to 0 as the preset player does."""
    seen: list = []

    def consume(param: str, value, source: str) -> None:
        if param == name and value != 0:
            seen.append(value)
            store.set(name, 0, source="preset")

    store.add_listener(consume)
    return seen


def play(modulation: Modulation, store, signal: str, values: list[float]) -> None:
    """One frame per value of `signal`, as the render loop applies modulation."""
    for value in values:
        modulation.apply(store.snapshot(), {signal: value})


# --- the text ---------------------------------------------------------------------------------------------------


def test_a_line_with_when_is_a_trigger(store) -> None:
    trigger = parse_binding("preset.recall = 2 when hand.fist >= 0.6 rearm 0.3", store, check_signal)
    assert trigger == Trigger("preset.recall", 2, "hand.fist", ">=", 0.6, 0.3)
    assert str(trigger) == "preset.recall = 2 when hand.fist >= 0.6 rearm 0.3"


def test_without_rearm_it_re_arms_at_the_threshold(store) -> None:
    trigger = parse_binding("render.paused = 1 when face.eyes < 0.2", store, check_signal)
    assert (trigger.op, trigger.on, trigger.rearm, trigger.value) == ("<", 0.2, 0.2, True)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("preset.recall = 2 when the fist closes", "PARAM = VALUE when SIGNAL > ON"),
        ("preset.recal = 2 when hand.fist > 0.6", "preset.recal"),
        ("visual.layout = 2 when hand.fist > 0.6", "triggers set numbers"),
        ("preset.recall = 200 when hand.fist > 0.6", "out of range"),
        ("preset.recall = 2.5 when hand.fist > 0.6", "whole number"),
        ("preset.recall = 2 when hand.fists > 0.6", "hand.fist"),
        ("preset.recall = 2 when hand.fist > 0.6 rearm 0.8", "rearm 0.8 must be below"),
        ("preset.recall = 2 when face.yaw < -20 rearm -30", "rearm -30 must be above"),
    ],
)
def test_a_bad_trigger_says_what_is_wrong_in_one_line(store, text: str, says: str) -> None:
    with pytest.raises(ParamError, match=says) as caught:
        parse_binding(text, store, check_signal)
    assert "\n" not in str(caught.value)


# --- firing -----------------------------------------------------------------------------------------------------


def test_it_fires_once_per_gesture_and_re_arms_when_the_gesture_ends(store) -> None:
    modulation = Modulation(store, ["preset.recall = 3 when hand.fist >= 0.6 rearm 0.3"])
    written = pad(store)
    # rest, a fist held (with jitter above 0.3), let go, a second fist
    play(modulation, store, "hand.fist", [0.0, 0.0, 0.7, 0.9, 0.6, 0.45, 0.8, 0.35, 0.1, 0.0, 0.65, 0.9])
    assert written == [3, 3]


def test_it_waits_for_the_signal_to_be_back_before_firing_at_all(store) -> None:
    modulation = Modulation(store, ["preset.a = 3 when hand.fist >= 0.6"])
    written = writes(store, "preset.a")
    play(modulation, store, "hand.fist", [0.9, 0.9])  # already a fist when the show starts
    assert written == []
    play(modulation, store, "hand.fist", [0.2, 0.9])
    assert written == [3]


def test_a_below_trigger_fires_when_the_signal_drops(store) -> None:
    modulation = Modulation(store, ["render.paused = 1 when face.eyes < 0.2 rearm 0.5"])
    written = writes(store, "render.paused")
    play(modulation, store, "face.eyes", [1.0, 0.1, 0.3])
    store.set("render.paused", False)  # the performer un-pauses
    play(modulation, store, "face.eyes", [0.1, 0.6, 0.15])
    assert written == [True, False, True]


def test_a_missing_signal_changes_nothing(store) -> None:
    modulation = Modulation(store, ["preset.a = 3 when hand.fist >= 0.6"])
    written = writes(store, "preset.a")
    play(modulation, store, "hand.fist", [0.0])
    for _ in range(3):
        modulation.apply(store.snapshot(), {"face.x": 0.5})  # the hand tracker switched off
    play(modulation, store, "hand.fist", [0.9])
    assert written == [3]


def test_triggers_and_bindings_live_side_by_side(store) -> None:
    modulation = Modulation(store, ["corruption.gain = hand.open", "preset.a = 2 when hand.open >= 0.6"])
    play(modulation, store, "hand.open", [0.0])
    out = modulation.apply(store.snapshot(), {"hand.open": 0.8})
    assert out["corruption.gain"] == pytest.approx(0.8)
    assert store.get("preset.a") == 2


def test_binding_the_same_condition_again_replaces_it_and_unbind_removes_it(store) -> None:
    modulation = Modulation(store)
    modulation.bind("preset.recall = 2 when hand.fist >= 0.6")
    modulation.bind("preset.recall = 5 when hand.fist >= 0.6")
    modulation.bind("preset.recall = 1 when hand.open >= 0.6")
    assert [t.value for t in modulation.triggers] == [5, 1]
    assert modulation.unbind("preset.recall", "hand.fist") == 1
    assert [t.signal for t in modulation.triggers] == ["hand.open"]


def test_a_fist_recalls_a_preset(store, tmp_path) -> None:
    bank = PresetBank(tmp_path / "bank")
    bank.store(Preset(4, np.zeros((8, 16)), {"corruption.gain": 0.25}, "fist look"))
    actions = Actions(Targets(store, PresetPlayer(bank, store)))
    actions.listen()
    modulation = Modulation(store, ["preset.recall = 4 when hand.fist >= 0.6 rearm 0.3"], check_signal)
    play(modulation, store, "hand.fist", [0.0, 0.9])
    assert (store.get("preset.a"), store.get("preset.b")) == (4, 4)
    assert store.get("preset.recall") == 0  # read as a pad: back to 0 once recalled
    assert store.snapshot(1e9)["corruption.gain"] == pytest.approx(0.25)
    actions.close()
