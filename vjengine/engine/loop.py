"""The render loop: sense, direct, render, publish, once per frame.

It runs on its own thread so that the main thread stays free (macOS needs it for Syphon's run loop) and
never waits on anything slow: the source, slow analysers and every output run in threads of their own and
exchange only their newest result. The loop is handed its four parts and builds none of them:

- `Sensing`: the source's newest frame, the stages' signals, the modulation (`engine/sensing.py`);
- `Director`: the frame's state, i.e. the model on screen, its w+ and manipulations (`engine/director.py`);
- `Renderer`: that state as a picture (`engine/renderer.py`), the one renderer of live and offline frames;
- `Publisher`: the picture to the outputs, the state to the recording (`engine/publisher.py`).
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from vjengine.analysis import Signals
from vjengine.engine.director import Director
from vjengine.engine.frame import FrameState
from vjengine.engine.publisher import Publisher
from vjengine.engine.renderer import Renderer
from vjengine.engine.sensing import Sensing
from vjengine.kit import Pacer, SayOnce
from vjengine.params import ParamStore

log = logging.getLogger(__name__)

STAGES = ("source", "analyse", "compose", "generate", "copy", "publish")
# An offline run (--frames N) whose frames keep failing stops after this many in a row; live, it never does.
MAX_FAILING_FRAMES_OFFLINE = 30


@dataclass
class EngineStats:
    """What the status line and `vjengine bench` report; updated by the render thread."""

    frames: int = 0
    failed: int = 0  # frames skipped because rendering them raised
    fps: float = 0.0
    stage_ms: dict[str, deque] = field(default_factory=lambda: {s: deque(maxlen=240) for s in STAGES})
    frame_ms: deque = field(default_factory=lambda: deque(maxlen=240))

    def record(self, times: dict[str, float], total: float) -> None:
        for stage, ms in times.items():
            self.stage_ms[stage].append(ms)
        self.frame_ms.append(total)
        self.frames += 1

    def median_ms(self, stage: str) -> float:
        values = self.stage_ms[stage]
        return statistics.median(values) if values else 0.0

    def p95_ms(self, stage: str) -> float:
        values = sorted(self.stage_ms[stage])
        return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))] if values else 0.0


@dataclass
class _Shown:
    """The last frame put out: what a paused show repeats."""

    frames: dict[str, np.ndarray]
    state: FrameState


class Engine:
    """Owns one run of the loop; `run()` renders on the calling thread, `start()` on a new one.

    `clock` (seconds, `time.perf_counter` by default) is what the loop measures time with: the frame's time
    handed to every stage, pacing, and the stage times of `stats`, so a test can step time frame by frame."""

    def __init__(
        self,
        store: ParamStore,
        sensing: Sensing,
        director: Director,
        renderer: Renderer,
        publisher: Publisher,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.store = store
        self.sensing = sensing
        self.director = director
        self.renderer = renderer
        self.publisher = publisher
        self.clock = clock
        self.signals: Signals = {}  # the newest frame's analysis, for the status line
        self.stats = EngineStats()
        self.stop_event = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._shown: _Shown | None = None
        self._stamps: deque[float] = deque(maxlen=31)
        self._failing = 0
        self._failures = SayOnce(log, logging.ERROR, limit=100)
        self._pacer = Pacer(0, clock=clock, wait=self.stop_event.wait)

    @property
    def model_name(self) -> str:
        """The name of the model on screen (its spec when it has no name)."""
        return self.director.model_name

    @property
    def sinks(self) -> list:
        """The outputs every frame goes to."""
        return self.publisher.sinks

    def start(self, frames: int | None = None) -> threading.Thread:
        """Render on a new thread until `frames` are done or `stop()` is called."""
        self._thread = threading.Thread(target=self.run, args=(frames,), name="render", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        """Stop the stages' and the director's threads (the source, outputs and presets belong to whoever
        opened them)."""
        self.sensing.close()
        self.director.close()

    def run(self, frames: int | None = None) -> EngineStats:
        """Render until `frames` frames are published or `stop()`; then set `done`."""
        try:
            with torch.inference_mode(), self.director.rig.precision:
                self._loop(frames)
        except BaseException as exc:  # reported by the supervisor; the loop must not die silently
            self.error = exc
            log.exception("render loop stopped: %s", exc)
        finally:
            self.done.set()
        return self.stats

    def _loop(self, frames: int | None) -> None:
        while not self.stop_event.is_set() and (frames is None or self.stats.frames < frames):
            snapshot = self.store.snapshot()
            try:
                self._frame(snapshot)
                self._failing = 0
            except Exception as exc:
                self._skip_failed_frame(exc, offline=frames is not None)
            self._pacer.rate = snapshot["render.fps"]
            self._pacer.tick()  # never bursts to catch up after a slow frame

    def _frame(self, snapshot) -> None:
        times: dict[str, float] = {}
        started = t = self.clock()
        frame = self.sensing.latest()
        times["source"], t = self._lap(t)
        sensed = self.sensing.sense(frame, snapshot, started)
        self.signals = sensed.signals
        times["analyse"], t = self._lap(t)
        if sensed.snapshot["render.paused"] and self._shown is not None:
            shown = self._shown
            times["compose"] = times["generate"] = times["copy"] = 0.0
        else:
            state = self.director.direct(sensed.snapshot, sensed.signals, sensed.camera_z, started)
            times["compose"], t = self._lap(t)
            picture = self.renderer.render(state)
            times["generate"], t = self._lap(t)
            shown = self._shown = _Shown(self.publisher.convert(picture), state)
            times["copy"], t = self._lap(t)
        self.publisher.publish(shown.frames, shown.state, frame, started)
        times["publish"], t = self._lap(t)
        self.stats.record(times, (self.clock() - started) * 1000)
        self._update_fps()

    def _skip_failed_frame(self, exc: Exception, offline: bool) -> None:
        """A frame that raises is skipped and said once per kind of failure: the outputs keep the last
        good frame and the loop renders on, so whatever broke it (a bad value, a glitch) can pass. It
        stops the loop only when nothing was rendered yet (a broken setup), or offline when it persists."""
        self.stats.failed += 1
        self._failing += 1
        if self.stats.frames == 0 or (offline and self._failing >= MAX_FAILING_FRAMES_OFFLINE):
            raise exc
        what = f"{type(exc).__name__}: {exc}"
        if self._failures(what, "a frame failed and was skipped (%s); the outputs keep the last frame", what):
            log.debug("the frame's failure", exc_info=exc)
        self.stop_event.wait(0.01)  # unpaced, a failure every frame must not spin a core

    def _update_fps(self) -> None:
        """Frames per second over the last 30 frames, pacing included."""
        self._stamps.append(self.clock())
        if len(self._stamps) > 1:
            self.stats.fps = (len(self._stamps) - 1) / max(self._stamps[-1] - self._stamps[0], 1e-9)

    def _lap(self, since: float) -> tuple[float, float]:
        """Milliseconds since `since`, and now."""
        now = self.clock()
        return (now - since) * 1000, now
