"""The built-in animated test scene, so there is something to react to without a camera."""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from vjengine.sources.base import Source

# Drawing with 4 fractional bits lets shapes glide smoothly instead of stepping whole pixels.
_SHIFT = 4
_ONE = 1 << _SHIFT

# (kind, RGB colour, size as a fraction of the short side, x and y frequencies in Hz, phase):
# incommensurate frequencies make Lissajous paths that take a long time to repeat.
_SHAPES = (
    ("circle", (255, 70, 70), 0.09, 0.13, 0.21, 0.0),
    ("circle", (70, 255, 140), 0.06, 0.19, 0.11, 1.3),
    ("square", (70, 110, 255), 0.12, 0.07, 0.17, 2.1),
    ("square", (255, 215, 40), 0.07, 0.23, 0.09, 4.0),
)
_SWEEP_PERIOD = 6.0  # seconds for the bright blob to go left-right-left


def render_pattern(index: int, width: int, height: int, fps: float = 30.0) -> np.ndarray:
    """Frame `index` of the test scene as (height, width, 3) uint8 RGB; the same arguments give the same picture.

    A hue-cycling gradient, shapes on Lissajous paths and a bright blob sweeping left-right, so the left and
    right halves of the picture change differently. Motion is in seconds (`index / fps`), so it looks the same
    speed at any frame rate.
    """
    t = index / fps
    image = _background(t, width, height)
    for kind, colour, size, freq_x, freq_y, phase in _SHAPES:
        x = width * (0.5 + 0.38 * math.sin(2 * math.pi * freq_x * t + phase))
        y = height * (0.5 + 0.38 * math.sin(2 * math.pi * freq_y * t + 2 * phase))
        radius = max(1.0, size * min(width, height))
        if kind == "circle":
            _circle(image, x, y, radius, colour)
        else:
            _square(image, x, y, radius, math.degrees(t * (1 + phase)), colour)
    sweep_x = width * (0.5 + 0.42 * math.sin(2 * math.pi * t / _SWEEP_PERIOD))
    _circle(image, sweep_x, height * 0.5, max(1.0, 0.14 * min(width, height)), (255, 255, 250))
    return image


class PatternSource(Source):
    """Renders `render_pattern` at `fps` on its own thread."""

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0) -> None:
        super().__init__(f"pattern {width}x{height}@{fps:g}")
        self.width, self.height, self.fps = width, height, fps

    def _produce(self) -> None:
        pacer = self._pacer(self.fps)
        while not self._stopping:
            self._publish(render_pattern(self._next_index, self.width, self.height, self.fps))
            if not pacer.tick():
                return


def _background(t: float, width: int, height: int) -> np.ndarray:
    # OpenCV hue runs 0..180; a full cycle every 12 s. A lookup table shifts the cached ramp far faster than
    # float arithmetic over every pixel would.
    shift = np.uint16(round(t * 15.0) % 180)
    hue_table = ((np.arange(256, dtype=np.uint16) + shift) % 180).astype(np.uint8)
    hsv = np.empty((height, width, 3), np.uint8)
    hsv[..., 0] = cv2.LUT(_hue_ramp(width, height), hue_table)
    hsv[..., 1] = 190
    hsv[..., 2] = _value_ramp(width, height)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


@functools.lru_cache(maxsize=4)
def _hue_ramp(width: int, height: int) -> np.ndarray:
    # The diagonal hue offset is the same every frame, so it is computed once per size.
    xs = np.linspace(0.0, 60.0, width, dtype=np.float32)[None, :]
    ys = np.linspace(0.0, 30.0, height, dtype=np.float32)[:, None]
    return np.round(xs + ys).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _value_ramp(width: int, height: int) -> np.ndarray:
    ys = np.linspace(200.0, 90.0, height, dtype=np.float32)[:, None]
    return np.broadcast_to(ys, (height, width)).astype(np.uint8)


def _circle(image: np.ndarray, x: float, y: float, radius: float, colour: tuple[int, int, int]) -> None:
    centre = (round(x * _ONE), round(y * _ONE))
    cv2.circle(image, centre, round(radius * _ONE), colour, -1, cv2.LINE_AA, _SHIFT)


def _square(image: np.ndarray, x: float, y: float, half: float, angle: float, colour: tuple[int, int, int]) -> None:
    corners = cv2.boxPoints(((x, y), (2 * half, 2 * half), angle))
    cv2.fillConvexPoly(image, np.round(corners * _ONE).astype(np.int32), colour, cv2.LINE_AA, _SHIFT)
