"""What a frame takes in: the source's newest picture, the stages' signals and the modulation they drive.

source ─► frame ─► stages ─► signals ─► modulation ─► the frame's snapshot

A stage is anything the loop calls once per frame with the same three things, the source's newest frame
(None before the first), the frame's parameter snapshot and the engine clock's time, and that returns
signals: the camera's measures and detectors, the music, the tempo. Stages read their parameters from the
snapshot, never from the store, so every stage of a frame sees the same values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from vjengine.analysis import Analyser, AsyncAnalyser, Signals
from vjengine.analysis.visual import VisualAnalyser
from vjengine.params.modulation import Modulation
from vjengine.sources import Frame, Source

log = logging.getLogger(__name__)

SignalListener = Callable[[Signals], None]


@runtime_checkable
class Stage(Protocol):
    """Called once per frame on the render thread; returns its signals (the newest, for a slow stage)."""

    def update(self, frame: Frame | None, snapshot: Mapping[str, Any], now: float) -> Signals: ...


class AnalyserStage:
    """A frame analyser as a stage: cheap ones run on the render thread, `AsyncAnalyser`s on their own (the
    loop hands over the newest frame and reads the newest signals); with no frame yet, nothing runs.
    An analyser with `configure(snapshot)` (the landmark detectors) takes its parameters from the frame's
    snapshot first."""

    def __init__(self, analyser: Analyser | AsyncAnalyser) -> None:
        self.analyser = analyser
        self.name = getattr(analyser, "name", type(analyser).__name__)

    def update(self, frame: Frame | None, snapshot: Mapping[str, Any], now: float) -> Signals:
        analyser = self.analyser
        if hasattr(analyser, "configure"):
            analyser.configure(snapshot)
        if frame is None:
            return analyser.latest() if isinstance(analyser, AsyncAnalyser) else {}
        if isinstance(analyser, AsyncAnalyser):
            analyser.submit(frame)
            return analyser.latest()
        return analyser.analyse(frame)

    def close(self) -> None:
        if hasattr(self.analyser, "close"):
            self.analyser.close()


class CameraLatent(AnalyserStage):
    """The camera's VGG16 latents (`visual.*`): analysed on their own thread at most `rate` times a second;
    `latest_z()` is the newest [regions, z_dim], None before the first analysis or while off."""

    def __init__(self, visual: VisualAnalyser, rate: float = 15.0) -> None:
        super().__init__(AsyncAnalyser(visual, max_rate=rate))
        self.visual = visual

    def update(self, frame: Frame | None, snapshot: Mapping[str, Any], now: float) -> Signals:
        self.visual.configure(snapshot)  # read on the analysis thread with the next frame handed over
        return super().update(frame, snapshot, now)

    def latest_z(self) -> torch.Tensor | None:
        return self.visual.latest_z()


def as_stage(part: Stage | Analyser | AsyncAnalyser) -> Stage:
    """`part` as a stage: an analyser (it has `analyse`, or is an `AsyncAnalyser`) wrapped in an `AnalyserStage`,
    a stage as it is."""
    if isinstance(part, AsyncAnalyser) or hasattr(part, "analyse"):
        return AnalyserStage(part)
    return part


@dataclass(frozen=True)
class Sensed:
    """A frame's inputs: the source's frame, every stage's signals, the snapshot with the modulation applied,
    and the camera's newest latents."""

    frame: Frame | None
    signals: Signals
    snapshot: Mapping[str, Any]
    camera_z: torch.Tensor | None


class Sensing:
    """Reads the source, runs the stages in order, applies the modulation and tells the signal listeners.

    `listeners` get each frame's signals on the render thread (OSC out, the music's tempo), so they only record
    and return; `camera` supplies the camera's latents for the composer."""

    def __init__(
        self,
        source: Source,
        stages: Sequence[Stage | Analyser | AsyncAnalyser] = (),
        modulation: Modulation | None = None,
        listeners: Sequence[SignalListener] = (),
        camera: CameraLatent | None = None,
    ) -> None:
        self.source = source
        self.stages = [as_stage(stage) for stage in stages]
        if camera is not None:
            self.stages.append(camera)
        self.modulation = modulation
        self.listeners = list(listeners)
        self.camera = camera

    def add_stage(self, stage: Stage | Analyser | AsyncAnalyser) -> None:
        """Run `stage` every frame too, after the others (its signals reach the modulation); before `start()`."""
        self.stages.append(as_stage(stage))

    def add_listener(self, listener: SignalListener) -> None:
        """Hand `listener` every frame's signals (on the render thread: it must only record and return)."""
        self.listeners.append(listener)

    def latest(self) -> Frame | None:
        """The source's newest frame."""
        return self.source.latest()

    def sense(self, frame: Frame | None, snapshot: Mapping[str, Any], now: float) -> Sensed:
        """Every stage's signals for `frame`, and `snapshot` with the modulation they drive."""
        signals: Signals = {}
        for stage in self.stages:
            signals.update(stage.update(frame, snapshot, now))
        if self.modulation is not None:
            snapshot = self.modulation.apply(snapshot, signals)
        for listener in self.listeners:
            listener(signals)
        camera_z = self.camera.latest_z() if self.camera is not None else None
        return Sensed(frame, signals, snapshot, camera_z)

    def close(self) -> None:
        """Stop the stages' threads (the source belongs to whoever opened it)."""
        for stage in self.stages:
            if hasattr(stage, "close"):
                try:
                    stage.close()
                except Exception as exc:  # one stage failing to stop must not keep the others running
                    log.debug("closing %s failed: %s", getattr(stage, "name", stage), exc)
