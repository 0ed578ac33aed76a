"""Presets: a bank on disk, store and recall of the look on screen, crossfades, walks."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
import torch

from tests.conftest import FIXTURES, FakeClock
from vjengine.control.actions import Actions, Targets
from vjengine.latent import LatentComposer
from vjengine.latent.morph import PresetPlayer
from vjengine.latent.presets import Preset, PresetBank, PresetError, slerp
from vjengine.latent.walk import closed_spline
from vjengine.models import load_generator
from vjengine.params import default_store


@pytest.fixture(scope="module")
def generator():
    return load_generator(FIXTURES / "sg2_64.pkl")


@pytest.fixture
def rig(generator, tmp_path):
    """A store, a composer with a preset player on an empty bank, and a hand-driven clock."""
    store = default_store()
    store.set("latent.drift", 0.0, immediate=True)
    clock = FakeClock(100.0)
    player = PresetPlayer(PresetBank(tmp_path / "bank"), store, model="sg2_64", clock=clock)
    composer = LatentComposer(generator, torch.device("cpu"), presets=player)

    def frame(walk: float = 0.0):
        return composer.compose(store.snapshot(clock.now), {}, 0.0, walk=walk)

    return store, player, frame, clock


def store_look(store, player, frame, slot, seed):
    store.set("latent.seed", seed, immediate=True)
    shown = frame()
    player.store_preset(slot, name=f"seed {seed}")
    return shown


def test_a_bank_loads_what_it_saved(tmp_path):
    ws = np.random.RandomState(0).randn(8, 16).astype(np.float32)
    z = np.random.RandomState(1).randn(16).astype(np.float32)
    PresetBank(tmp_path).store(Preset(3, ws, {"corruption.gain": 0.5}, "venue", "ffhq", 0.7, z))
    loaded = PresetBank(tmp_path).get(3)
    assert np.array_equal(loaded.ws, ws) and np.array_equal(loaded.z, z)
    assert (loaded.name, loaded.model, loaded.psi, loaded.params) == ("venue", "ffhq", 0.7, {"corruption.gain": 0.5})


def test_the_index_is_readable_versioned_json(tmp_path):
    PresetBank(tmp_path).store(Preset(1, np.zeros((8, 16)), name="a look"))
    index = json.loads((tmp_path / "presets.json").read_text())
    assert index["format"] == "vjengine-presets" and index["version"] == 1
    assert index["presets"][0]["latents"] == "001-a-look.npy"
    assert (tmp_path / "001-a-look.npy").exists()


def test_replacing_a_slot_removes_the_old_latents(tmp_path):
    bank = PresetBank(tmp_path)
    bank.store(Preset(1, np.zeros((8, 16)), name="old"))
    bank.store(Preset(1, np.ones((8, 16)), name="new"))
    assert sorted(p.name for p in tmp_path.glob("*.npy")) == ["001-new.npy"]


def test_a_bank_that_cannot_be_written_keeps_the_preset_for_the_session_and_says_so(tmp_path, caplog):
    (tmp_path / "a-file").write_text("")
    bank = PresetBank(tmp_path / "a-file" / "bank")
    bank.store(Preset(2, np.ones((8, 16)), name="venue"))
    assert np.array_equal(bank.get(2).ws, np.ones((8, 16)))
    assert "preset 2 is kept for this session only" in caplog.text


def test_an_empty_slot_says_which_are_stored(tmp_path):
    bank = PresetBank(tmp_path)
    bank.store(Preset(2, np.zeros((8, 16))))
    with pytest.raises(PresetError, match="preset 5 is empty .stored: 2"):
        bank.get(5)


def test_slots_outside_the_range_are_refused(tmp_path):
    with pytest.raises(PresetError, match="1 to 127"):
        PresetBank(tmp_path).store(Preset(0, np.zeros((8, 16))))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "something-else"}', "not a vjengine preset bank"),
        ('{"format": "vjengine-presets", "version": 9, "presets": []}', "version 9"),
        ('{"format": "vjengine-presets", "version": 1, "presets": [{"slot": 1, "latents": "gone.npy"}]}', "missing"),
        ('{"format": "vjengine-presets", "version": 1, "presets": [{"slot": "one"}]}', "integer .slot."),
    ],
)
def test_bad_banks_give_one_line_errors(tmp_path, content, message):
    (tmp_path / "presets.json").write_text(content)
    with pytest.raises(PresetError, match=message):
        PresetBank(tmp_path)


def test_latents_are_never_read_from_outside_the_bank(tmp_path):
    np.save(tmp_path / "outside.npy", np.zeros((8, 16)))
    bank = tmp_path / "bank"
    bank.mkdir()
    row = {"slot": 1, "latents": "../outside.npy"}
    (bank / "presets.json").write_text(json.dumps({"format": "vjengine-presets", "version": 1, "presets": [row]}))
    with pytest.raises(PresetError, match="missing"):
        PresetBank(bank)


def test_recall_shows_exactly_the_stored_look(rig):
    store, player, frame, clock = rig
    stored = store_look(store, player, frame, 1, seed=0)
    store.set("latent.seed", 9, immediate=True)
    player.recall(1, seconds=0)
    assert torch.equal(frame(), stored)


def test_a_preset_from_another_model_shows_the_live_seed_and_warns_once(rig, caplog):
    store, player, frame, clock = rig
    live = frame()
    player.bank.store(Preset(4, np.zeros((8, 512), np.float32), name="other model"))
    store.set("preset.a", 4, immediate=True)
    for _ in range(5):
        assert torch.equal(frame(), live)
    assert caplog.text.count("was stored with another model (latents 8x512") == 1


def test_recall_restores_the_looks_parameters(rig):
    store, player, frame, clock = rig
    store.set("corruption.gain", 0.6, immediate=True)
    store_look(store, player, frame, 1, seed=0)
    store.set("corruption.gain", 0.0, immediate=True)
    player.recall(1)
    assert store.get("corruption.gain") == 0.6


def test_recall_crossfades_over_preset_time(rig):
    store, player, frame, clock = rig
    stored = store_look(store, player, frame, 1, seed=0)
    store.set("latent.seed", 9, immediate=True)
    before = frame()
    player.recall(1, seconds=2.0)
    clock.now += 1.0
    halfway = frame()
    assert not torch.equal(halfway, stored) and not torch.equal(halfway, before)
    assert torch.allclose(halfway, (before + stored) / 2, atol=1e-5)  # smoothstep is 0.5 at the middle
    clock.now += 1.5
    assert torch.equal(frame(), stored)


def test_crossfade_endpoints_equal_their_presets_exactly(rig):
    store, player, frame, clock = rig
    first = store_look(store, player, frame, 1, seed=0)
    second = store_look(store, player, frame, 2, seed=5)
    store.set_many({"preset.a": 1, "preset.b": 2, "preset.fade": 0.0}, immediate=True)
    assert torch.equal(frame(), first)
    store.set("preset.fade", 1.0, immediate=True)
    assert torch.equal(frame(), second)
    store.set("preset.fade", 0.25, immediate=True)
    assert torch.allclose(frame(), first.lerp(second, 0.25))


def test_slerp_crossfade_follows_the_great_circle_between_seed_z(rig, generator):
    store, player, frame, clock = rig
    store_look(store, player, frame, 1, seed=0)
    store_look(store, player, frame, 2, seed=5)
    bank = player.bank
    store.set_many({"preset.a": 1, "preset.b": 2, "preset.fade": 0.5, "preset.curve": "slerp"}, immediate=True)
    z = torch.from_numpy(slerp(bank.get(1).z, bank.get(2).z, 0.5)).float().unsqueeze(0)
    expected = generator.mapping(z, None, truncation_psi=store.get("truncation.psi"))
    assert torch.allclose(frame(), expected, atol=1e-6)


def test_the_truncation_knob_still_acts_on_a_recalled_preset(rig, generator):
    store, player, frame, clock = rig
    stored = store_look(store, player, frame, 1, seed=0)
    player.recall(1, seconds=0)
    store.set("truncation.psi", 0.0, immediate=True)
    assert torch.allclose(frame(), generator.mapping.w_avg.expand_as(stored), atol=1e-6)


def test_storing_before_any_frame_is_a_clear_error(rig):
    store, player, frame, clock = rig
    with pytest.raises(PresetError, match="nothing has been rendered"):
        player.store_preset(1)


def test_the_closed_spline_passes_through_every_key_and_loops():
    keys = np.random.RandomState(0).randn(4, 3)
    for k in range(4):
        assert np.array_equal(closed_spline(keys, k), keys[k])
    assert np.allclose(closed_spline(keys, 4.3), closed_spline(keys, 0.3))


def test_the_closed_spline_has_no_kink_at_the_keys():
    keys = np.random.RandomState(0).randn(5, 3)
    h = 1e-4
    for k in range(5):
        left = (closed_spline(keys, k) - closed_spline(keys, k - h)) / h
        right = (closed_spline(keys, k + h) - closed_spline(keys, k)) / h
        assert np.allclose(left, right, atol=1e-2)


def test_a_seed_walk_passes_through_consecutive_seeds(rig):
    store, player, frame, clock = rig
    looks = []
    for seed in (3, 4):
        store.set("latent.seed", seed, immediate=True)
        looks.append(frame())
    store.set_many({"latent.seed": 3, "walk.mode": "seeds", "walk.length": 4}, immediate=True)
    assert torch.allclose(frame(walk=0.0), looks[0], atol=1e-6)
    assert torch.allclose(frame(walk=1.0), looks[1], atol=1e-6)
    assert torch.allclose(frame(walk=4.0), looks[0], atol=1e-6)  # a closed loop
    between = frame(walk=0.5)
    assert not torch.allclose(between, looks[0]) and not torch.allclose(between, looks[1])


def test_a_preset_walk_loops_through_the_bank(rig):
    store, player, frame, clock = rig
    first = store_look(store, player, frame, 1, seed=0)
    second = store_look(store, player, frame, 2, seed=5)
    store.set("walk.mode", "presets", immediate=True)
    assert torch.allclose(frame(walk=0.0), first) and torch.allclose(frame(walk=1.0), second)


def test_setting_preset_recall_recalls_and_reads_back_zero(rig):
    store, player, frame, clock = rig
    store.set("corruption.gain", 0.4, immediate=True)
    store_look(store, player, frame, 2, seed=0)
    store.set("corruption.gain", 0.0, immediate=True)
    Actions(Targets(store, player)).listen()
    store.set("preset.recall", 2, source="midi")
    assert store.get("corruption.gain") == 0.4
    assert (store.get("preset.b"), store.get("preset.recall")) == (2, 0)


def test_recalling_an_empty_slot_by_parameter_only_warns(rig, caplog):
    store, player, frame, clock = rig
    Actions(Targets(store, player)).listen()
    store.set("preset.recall", 9, source="midi")
    assert "preset 9 is empty" in caplog.text and store.get("preset.recall") == 0


def test_style_mixing_takes_the_named_layers_from_preset_b(rig):
    store, player, frame, clock = rig
    face = store_look(store, player, frame, 1, seed=0)
    venue = store_look(store, player, frame, 2, seed=5)
    store.set_many({"preset.a": 1, "preset.b": 2, "preset.fade": 0.0, "preset.style": "4-9"}, immediate=True)
    mixed = frame()
    assert torch.equal(mixed[:, :4], face[:, :4]) and torch.equal(mixed[:, 4:], venue[:, 4:])


def test_a_bank_is_written_with_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        PresetBank(tmp_path).store(Preset(3, np.zeros((8, 16), np.float32), z=np.zeros(16, np.float32)))
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"presets.json": 0o644, "003.npy": 0o644, "003.z.npy": 0o644}, modes
