"""Layouts, per-region means, layer bands and style mixing."""

from __future__ import annotations

import pytest
import torch

from vjengine.analysis.regions import parse_layout, region_means
from vjengine.errors import VJError
from vjengine.latent.regions import layer_range, mix_ws


@pytest.mark.parametrize(
    ("name", "count"), [("whole", 1), ("top/bottom", 2), ("left/right", 2), ("thirds", 3), ("quadrants", 4)]
)
def test_named_layouts(name, count):
    assert len(parse_layout(name).region_names) == count


def test_grid_layouts_are_row_major():
    layout = parse_layout("grid:2x3")
    assert (layout.rows, layout.cols) == (2, 3) and layout.region_names[:2] == ("r0c0", "r0c1")


@pytest.mark.parametrize("name", ["hexagons", "grid:0x2", "grid:9x9", "grid:2"])
def test_bad_layouts_are_one_line_errors(name):
    with pytest.raises(VJError, match="use whole, top/bottom"):
        parse_layout(name)


def test_left_right_means_follow_the_halves():
    fmap = torch.zeros(3, 4, 6)
    fmap[:, :, :3] = 1
    assert torch.equal(region_means(fmap, parse_layout("left/right")), torch.tensor([[1.0] * 3, [0.0] * 3]))


def test_every_cell_counts_once_on_odd_sizes():
    fmap = torch.full((2, 5, 7), 3.0)
    assert torch.allclose(region_means(fmap, parse_layout("thirds")), torch.full((3, 2), 3.0))


def test_a_map_smaller_than_the_grid_leaves_no_region_empty():
    means = region_means(torch.arange(4.0).reshape(1, 2, 2), parse_layout("grid:3x3"))
    assert means.shape == (9, 1) and torch.isfinite(means).all()


@pytest.mark.parametrize(("num_ws", "fine"), [(18, range(8, 18)), (14, range(8, 14))])
def test_stylegan2_bands(num_ws, fine):
    assert layer_range("coarse", num_ws, "stylegan2") == range(0, 4)
    assert layer_range("middle", num_ws, "stylegan2") == range(4, 8)
    assert layer_range("fine", num_ws, "stylegan2") == fine


def test_stylegan3_splits_into_thirds():
    assert [layer_range(b, 16, "stylegan3") for b in ("coarse", "middle", "fine")] == [
        range(0, 5),
        range(5, 10),
        range(10, 16),
    ]


def test_explicit_ranges_are_inclusive():
    assert layer_range("2-5", 14) == range(2, 6) and layer_range("7", 14) == range(7, 8)


@pytest.mark.parametrize("spec", ["3-20", "5-2", "wide"])
def test_bad_ranges_name_the_valid_range(spec):
    with pytest.raises(VJError, match="0 <= a <= b < 14"):
        layer_range(spec, 14)


def test_an_empty_band_is_an_error():
    with pytest.raises(VJError, match="empty"):
        layer_range("fine", 8)


def test_mix_moves_only_assigned_rows():
    anchor, region = torch.zeros(10, 4), torch.ones(2, 10, 4)
    out = mix_ws(anchor, region, [range(0, 2), range(5, 7)], strength=0.5)
    assert torch.equal(out[[0, 1, 5, 6]], torch.full((4, 4), 0.5))
    assert torch.equal(out[[2, 3, 4, 7, 8, 9]], torch.zeros(6, 4))


def test_later_regions_win_where_ranges_overlap():
    out = mix_ws(torch.zeros(4, 2), torch.stack([torch.ones(4, 2), 2 * torch.ones(4, 2)]), [range(0, 3), range(2, 4)])
    assert out[:, 0].tolist() == [1, 1, 2, 2]
