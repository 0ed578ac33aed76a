"""A video file as a source: loops forever, paced at the file's own frame rate."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from vjengine.errors import VJError
from vjengine.sources.base import Source, quiet_opencv, to_rgb

log = logging.getLogger(__name__)

# Containers sometimes report nonsense rates (0, NaN, a 90 kHz timebase); outside this range the caller's fps wins.
_MAX_PLAUSIBLE_FPS = 240.0


class VideoSource(Source):
    """Plays `path` at its native size and frame rate, forever; `fallback_fps` is used when the file gives none."""

    def __init__(self, path: str | Path, fallback_fps: float = 30.0) -> None:
        self.path = Path(path).expanduser()
        if self.path.is_dir():
            raise VJError(f"video:{self.path} is a folder; give a video file, e.g. --source video:{self.path}/clip.mp4")
        if not self.path.is_file():
            raise VJError(f"video file not found: {self.path}; check the path given to --source video:PATH")
        self._capture = _open(self.path)
        # Decoding the first frame now means an unreadable file fails at open, not silently on the thread.
        self._first = self._read() if self._capture is not None else None
        if self._first is None:
            self._release()
            raise VJError(f"cannot read video {self.path}: OpenCV could not decode it; convert it to MP4 (H.264)")
        self.fps = _file_fps(self._capture, fallback_fps)
        height, width = self._first.shape[:2]
        super().__init__(f"video:{self.path.name} {width}x{height}@{self.fps:g} (looping)")

    def _produce(self) -> None:
        pacer = self._pacer(self.fps)
        image: np.ndarray | None = self._first
        while image is not None and not self._stopping:
            self._publish(image)
            image = self._read_looping()
            if not pacer.tick():
                return
        if image is None:
            log.warning("%s: the file can no longer be read; the last frame stays on screen", self.name)

    def _read_looping(self) -> np.ndarray | None:
        image = self._read()
        if image is None:
            # End of file: reopening is more reliable than seeking to frame 0, which some codecs get wrong.
            self._release()
            self._capture = _open(self.path)
            image = self._read()
        return image

    def _read(self) -> np.ndarray | None:
        if self._capture is None:
            return None
        ok, image = self._capture.read()
        return to_rgb(image) if ok and image is not None and image.size else None

    def _release(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def _open(path: Path) -> cv2.VideoCapture | None:
    with quiet_opencv():
        capture = cv2.VideoCapture(str(path))
    if capture.isOpened():
        return capture
    capture.release()
    return None


def _file_fps(capture: cv2.VideoCapture, fallback: float) -> float:
    fps = capture.get(cv2.CAP_PROP_FPS)
    return fps if 0 < fps <= _MAX_PLAUSIBLE_FPS else fallback
