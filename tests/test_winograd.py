"""Winograd's 3x3 convolution, which the widest StyleGAN3 layers use on a CPU, computes what a direct
convolution does (to float32 rounding of the transforms: about 1e-5 of the output's range)."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

from vjengine.models import build_generator
from vjengine.models.compiled import CompiledSynthesis
from vjengine.models.winograd import (
    POINTS,
    _transforms,
    applies,
    direct_convolutions,
    winograd_conv3x3,
    winograd_filters,
)


def close(ours: torch.Tensor, direct: torch.Tensor) -> bool:
    """Equal to a few 1e-5 of the range: the transforms add and subtract terms up to 16x larger than
    the result (at the points +-2), so float32 keeps fewer of the result's bits than a direct sum."""
    return (ours - direct).abs().max().item() <= 1e-4 * direct.abs().max().item()


def test_transforms_compute_a_correlation_exactly():
    inputs, filters, outputs = _transforms(POINTS, 6, 3)
    d = [Fraction(v) for v in (3, -1, 4, 1, -5, 9, 2, -6)]
    g = [Fraction(v) for v in (2, -7, 1)]
    transformed_d = [sum(b * x for b, x in zip(row, d, strict=True)) for row in inputs]
    transformed_g = [sum(f * x for f, x in zip(row, g, strict=True)) for row in filters]
    products = [a * b for a, b in zip(transformed_d, transformed_g, strict=True)]
    y = [sum(a * p for a, p in zip(row, products, strict=True)) for row in outputs]
    assert y == [sum(d[i + j] * g[j] for j in range(3)) for i in range(6)]


@pytest.mark.parametrize("padding", [1, 2])
def test_convolution_matches_direct(padding):
    torch.manual_seed(0)
    x = torch.randn(1, 96, 23, 17)
    weight = torch.randn(64, 96, 3, 3) / 30
    bias = torch.randn(64)
    ours = winograd_conv3x3(x, winograd_filters(weight), padding, bias=bias)
    assert ours.shape == (1, 64, 21 + 2 * padding, 15 + 2 * padding)
    assert close(ours, F.conv2d(x, weight, bias, padding=padding))


def test_styles_and_demodulation_scale_each_sample_alone():
    torch.manual_seed(1)
    x = torch.randn(2, 32, 14, 14).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(48, 32, 3, 3) / 17
    styles, demod = torch.rand(2, 32) + 0.5, torch.rand(2, 48) + 0.5
    ours = winograd_conv3x3(x, winograd_filters(weight), 2, styles, demod)
    for n in range(2):
        modulated = weight * styles[n].reshape(1, -1, 1, 1) * demod[n].reshape(-1, 1, 1, 1)
        assert close(ours[n : n + 1], F.conv2d(x[n : n + 1], modulated, padding=2))


def test_direct_convolution_serves_gradients_and_autocast():
    filters = winograd_filters(torch.randn(8, 8, 3, 3))
    x, styles = torch.randn(1, 8, 6, 6), torch.rand(1, 8)
    assert applies(x, filters, styles)
    with torch.enable_grad():
        assert not applies(x, filters, styles.clone().requires_grad_())
    assert not applies(x, filters[:0], styles)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not applies(x, filters, styles)


@pytest.fixture(scope="module")
def wide_sg3():
    """A StyleGAN3 wide enough (256 channels) for its layers to convolve by Winograd."""
    torch.manual_seed(2)
    G = build_generator(
        {"arch": "stylegan3", "kwargs": {"img_resolution": 16, "channel_base": 4096, "channel_max": 256}}
    ).eval()
    G.requires_grad_(False)
    G.refresh()
    return G


def wide_layers(G: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in G.synthesis.modules() if getattr(m, "winograd_filters", torch.empty(0)).numel()]


def test_wide_layers_prepare_their_filters(wide_sg3):
    assert len(wide_layers(wide_sg3)) >= 4


@torch.no_grad()
def test_frame_matches_direct_convolution(wide_sg3):
    ws = wide_sg3.mapping(torch.randn(1, wide_sg3.z_dim, generator=torch.Generator().manual_seed(4)), None)
    frame = wide_sg3.synthesis(ws)
    with torch.enable_grad():  # gradients wanted: every layer convolves directly
        direct = wide_sg3.synthesis(ws.clone().requires_grad_()).detach()
    assert close(frame, direct)
    assert not torch.equal(frame, direct)  # the two paths are really different computations


@torch.no_grad()
def test_direct_convolutions_switch_winograd_off_for_comparisons(wide_sg3):
    ws = wide_sg3.mapping(torch.randn(1, wide_sg3.z_dim, generator=torch.Generator().manual_seed(6)), None)
    frame = wide_sg3.synthesis(ws)
    with direct_convolutions():
        direct = wide_sg3.synthesis(ws)
    assert close(frame, direct) and not torch.equal(frame, direct)
    assert torch.equal(wide_sg3.synthesis(ws), frame)  # back on after the block


@torch.no_grad()
def test_refresh_follows_weights_edited_by_hand(wide_sg3):
    G = wide_sg3
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(5)), None)
    layer = wide_layers(G)[0]
    before = G.synthesis(ws)
    original = layer.weight.clone()
    try:
        layer.weight.mul_(-1)
        G.refresh()
        assert not close(G.synthesis(ws), before)
    finally:
        layer.weight.copy_(original)
        G.refresh()
    assert close(G.synthesis(ws), before)


@pytest.mark.slow  # torch.compile builds C++ kernels
@torch.no_grad()
def test_compiled_winograd_frame_matches_eager(wide_sg3):
    ws = wide_sg3.mapping(torch.randn(1, wide_sg3.z_dim, generator=torch.Generator().manual_seed(7)), None)
    torch._dynamo.reset()
    compiled = CompiledSynthesis(wide_sg3, torch.device("cpu"))
    assert close(compiled(ws), wide_sg3.synthesis(ws))


def test_winograd_frame_traces_as_one_graph(wide_sg3):
    ws = wide_sg3.mapping(torch.randn(1, wide_sg3.z_dim), None)
    torch._dynamo.reset()
    with torch.no_grad():
        explained = torch._dynamo.explain(wide_sg3.synthesis)(ws)
    assert explained.graph_break_count == 0, explained.break_reasons
