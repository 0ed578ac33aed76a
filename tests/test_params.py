"""The parameter registry and the live store: clamping, coercion, rejection, snapshots, listeners."""

from __future__ import annotations

import threading

import pytest

from vjengine.params import REGISTRY, Param, ParamError, ParamStore, default_store


@pytest.fixture
def store() -> ParamStore:
    return default_store()


def test_every_parameter_has_an_osc_address_from_its_name():
    addresses = {p.name: p.osc_address for p in REGISTRY}
    assert addresses["truncation.psi"] == "/vj/truncation/psi"
    assert len(set(addresses.values())) == len(REGISTRY)


def test_every_parameter_is_documented():
    assert all(p.description and p.group for p in REGISTRY)


def test_numbers_are_clamped_to_the_range(store):
    assert store.set("truncation.psi", 5.0) == 2.0
    assert store.set("truncation.psi", -9) == -1.0


def test_check_refuses_what_accept_would_clamp():
    param = default_store().param("truncation.psi")
    assert param.accept(5.0) == 2.0
    assert param.check("2") == 2.0
    with pytest.raises(ParamError, match="out of range"):
        param.check(5.0)


def test_check_looks_at_every_number_of_a_vector():
    vector = Param("v", "vector", (0.0, 0.0), "a vector", min=0, max=1, size=2)
    assert vector.check("0.5, 1") == (0.5, 1.0)
    with pytest.raises(ParamError, match="out of range"):
        vector.check([0.5, 1.5])


def test_text_is_coerced_to_the_type(store):
    assert store.set("latent.seed", "42") == 42
    assert store.set("render.paused", "on") is True
    assert store.set("truncation.psi", "0.25") == 0.25


def test_whole_floats_are_accepted_for_ints(store):
    assert store.set("latent.seed", 7.0) == 7


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("latent.seed", "abc", "whole number"),
        ("latent.seed", 1.5, "whole number"),
        ("render.paused", "maybe", "true or false"),
        ("generator.noise", "loud", "one of const, random, none"),
        ("truncation.psi", float("nan"), "not NaN"),
        ("truncation.psi", None, "a float"),
    ],
)
def test_wrong_types_are_rejected_with_a_reason(store, name, value, expected):
    with pytest.raises(ParamError, match=expected) as err:
        store.set(name, value)
    assert name in str(err.value) and "\n" not in str(err.value)


def test_rejected_values_leave_the_old_value(store):
    store.set("latent.seed", 5)
    with pytest.raises(ParamError):
        store.set("latent.seed", "x")
    assert store.get("latent.seed") == 5


def test_unknown_names_suggest_close_matches(store):
    with pytest.raises(ParamError, match="did you mean truncation.psi"):
        store.set("truncation.psy", 1)


def test_vectors_parse_from_text():
    param = Param("test.offset", "vector", (0.0, 0.0), "an offset", min=-1, max=1, size=2)
    assert param.parse("0.5, 3") == (0.5, 1.0)
    with pytest.raises(ParamError, match="2 numbers"):
        param.coerce([1, 2, 3])


def test_listeners_hear_changes_with_their_source(store):
    heard = []
    store.add_listener(lambda name, value, source: heard.append((name, value, source)))
    store.set("latent.seed", 3, source="osc")
    store.set("latent.seed", 3, source="osc")  # no change, no call
    assert heard == [("latent.seed", 3, "osc")]


def test_smoothed_parameters_slew_toward_the_target():
    store = ParamStore([Param("fade.level", "float", 0.0, "a fader", min=0, max=1, smoothing=0.1)])
    store.snapshot(now=0.0)
    store.set("fade.level", 1.0)
    values = [store.snapshot(now=t)["fade.level"] for t in (0.1, 0.2, 1.0)]
    assert values[0] == pytest.approx(0.632, abs=1e-3)
    assert values[0] < values[1] < values[2] == pytest.approx(1.0, abs=1e-4)
    assert store.get("fade.level") == 1.0


def test_immediate_skips_smoothing():
    store = ParamStore([Param("fade.level", "float", 0.0, "a fader", smoothing=5)])
    store.set("fade.level", 0.8, immediate=True)
    assert store.snapshot()["fade.level"] == 0.8


def test_snapshot_is_read_only(store):
    snapshot = store.snapshot()
    with pytest.raises(TypeError):
        snapshot["latent.seed"] = 1


def test_snapshots_stay_consistent_under_concurrent_writers(store):
    """Writers set two parameters together; no snapshot may ever see them apart."""
    stop = threading.Event()

    def writer(offset: int) -> None:
        i = offset
        while not stop.is_set():
            store.set_many({"latent.seed": i, "truncation.cutoff": i % 64}, source="test")
            i += 2

    threads = [threading.Thread(target=writer, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    try:
        torn = [s for s in (store.snapshot() for _ in range(20000)) if s["latent.seed"] % 64 != s["truncation.cutoff"]]
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert torn == []


def test_set_many_is_all_or_nothing(store):
    with pytest.raises(ParamError):
        store.set_many({"latent.seed": 9, "truncation.psi": "high"})
    assert store.get("latent.seed") == 0


def test_duplicate_declarations_are_refused():
    p = Param("a.b", "int", 0, "x")
    with pytest.raises(ValueError, match="declared twice"):
        ParamStore([p, p])
