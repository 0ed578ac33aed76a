"""StyleGAN2 const corruption and the StyleGAN3 input transform, driven by registry parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import FIXTURES, reference
from vjengine.models import load_generator
from vjengine.models.manipulation import Manipulator, make_transform
from vjengine.params import default_store


def render(G, ref) -> np.ndarray:
    return G.synthesis(torch.from_numpy(ref["ws_psi1.0"]), noise_mode="const").numpy()


@pytest.fixture
def sg2():
    return load_generator(FIXTURES / "sg2_64.pkl"), reference("sg2_64")


def apply(manipulator, phase=0.0, **values):
    store = default_store()
    store.set_many(values, immediate=True)
    manipulator.apply(store.snapshot(), phase)


def test_gain_zero_is_the_model_as_trained(sg2):
    G, ref = sg2
    apply(Manipulator(G), **{"corruption.gain": 0.0})
    assert np.abs(render(G, ref) - ref["img_psi1.0_const"]).max() < 1e-3


def test_gain_above_zero_changes_the_image(sg2):
    G, ref = sg2
    apply(Manipulator(G), **{"corruption.gain": 0.5})
    assert np.abs(render(G, ref) - ref["img_psi1.0_const"]).mean() > 0.05


def test_the_constant_is_restored_exactly_at_gain_zero(sg2):
    G, _ = sg2
    original = G.synthesis.b4.const.clone()
    manipulator = Manipulator(G)
    apply(manipulator, **{"corruption.gain": 0.8})
    apply(manipulator, phase=0.3, **{"corruption.gain": 0.8})
    apply(manipulator, **{"corruption.gain": 0.0})
    assert torch.equal(G.synthesis.b4.const, original)


def test_the_corruption_field_drifts_with_the_phase(sg2):
    G, _ = sg2
    manipulator = Manipulator(G)
    apply(manipulator, 0.0, **{"corruption.gain": 1.0})
    first = G.synthesis.b4.const.clone()
    apply(manipulator, 0.25, **{"corruption.gain": 1.0})
    assert not torch.allclose(first, G.synthesis.b4.const)


def test_warp_moves_the_constants_features_around(sg2):
    G, ref = sg2
    original = G.synthesis.b4.const.clone()
    apply(Manipulator(G), **{"corruption.gain": 1.0, "corruption.mode": "warp"})
    warped = G.synthesis.b4.const
    assert not torch.equal(warped, original)
    # resampled, not replaced: every channel stays within its trained range
    lo, hi = original.amin(dim=(1, 2)), original.amax(dim=(1, 2))
    assert bool(((warped.amin(dim=(1, 2)) >= lo - 1e-6) & (warped.amax(dim=(1, 2)) <= hi + 1e-6)).all())
    assert np.abs(render(G, ref) - ref["img_psi1.0_const"]).mean() > 0.01


def test_warp_grows_with_the_gain(sg2):
    G, _ = sg2
    original = G.synthesis.b4.const.clone()
    manipulator = Manipulator(G)
    moved = []
    for gain in (0.1, 0.5):
        apply(manipulator, **{"corruption.gain": gain, "corruption.mode": "warp"})
        moved.append((G.synthesis.b4.const - original).abs().mean().item())
    assert 0 < moved[0] < moved[1]


def test_the_constant_is_restored_exactly_after_a_warp(sg2):
    G, _ = sg2
    original = G.synthesis.b4.const.clone()
    manipulator = Manipulator(G)
    apply(manipulator, **{"corruption.gain": 0.8, "corruption.mode": "warp"})
    apply(manipulator, **{"corruption.gain": 0.0, "corruption.mode": "warp"})
    assert torch.equal(G.synthesis.b4.const, original)


def test_transform_parameters_reproduce_nvidia_gen_images():
    G, ref = load_generator(FIXTURES / "sg3t_64.pkl"), reference("sg3t_64")
    apply(Manipulator(G), **{"transform.rotate": 30.0, "transform.x": 0.1, "transform.y": -0.05})
    assert np.abs(G.synthesis.input.transform.numpy() - ref["transform"]).max() < 1e-6
    assert np.abs(render(G, ref) - ref["img_psi1.0_const_transformed"]).max() < 1e-3


def test_identity_transform_by_default():
    assert np.allclose(make_transform(), np.eye(3))


def test_scale_zooms_the_input_grid():
    assert np.allclose(make_transform(scale=2.0)[:2, :2], np.eye(2) / 2)
