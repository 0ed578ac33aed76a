"""Where each frame goes: the outputs (in the layout each wants), the landmark overlay and the recording."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch

from vjengine.analysis.landmarks import LandmarkAnalyser, LandmarkView
from vjengine.analysis.overlay import draw_overlay
from vjengine.engine.frame import FrameState
from vjengine.outputs import Sink
from vjengine.outputs.frames import to_frames
from vjengine.sources import Frame

log = logging.getLogger(__name__)


class StateRecorder(Protocol):
    """Keeps each frame's state (`vjengine.engine.recording.Recorder`)."""

    def add(self, state: FrameState, now: float) -> None: ...


class Overlay:
    """The camera's picture with what the landmark detectors see drawn on it, sent to `sinks` each frame."""

    def __init__(self, sinks: Sequence[Sink], landmarks: LandmarkAnalyser | None = None) -> None:
        self.sinks = list(sinks)
        self.landmarks = landmarks

    def show(self, frame: Frame, now: float) -> None:
        view = self.landmarks.latest_landmarks() if self.landmarks is not None else LandmarkView()
        picture = draw_overlay(frame.image, view)
        for sink in self.sinks:
            sink.send(picture, at=now)


class Publisher:
    """Converts each picture once per layout the outputs want and hands every output its newest frame.

    Layouts other than RGB are made on a GPU (`convert_layouts`), once per frame; on a CPU each output converts
    in its own thread. `recorder` keeps every frame's state; `overlay` gets the camera's picture."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        recorder: StateRecorder | None = None,
        overlay: Overlay | None = None,
        convert_layouts: bool = False,
    ) -> None:
        self.sinks = list(sinks)
        self.recorder = recorder
        self.overlay = overlay
        wanted = [getattr(sink, "layout", "RGB") if convert_layouts else "RGB" for sink in self.sinks]
        self._sink_layouts = wanted
        self.layouts = ["RGB", *sorted(set(wanted) - {"RGB"})]

    def convert(self, picture: torch.Tensor) -> dict[str, np.ndarray]:
        """The picture as bytes in every layout the outputs take."""
        return to_frames(picture, self.layouts)

    def publish(self, frames: dict[str, np.ndarray], state: FrameState, camera: Frame | None, now: float) -> None:
        """Send `frames` (from `convert`) to every output, `camera` to the overlay, `state` to the recording."""
        if self.overlay is not None and camera is not None:
            self.overlay.show(camera, now)
        if self.recorder is not None:
            self.recorder.add(state, now)
        for sink, layout in zip(self.sinks, self._sink_layouts, strict=True):
            sink.send(frames[layout], at=now)  # recordings stamp the frame's real time
