"""Our generators reproduce NVIDIA's own outputs for NVIDIA's own snapshot files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import FIXTURES, reference
from vjengine.models import load_generator

MODELS = ["sg2_64", "sg3t_64"]


def max_diff(ours: torch.Tensor, theirs: np.ndarray) -> float:
    assert tuple(ours.shape) == theirs.shape
    return float(np.abs(ours.numpy() - theirs).max())


@pytest.fixture(scope="module", params=MODELS)
def case(request):
    return load_generator(FIXTURES / f"{request.param}.pkl"), reference(request.param)


def test_mapping_matches(case):
    G, ref = case
    assert max_diff(G.mapping(torch.from_numpy(ref["z"]), None), ref["ws_psi1.0"]) < 1e-4


def test_truncation_matches(case):
    G, ref = case
    ws = G.mapping(torch.from_numpy(ref["z"]), None, truncation_psi=0.7)
    assert max_diff(ws, ref["ws_psi0.7"]) < 1e-4


def test_truncation_cutoff_matches(case):
    G, ref = case
    ws = G.mapping(torch.from_numpy(ref["z"]), None, truncation_psi=0.5, truncation_cutoff=4)
    assert max_diff(ws, ref["ws_psi0.5_cutoff4"]) < 1e-4


@pytest.mark.parametrize("psi", ["1.0", "0.7"])
def test_synthesis_const_noise_matches(case, psi):
    G, ref = case
    img = G.synthesis(torch.from_numpy(ref[f"ws_psi{psi}"]), noise_mode="const")
    assert max_diff(img, ref[f"img_psi{psi}_const"]) < 1e-3


def test_synthesis_without_noise_matches(case):
    G, ref = case
    img = G.synthesis(torch.from_numpy(ref["ws_psi1.0"]), noise_mode="none")
    assert max_diff(img, ref["img_psi1.0_none"]) < 1e-3


def test_style_mixing_matches(case):
    G, ref = case
    img = G.synthesis(torch.from_numpy(ref["ws_mixed"]), noise_mode="const")
    assert max_diff(img, ref["img_mixed_const"]) < 1e-3


def test_full_generator_call_matches(case):
    G, ref = case
    img = G(torch.from_numpy(ref["z"]), None, truncation_psi=0.7, noise_mode="const")
    assert max_diff(img, ref["img_psi0.7_const"]) < 1e-3


def test_stylegan3_input_transform_matches():
    G, ref = load_generator(FIXTURES / "sg3t_64.pkl"), reference("sg3t_64")
    G.synthesis.input.transform.copy_(torch.from_numpy(ref["transform"]))
    img = G.synthesis(torch.from_numpy(ref["ws_psi1.0"]), noise_mode="const")
    assert max_diff(img, ref["img_psi1.0_const_transformed"]) < 1e-3


def test_random_noise_changes_stylegan2_output():
    G, ref = load_generator(FIXTURES / "sg2_64.pkl"), reference("sg2_64")
    ws = torch.from_numpy(ref["ws_psi1.0"][:1])
    assert not torch.equal(G.synthesis(ws, noise_mode="random"), G.synthesis(ws, noise_mode="random"))


def test_output_does_not_depend_on_batch_neighbours(case):
    G, ref = case
    ws = torch.from_numpy(ref["ws_psi1.0"])
    alone = G.synthesis(ws[1:2], noise_mode="const")
    assert max_diff(alone, G.synthesis(ws, noise_mode="const")[1:2].numpy()) < 1e-4
