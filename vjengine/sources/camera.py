"""A live camera as a source, that survives being unplugged mid-show."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from vjengine.errors import VJError
from vjengine.kit import Backoff
from vjengine.sources.base import Source, quiet_opencv, to_rgb

log = logging.getLogger(__name__)

# Drivers drop the odd frame (especially right after opening); only this many failed reads in a row mean "gone".
_FAILED_READS_BEFORE_LOST = 5
_FAILED_READ_PAUSE = 0.02  # seconds between failed reads, so a dead device does not spin the CPU


class Capture(Protocol):
    """The part of `cv2.VideoCapture` a camera source uses (tests pass a stand-in)."""

    def isOpened(self) -> bool: ...  # noqa: N802 - OpenCV's spelling

    def read(self) -> tuple[bool, Any]: ...

    def set(self, prop: int, value: float) -> bool: ...

    def get(self, prop: int) -> float: ...

    def release(self) -> None: ...


CaptureFactory = Callable[[int], Capture]


@dataclass(frozen=True)
class CameraControls:
    """Camera settings that keep the picture from jumping on stage; None leaves the camera's own.

    Autofocus is off by default: refocusing made the generated image jump back at the paper's shows.
    Drivers that lack a control ignore it (one INFO line says which).
    """

    autofocus: bool | None = False
    auto_exposure: bool | None = None
    exposure: float | None = None
    focus: float | None = None

    def settings(self) -> list[tuple[str, int, float]]:
        """(name, OpenCV property, value) for every control that is set."""
        # V4L2 spells manual/auto exposure 1/3, DirectShow and MSMF 0.25/0.75.
        manual, auto = (1.0, 3.0) if sys.platform.startswith("linux") else (0.25, 0.75)
        out = []
        if self.autofocus is not None:
            out.append(("autofocus", cv2.CAP_PROP_AUTOFOCUS, 1.0 if self.autofocus else 0.0))
        if self.auto_exposure is not None:
            out.append(("auto_exposure", cv2.CAP_PROP_AUTO_EXPOSURE, auto if self.auto_exposure else manual))
        if self.exposure is not None:
            out.append(("exposure", cv2.CAP_PROP_EXPOSURE, float(self.exposure)))
        if self.focus is not None:
            out.append(("focus", cv2.CAP_PROP_FOCUS, float(self.focus)))
        return out


class CameraLost(Exception):
    """The camera stopped delivering frames or does not open again; its source retries."""


class CameraSource(Source):
    """Frames from camera `index`, asked for at width x height and fps (the camera may pick something close).

    If reads start failing (cable pulled, driver reset) the last good frame stays in the slot, one line is
    logged, and the thread tries to reopen the camera every `retry_interval` seconds (the kit's Worker with a
    fixed back-off), logging once when it is back.
    """

    def __init__(
        self,
        index: int,
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        *,
        capture_factory: CaptureFactory = cv2.VideoCapture,
        retry_interval: float = 1.0,
        controls: CameraControls | None = None,
    ) -> None:
        self.index = index
        self.requested = (width, height, fps)
        self.controls = controls or CameraControls()
        self.retry_interval = retry_interval
        self._capture_factory = capture_factory
        self._capture = self._open()
        if self._capture is None:
            raise VJError(
                f"camera {index} did not open: no such device, or another program is using it; "
                "list cameras with 'vjengine devices' or use --source pattern"
            )
        reopen = Backoff(first=retry_interval, most=retry_interval)  # a camera is cheap to look for: no slowing down
        super().__init__(f"camera:{index} {describe_capture(self._capture, fps)}", reopen=reopen)

    def _produce(self) -> None:
        """Read until the camera is lost (raising CameraLost, so the worker retries with back-off) or closed."""
        if self._capture is None:
            self._capture = self._open()
            if self._capture is None:
                raise CameraLost("it does not open")
        failed_reads = 0
        while not self._stopping:
            image = self._read()
            if image is None:
                failed_reads += 1
                if failed_reads >= _FAILED_READS_BEFORE_LOST:
                    self._release()  # the slot keeps the last good frame meanwhile
                    raise CameraLost("it stopped delivering frames")
                self._wait(_FAILED_READ_PAUSE)
                continue
            failed_reads = 0
            self._worker.healthy()
            self._publish(image)

    def _read(self) -> np.ndarray | None:
        try:
            ok, image = self._capture.read()
        except cv2.error:
            return None
        return to_rgb(image) if ok and image is not None and image.size else None

    def _open(self) -> Capture | None:
        capture = open_capture(self.index, *self.requested, factory=self._capture_factory)
        if capture is not None:
            ignored = [name for name, prop, value in self.controls.settings() if not capture.set(prop, value)]
            if ignored:
                log.info("camera %d does not offer %s; left as the driver sets it", self.index, ", ".join(ignored))
        return capture

    def _release(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def open_capture(
    index: int, width: int, height: int, fps: float, factory: CaptureFactory = cv2.VideoCapture
) -> Capture | None:
    """Open camera `index` and ask for the given mode; None if it does not open."""
    with quiet_opencv():
        try:
            capture = factory(index)
        except cv2.error:
            return None
        if not capture.isOpened():
            capture.release()
            return None
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        capture.set(cv2.CAP_PROP_FPS, fps)
        # A deep driver queue shows the picture late; we always want the newest frame.
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return capture


def describe_capture(capture: Capture, fallback_fps: float) -> str:
    """The mode a capture actually runs at, as "WxH@FPS" (drivers that do not say get `fallback_fps`)."""
    fps = capture.get(cv2.CAP_PROP_FPS) or fallback_fps
    return f"{_size(capture)}@{fps:g}"


def _size(capture: Capture) -> str:
    return f"{int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))}x{int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))}"


def list_cameras(max_index: int = 8) -> list[tuple[int, str]]:
    """The cameras among indices 0 .. max_index-1 that actually open, each with its default "WxH"."""
    found = []
    for index in range(max_index):
        with quiet_opencv():
            try:
                capture = cv2.VideoCapture(index)
            except cv2.error:
                continue
        try:
            if capture.isOpened():
                found.append((index, _size(capture)))
        finally:
            capture.release()
    return found
