"""Latent directions: SeFa and GANSpace on the NVIDIA-format fixture generators, caching, user files."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest
import torch
from conftest import FIXTURES, wait_for

from vjengine.commands.directions import directions_command, preview_strips
from vjengine.commands.pictures import render_images
from vjengine.downloads import cache_dir
from vjengine.errors import VJError
from vjengine.latent import directions as dirs
from vjengine.latent.directions import (
    DirectionOffset,
    apply_directions,
    compute_directions,
    ganspace,
    load_direction,
    model_fingerprint,
    sefa,
)
from vjengine.models import load_generator


@pytest.fixture(scope="module")
def G():
    return load_generator(FIXTURES / "sg2_64.pkl", "cpu")


@pytest.fixture(scope="module")
def principal(G):
    return ganspace(G, range(G.num_ws), samples=4000, seed=1)


@pytest.fixture(scope="module")
def G3():
    return load_generator(FIXTURES / "sg3t_64.pkl", "cpu")


def _conv_affine_weights(state: dict[str, torch.Tensor], w_dim: int) -> list[tuple[str, np.ndarray]]:
    """The modulated convs' affine weights straight from NVIDIA's state-dict names, in w-row order."""
    names = [k for k in state if ".conv" in k and k.endswith(".affine.weight")]
    names.sort(key=lambda k: (int(k.split(".")[1][1:]), k))  # b4 < b8 < ..., conv0 < conv1
    return [(k, state[k].double().numpy() / np.sqrt(w_dim)) for k in names]


def _unit_rows(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


@pytest.mark.slow  # SeFa on the fixture models
def test_sefa_directions_are_orthonormal(G):
    found = sefa(G, range(G.num_ws))
    gram = found.vectors.astype(np.float64) @ found.vectors.T.astype(np.float64)
    assert found.vectors.shape == (G.w_dim, G.w_dim)
    np.testing.assert_allclose(gram, np.eye(G.w_dim), atol=1e-4)
    assert np.all(np.diff(found.values) <= 1e-9)


@pytest.mark.slow  # SeFa on the fixture models
def test_sefa_matches_svd_of_the_stacked_affine_weights(G):
    stacked = _unit_rows(np.concatenate([w for _, w in _conv_affine_weights(G.state_dict(), G.w_dim)]))
    _, singular, vt = np.linalg.svd(stacked, full_matrices=False)
    found = sefa(G, range(G.num_ws))
    np.testing.assert_allclose(found.values[:10], singular[:10] ** 2, rtol=1e-6)
    agreement = np.abs(np.sum(found.vectors[:5].astype(np.float64) * vt[:5], axis=1))  # equal up to sign
    np.testing.assert_allclose(agreement, 1.0, atol=1e-4)


def test_sefa_reads_only_the_affines_of_its_layer_range(G):
    (name, weight), *_ = _conv_affine_weights(G.state_dict(), G.w_dim)
    assert name == "synthesis.b4.conv1.affine.weight"  # the only style layer reading w row 0
    _, _, vt = np.linalg.svd(_unit_rows(weight), full_matrices=False)
    found = sefa(G, range(0, 1))
    agreement = np.abs(np.sum(found.vectors[:3].astype(np.float64) * vt[:3], axis=1))
    np.testing.assert_allclose(agreement, 1.0, atol=1e-4)
    assert (found.layer_start, found.layer_end) == (0, 1)


def test_sefa_on_stylegan3_is_orthonormal(G3):
    found = sefa(G3, range(G3.num_ws))
    gram = found.vectors[:16].astype(np.float64) @ found.vectors[:16].T.astype(np.float64)
    np.testing.assert_allclose(gram, np.eye(16), atol=1e-4)


def test_sefa_refuses_a_range_only_torgb_reads(G):
    with pytest.raises(VJError, match="widen the layer range"):
        sefa(G, range(G.num_ws - 1, G.num_ws))  # the last row feeds only b64.torgb


def test_ganspace_components_explain_decreasing_variance(G, principal):
    found = principal
    assert np.all(np.diff(found.values) <= 0)
    assert found.values[0] > 1.5 * found.values[-1]
    gram = found.vectors.astype(np.float64) @ found.vectors.T.astype(np.float64)
    np.testing.assert_allclose(gram, np.eye(G.w_dim), atol=1e-4)
    np.testing.assert_allclose(found.scales, np.sqrt(found.values))


def test_ganspace_variance_is_the_spread_of_w_along_each_component(G, principal):
    found = principal
    fresh = dirs.sample_w(G, 4000, seed=2).double().numpy()  # other samples: an independent estimate
    spread = (fresh @ found.vectors[:3].T.astype(np.float64)).var(axis=0)
    np.testing.assert_allclose(spread, found.values[:3], rtol=0.15)


def _base_w(G) -> torch.Tensor:
    return G.mapping(torch.from_numpy(np.random.RandomState(0).randn(1, G.z_dim)).float(), None)[0]


def test_moving_along_direction_0_changes_the_image(G):
    step = compute_directions(G, "sefa").steps()[:1]
    base = _base_w(G)
    still, moved = render_images(G, torch.stack([base, apply_directions(base, step, [5.0])]))
    assert np.abs(moved.astype(int) - still.astype(int)).mean() > 2.0


def test_strength_0_renders_the_same_picture(G):
    step = compute_directions(G, "sefa").steps()[:1]
    base = _base_w(G)
    # Both rendered alone: a batch of one and a batch of two may take different CPU kernels (oneDNN picks
    # them per processor), which can differ in the last bit; rendered the same way, the bytes must agree.
    unchanged = render_images(G, apply_directions(base, step, [0.0])[None])[0]
    still = render_images(G, base[None])[0]
    np.testing.assert_array_equal(unchanged, still)


def test_apply_directions_adds_strength_times_vector_to_the_layer_range_only():
    ws = torch.zeros(6, 4)
    vectors = torch.eye(4)[:2]
    out = apply_directions(ws, vectors, [2.0, -1.0], layer_start=1, layer_end=3)
    np.testing.assert_array_equal(out[1:3].numpy(), [[2.0, -1.0, 0, 0]] * 2)
    assert out[0].abs().sum() == 0 and out[3:].abs().sum() == 0
    assert ws.abs().sum() == 0  # the input is left alone


def test_apply_directions_takes_per_layer_vectors_and_batches():
    ws = torch.zeros(2, 3, 2)
    per_layer = torch.arange(6.0).view(1, 3, 2)
    out = apply_directions(ws, per_layer, [1.0], layer_start=1)
    np.testing.assert_array_equal(out[1].numpy(), [[0, 0], [2, 3], [4, 5]])


def test_directions_are_cached_per_model(G, monkeypatch):
    first = compute_directions(G, "sefa")
    files = list((cache_dir() / "directions").glob("*-sefa-*.npz"))
    assert len(files) == 1 and model_fingerprint(G)[:16] in files[0].name
    monkeypatch.setattr(dirs, "sefa", lambda *a, **k: pytest.fail("recomputed instead of read from the cache"))
    np.testing.assert_array_equal(compute_directions(G, "sefa").vectors, first.vectors)


@pytest.mark.slow  # SeFa on two models
def test_another_model_never_reuses_the_cache(G):
    first = compute_directions(G, "sefa")
    other = copy.deepcopy(G)
    other.synthesis.b4.conv1.affine.weight.add_(torch.randn_like(other.synthesis.b4.conv1.affine.weight))
    assert model_fingerprint(other) != first.fingerprint
    second = compute_directions(other, "sefa")
    assert second.fingerprint == model_fingerprint(other)
    assert not np.allclose(np.abs(second.vectors[0]), np.abs(first.vectors[0]))


def test_unknown_method_is_one_line(G):
    with pytest.raises(VJError, match="use sefa or ganspace"):
        compute_directions(G, "pca")


@pytest.mark.parametrize("shape", [(512,), (1, 512), (10, 512)])
def test_load_direction_accepts_interfacegan_and_w_plus_shapes(tmp_path, shape):
    path = tmp_path / "smile.npy"
    np.save(path, np.random.RandomState(0).randn(*shape))
    loaded = load_direction(path, w_dim=512, num_ws=10)
    assert loaded.dtype == np.float32
    assert loaded.shape == ((10, 512) if shape[0] == 10 else (512,))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (np.zeros((3, 512)), "needs \\[512\\], \\[1, 512\\] or \\[10, 512\\]"),
        (np.zeros(256), "needs"),
        (np.zeros(512), "all zeros"),
        (np.array(["a", "b"]), "not a numeric"),
        (np.array([{"a": 1}], dtype=object), "cannot read"),
    ],
)
def test_bad_direction_files_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.npy"
    if content is not None:
        np.save(path, content, allow_pickle=True)
    with pytest.raises(VJError, match=message) as error:
        load_direction(path, w_dim=512, num_ws=10)
    assert "\n" not in str(error.value)


def test_preview_strips_show_each_direction_from_minus_to_plus(G, principal, tmp_path):
    paths = preview_strips(G, principal, k=2, steps=5, out_dir=tmp_path, size=32)
    assert [p.name for p in paths] == ["ganspace-00.png", "ganspace-01.png"]
    strip = cv2.imread(str(paths[0]))
    assert strip.shape == (32, 5 * 32, 3)
    left, right = strip[:, :32].astype(int), strip[:, -32:].astype(int)
    assert np.abs(left - right).mean() > 1.0


def test_directions_command_prints_a_table_and_writes_previews(tmp_path, capsys):
    status = directions_command(str(FIXTURES / "sg2_64.pkl"), "sefa", k=3, out_dir=tmp_path, layers="coarse")
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert "w rows 0-3" in lines[0]
    assert [line.split()[0] for line in lines[2:5]] == ["direction.0", "direction.1", "direction.2"]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["sefa-00.png", "sefa-01.png", "sefa-02.png"]


def _snapshot(**values) -> dict:
    base = {f"direction.{k}": 0.0 for k in range(8)}
    base.update({"direction.method": "sefa", "direction.layers": "all", "direction.file": "", "direction.user": 0.0})
    return {**base, **{k.replace("_", "."): v for k, v in values.items()}}


def test_direction_offset_moves_the_chosen_rows_once_ready(G):
    offset = DirectionOffset(G, "cpu")
    snapshot = _snapshot(direction_0=2.0, direction_layers="coarse")
    for job in offset.prepare(snapshot):
        job.result(timeout=60)
    ws = torch.zeros(1, G.num_ws, G.w_dim)
    moved = offset(ws, snapshot)
    expected = 2.0 * compute_directions(G, "sefa", range(0, 4)).vectors[0]
    np.testing.assert_allclose(moved[0, :4].numpy(), np.broadcast_to(expected, (4, G.w_dim)), atol=1e-6)
    assert moved[0, 4:].abs().sum() == 0
    offset.close()


def test_direction_offset_leaves_ws_alone_while_idle_or_computing(G):
    offset = DirectionOffset(G, "cpu")
    ws = torch.zeros(1, G.num_ws, G.w_dim)
    assert offset(ws, _snapshot()) is ws  # nothing asked for: nothing computed
    # GANSpace samples 20 000 latents on the worker: far from done when the call returns.
    assert offset(ws, _snapshot(direction_3=1.0, direction_method="ganspace")) is ws
    offset.close()


def test_direction_offset_applies_a_user_file_and_logs_a_bad_one_once(G, tmp_path, caplog):
    good, bad = tmp_path / "smile.npy", tmp_path / "bad.npy"
    np.save(good, np.ones(G.w_dim, np.float32))
    np.save(bad, np.ones(7, np.float32))
    offset = DirectionOffset(G, "cpu")
    ws = torch.zeros(1, G.num_ws, G.w_dim)
    for path in (good, bad):
        for job in offset.prepare(_snapshot(direction_file=str(path))):
            job.exception(timeout=60)
    moved = offset(ws, _snapshot(direction_file=str(good), direction_user=0.5))
    assert torch.equal(moved, torch.full_like(ws, 0.5))
    for _ in range(3):
        assert offset(ws, _snapshot(direction_file=str(bad), direction_user=1.0)) is ws
    assert len([r for r in caplog.records if "bad.npy" in r.getMessage()]) == 1
    offset.close()


def test_a_bad_direction_file_is_reported_when_named_before_any_strength(G, tmp_path, caplog):
    offset = DirectionOffset(G, "cpu")
    ws = torch.zeros(1, G.num_ws, G.w_dim)
    missing = _snapshot(direction_file=str(tmp_path / "nowhere.npy"))
    assert offset(ws, missing) is ws  # starts reading it
    assert wait_for(lambda: offset(ws, missing) is ws and any("nowhere.npy" in r.getMessage() for r in caplog.records))
    offset.close()
