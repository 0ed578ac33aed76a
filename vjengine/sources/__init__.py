"""Frame sources: camera, video file, still image or the built-in test pattern, each on its own thread.

    with open_source("video:clip.mp4") as source:
        frame = source.wait_first(timeout=5.0)
        ...
        frame = source.latest()  # newest frame, never blocks

A frame's `image` is (H, W, 3) uint8 RGB, C-contiguous.
"""

from __future__ import annotations

import logging

from vjengine.errors import VJError
from vjengine.sources.base import Frame, Source
from vjengine.sources.camera import CameraControls, CameraSource, list_cameras
from vjengine.sources.image import ImageSource
from vjengine.sources.ndi import NdiSource
from vjengine.sources.pattern import PatternSource, render_pattern
from vjengine.sources.video import VideoSource

__all__ = [
    "SOURCE_KINDS",
    "CameraControls",
    "CameraSource",
    "Frame",
    "ImageSource",
    "NdiSource",
    "PatternSource",
    "Source",
    "VideoSource",
    "list_cameras",
    "open_source",
    "render_pattern",
]

log = logging.getLogger(__name__)

SOURCE_KINDS = ("camera:N", "video:PATH", "image:PATH", "ndi:NAME", "ndi:HOST:PORT", "pattern", "auto")


def open_source(
    spec: str | None, width: int = 640, height: int = 480, fps: float = 30.0, controls: CameraControls | None = None
) -> Source:
    """Open the source `spec` names (see SOURCE_KINDS), not yet started; a bad spec raises a one-line VJError.

    `width`, `height` and `fps` are what a camera is asked for and what the pattern renders at; a video plays at
    its native size and its own frame rate (`fps` only when the file reports none); an image keeps its size.
    """
    _check_mode(width, height, fps)
    text = "auto" if spec is None else spec.strip()
    kind, colon, argument = text.partition(":")
    kind = kind.lower()
    if kind == "auto" and not colon:
        return _auto(width, height, fps, controls)
    if kind == "pattern" and not colon:
        return PatternSource(width, height, fps)
    if kind == "camera" and colon:
        return CameraSource(_camera_index(argument, text), width, height, fps, controls=controls)
    if kind == "video" and argument:
        return VideoSource(argument, fallback_fps=fps)
    if kind == "image" and argument:
        return ImageSource(argument)
    if kind == "ndi" and argument:
        return NdiSource(argument)
    raise VJError(f"unknown source {text!r}: use one of {', '.join(SOURCE_KINDS)}")


def _auto(width: int, height: int, fps: float, controls: CameraControls | None) -> Source:
    # Only index 0: probing more indices can take seconds on some systems, and start-up should be quick.
    try:
        source: Source = CameraSource(0, width, height, fps, controls=controls)
    except VJError:
        log.info("no camera opened; using the built-in test pattern")
        return PatternSource(width, height, fps)
    log.info("no source given; using %s", source.name)
    return source


def _camera_index(argument: str, spec: str) -> int:
    try:
        index = int(argument)
    except ValueError:
        index = -1
    if index < 0:
        raise VJError(f"bad camera source {spec!r}: N must be a camera number, e.g. camera:0")
    return index


def _check_mode(width: int, height: int, fps: float) -> None:
    if width < 1 or height < 1 or not fps > 0:
        raise VJError(f"bad source size {width}x{height}@{fps}: width, height and fps must be positive")
