"""Shaping frames for outputs: size and fit, flip, pixel layouts with their strides, and the spec options."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import FakeSink, wait_for
from vjengine.errors import VJError
from vjengine.outputs import Shaping, open_sink, parse_options
from vjengine.outputs.frames import PixelPacker, fit_frame

W, H = 64, 48


def bands(width: int = W, height: int = H) -> np.ndarray:
    """Three vertical bands, red | green | blue, so crops and bars show where the picture went."""
    image = np.zeros((height, width, 3), np.uint8)
    third = width // 3
    image[:, :third] = (255, 0, 0)
    image[:, third : 2 * third] = (0, 255, 0)
    image[:, 2 * third :] = (0, 0, 255)
    return image


def numbered(width: int = 5, height: int = 4) -> np.ndarray:
    """Every byte different, so any misplaced channel, row or column shows."""
    return np.arange(height * width * 3, dtype=np.uint8).reshape(height, width, 3)


# Size and fit


def test_frames_already_at_the_size_pass_through_untouched():
    frame = bands()
    assert fit_frame(frame, W, H, "letterbox") is frame
    assert Shaping().resize(frame) is frame


def test_stretch_fills_the_size_exactly():
    out = fit_frame(bands(), 96, 96, "stretch")
    assert out.shape == (96, 96, 3)
    assert tuple(out[48, 5]) == (255, 0, 0) and tuple(out[48, 90]) == (0, 0, 255)


def test_letterbox_keeps_the_aspect_ratio_with_black_bars_beside():
    out = fit_frame(bands(), 128, 48, "letterbox")  # 4:3 into 8:3: the picture is 64 wide in the middle
    assert out.shape == (48, 128, 3)
    assert out[:, :32].max() == 0 and out[:, 96:].max() == 0
    np.testing.assert_array_equal(out[:, 32:96], bands())


def test_letterbox_puts_the_bars_above_and_below_for_a_tall_output():
    out = fit_frame(bands(), 64, 96, "letterbox")
    assert out[:24].max() == 0 and out[72:].max() == 0
    np.testing.assert_array_equal(out[24:72], bands())


def test_crop_fills_the_output_and_cuts_the_sides():
    out = fit_frame(bands(96, 48), 48, 48, "crop")  # a square from the middle of a 2:1 picture
    assert out.shape == (48, 48, 3) and out.flags.c_contiguous
    assert tuple(out[24, 24]) == (0, 255, 0)
    assert tuple(out[24, 0]) == (255, 0, 0) and tuple(out[24, 47]) == (0, 0, 255)  # edges of the outer bands


def test_shaping_rejects_unknown_fits_and_empty_sizes():
    with pytest.raises(ValueError, match="fit must be one of stretch, letterbox, crop"):
        Shaping(size=(8, 8), fit="zoom")
    with pytest.raises(ValueError, match="size must be positive"):
        Shaping(size=(0, 8))


# Pixel layouts: what the libraries read


def test_rgba_is_tightly_packed_rgb_then_opaque_alpha():
    frame = numbered()
    out = PixelPacker("RGBA").pack(frame)
    assert out.shape == (4, 5, 4) and out.dtype == np.uint8
    assert out.flags.c_contiguous and out.strides == (5 * 4, 4, 1)  # row stride = width x 4 bytes, no padding
    np.testing.assert_array_equal(out[..., :3], frame)
    assert (out[..., 3] == 255).all()
    assert out.tobytes()[:8] == bytes([0, 1, 2, 255, 3, 4, 5, 255])


def test_bgra_swaps_red_and_blue():
    out = PixelPacker("BGRA").pack(numbered())
    assert out.tobytes()[:8] == bytes([2, 1, 0, 255, 5, 4, 3, 255])
    assert out.strides == (5 * 4, 4, 1)


def test_flip_puts_the_bottom_row_first():
    frame = numbered()
    out = PixelPacker("RGBA", flip=True).pack(frame)
    np.testing.assert_array_equal(out[..., :3], frame[::-1])
    assert out.flags.c_contiguous


def test_rgb_packing_copies_only_when_flipping():
    frame = numbered()
    assert PixelPacker("RGB").pack(frame) is frame
    flipped = PixelPacker("RGB", flip=True).pack(frame)
    np.testing.assert_array_equal(flipped, frame[::-1])
    assert flipped.flags.c_contiguous


def test_the_packer_reuses_one_buffer_so_consumers_must_copy_at_once():
    packer = PixelPacker("BGRA")
    first = packer.pack(numbered())
    second = packer.pack(numbered()[::-1].copy())
    assert first is second


def test_frames_already_in_the_layout_pass_through_or_are_only_flipped():
    rgba = np.random.RandomState(0).randint(0, 256, (4, 6, 4), dtype=np.uint8)  # as the engine makes on a GPU
    assert np.array_equal(PixelPacker("RGBA").pack(rgba), rgba)
    assert np.array_equal(PixelPacker("RGBA", flip=True).pack(rgba), rgba[::-1])


def test_unknown_layout_is_refused():
    with pytest.raises(ValueError, match="layout must be one of RGB, RGBA, BGRA"):
        PixelPacker("YUYV")


# Options in the output spec


def test_options_parse_size_fit_and_flip():
    assert parse_options("size=1280x720&fit=letterbox&flip=1") == Shaping((1280, 720), "letterbox", True)
    assert parse_options("flip=yes") == Shaping(flip=True)
    assert parse_options("") == Shaping()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("size=1280", "bad size '1280'"),
        ("size=0x720", "bad size '0x720'"),
        ("fit=zoom&size=8x8", "bad fit 'zoom'"),
        ("fit=crop", "fit needs a size"),
        ("flip=maybe", "bad flip 'maybe'"),
        ("colour=red", "bad output option 'colour=red'"),
        ("flip", "bad output option 'flip'"),
        ("flip=1&flip=0", "'flip' given twice"),
    ],
)
def test_bad_options_are_one_line_errors(query, message):
    with pytest.raises(VJError, match=message) as error:
        parse_options(query, f"ndi:Stage?{query}")
    assert "\n" not in str(error.value)


def test_open_sink_applies_the_options():
    with open_sink("none?size=32x24&fit=crop") as sink:
        assert sink.shaping == Shaping((32, 24), "crop")


def test_options_on_an_output_with_an_argument():
    with open_sink("preview:0?flip=1") as sink:
        assert sink.shaping == Shaping(flip=True)
        assert sink.port > 0


def test_file_paths_keep_their_question_marks(tmp_path):
    path = tmp_path / "what?.mp4"
    with open_sink(f"file:{path}") as sink:
        sink.send(bands())
    assert path.exists()


def test_bad_option_fails_before_anything_opens():
    with pytest.raises(VJError, match="bad size"):
        open_sink("preview:0?size=big")


def test_every_sink_gets_its_frames_at_its_own_size_and_orientation():
    sink = FakeSink(live=True)
    sink.set_shaping(Shaping((128, 48), "letterbox", flip=True))
    frame = bands()
    frame[0] = 255  # a white top row, to see the flip
    sink.send(frame)
    wait_for(lambda: sink.frames, 5)
    sink.close()

    assert sink.opened_with == (48, 128, 3)
    (got,) = sink.frames
    assert got[-1, 64].tolist() == [255, 255, 255] and got[0, 64].tolist() != [255, 255, 255]
    assert got[:, :32].max() == 0


def test_shaping_cannot_change_once_frames_flow():
    with FakeSink(live=True) as sink:
        sink.send(bands())
        with pytest.raises(RuntimeError, match="before sending frames"):
            sink.set_shaping(Shaping(flip=True))
