"""A still picture as a source: one frame, served for as long as the source is open."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vjengine.errors import VJError
from vjengine.sources.base import Source, to_rgb


class ImageSource(Source):
    """Serves the picture at `path` (PNG, JPEG, ... anything cv2 decodes); `latest()` always returns frame 0."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._image = load_image(self.path)
        height, width = self._image.shape[:2]
        super().__init__(f"image:{self.path.name} {width}x{height}")

    def _produce(self) -> None:
        self._publish(self._image)
        # Nothing more to produce; idle until closed so the thread's lifetime matches the source's.
        while not self._wait(3600.0):
            pass


def load_image(path: Path) -> np.ndarray:
    """Read `path` as (H, W, 3) uint8 RGB, or raise a one-line VJError."""
    if path.is_dir():
        raise VJError(f"image:{path} is a folder; give an image file, e.g. --source image:{path}/still.png")
    if not path.is_file():
        raise VJError(f"image file not found: {path}; check the path given to --source image:PATH")
    # imdecode of the raw bytes instead of imread, which cannot open non-ASCII paths on Windows
    image = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise VJError(f"cannot read image {path}: not a picture OpenCV can decode; use a PNG or JPEG")
    return to_rgb(image)
