"""Signals drive parameters through bindings declared as text, applied to each frame's snapshot."""

import pytest

from vjengine.params import ParamError, default_store
from vjengine.params.modulation import DEFAULT_BINDINGS, Binding, Modulation, parse_binding


@pytest.fixture
def store():
    return default_store()


def test_parse_reads_param_signal_scale_and_offset(store):
    binding = parse_binding("transform.x += hand.x * 2 - 0.5", store)
    assert binding == Binding("transform.x", "hand.x", 2.0, -0.5, "add")


def test_parse_plain_equals_sets_the_value(store):
    assert parse_binding("corruption.gain = hand.distance", store).mode == "set"


def test_parse_rejects_unknown_parameters_naming_them(store):
    with pytest.raises(ParamError, match="corruption.gian"):
        parse_binding("corruption.gian = hand.distance", store)


def test_parse_rejects_text_parameters(store):
    with pytest.raises(ParamError, match="only numbers"):
        parse_binding("visual.layout = hand.x", store)


def test_parse_explains_the_syntax_on_garbage(store):
    with pytest.raises(ParamError, match="PARAM = SIGNAL"):
        parse_binding("gain follows the hand", store)


def test_set_binding_replaces_the_controllers_value(store):
    modulation = Modulation(store, ["corruption.gain = hand.distance * 0.5"])
    store.set("corruption.gain", 0.9, immediate=True)
    out = modulation.apply(store.snapshot(), {"hand.distance": 0.8})
    assert out["corruption.gain"] == pytest.approx(0.4)


def test_add_binding_adds_to_the_controllers_value_and_clamps(store):
    modulation = Modulation(store, ["corruption.gain += hand.distance"])
    store.set("corruption.gain", 0.5, immediate=True)
    assert modulation.apply(store.snapshot(), {"hand.distance": 0.2})["corruption.gain"] == pytest.approx(0.7)
    assert modulation.apply(store.snapshot(), {"hand.distance": 0.9})["corruption.gain"] == 1.0


def test_missing_signal_leaves_the_parameter_alone(store):
    modulation = Modulation(store, ["corruption.gain = hand.distance"])
    store.set("corruption.gain", 0.3, immediate=True)
    assert modulation.apply(store.snapshot(), {"face.x": 0.1})["corruption.gain"] == 0.3


def test_modulation_never_writes_into_the_store(store):
    modulation = Modulation(store, ["corruption.gain = hand.distance"])
    modulation.apply(store.snapshot(), {"hand.distance": 1.0})
    assert store.get("corruption.gain") == 0.0


def test_non_finite_signals_are_skipped(store):
    modulation = Modulation(store, ["transform.rotate += hand.angle"])
    assert modulation.apply(store.snapshot(), {"hand.angle": float("nan")})["transform.rotate"] == 0.0


def test_rebinding_the_same_pair_replaces_it_and_unbind_removes(store):
    modulation = Modulation(store, ["corruption.gain = hand.distance"])
    modulation.bind("corruption.gain = hand.distance * 2")
    assert [b.scale for b in modulation.bindings] == [2.0]
    assert modulation.unbind("corruption.gain") == 1
    assert modulation.bindings == ()


def test_default_bindings_follow_the_paper(store):
    modulation = Modulation(store, DEFAULT_BINDINGS)
    hand = {"hand.distance": 0.6, "hand.angle": 30.0, "hand.x": 0.75, "hand.y": 0.5, "hand.area": 0.05}
    out = modulation.apply(store.snapshot(), hand)
    assert out["corruption.gain"] == pytest.approx(0.6)
    assert out["transform.rotate"] == pytest.approx(30.0)
    assert out["transform.x"] == pytest.approx(0.25)
    assert out["transform.y"] == pytest.approx(0.0)
    assert out["transform.scale"] == pytest.approx(1.2)


def test_binding_text_round_trips(store):
    binding = parse_binding("transform.y = hand.y * 2 - 1", store)
    assert parse_binding(str(binding), store) == binding
