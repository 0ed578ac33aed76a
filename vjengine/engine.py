"""The render loop: source -> analysers -> snapshot -> latent composer -> generator -> sinks.

It runs on its own thread so that the main thread stays free (macOS needs it for Syphon's run loop)
and never waits on anything slow: the source, slow analysers and every sink run in threads of their
own and exchange only their newest result.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from vjengine.analysis import Analyser, AsyncAnalyser, Signals
from vjengine.analysis.landmarks import LandmarkAnalyser, LandmarkView
from vjengine.analysis.measures import FrameMeasures
from vjengine.analysis.overlay import draw_overlay
from vjengine.analysis.visual import VisualAnalyser
from vjengine.bank import ModelBank
from vjengine.blend import WeightBlend
from vjengine.crossfade import ModelFade, crossfade, fit_picture
from vjengine.latent.visual import VisualDriver
from vjengine.latent.walk import LatentWalk, step_seconds
from vjengine.outputs import Sink
from vjengine.outputs.frames import to_frames
from vjengine.params import ParamStore
from vjengine.params.modulation import Modulation
from vjengine.record import Recorder, noise_generator
from vjengine.rig import Rig
from vjengine.sources import Source

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


class Engine:
    """Owns one run of the loop; `run()` renders on the calling thread, `start()` on a new one.

    It renders with the `rig` it is given (the model, its composer and manipulator: see `vjengine.rig`) and
    builds nothing of the model's itself. With `models` (a bank whose slot 0 is `rig`) it switches to the
    model `model.slot` names at a frame boundary once that one is resident, crossfading over `model.fade`
    seconds; until then it renders what it shows. `clock` (seconds, `time.perf_counter` by default) is what the loop
    measures time with: frame intervals for drift and walks, pacing, and the stage times of `stats`.
    """

    def __init__(
        self,
        rig: Rig,
        store: ParamStore,
        source: Source,
        sinks: Sequence[Sink],
        *,
        analysers: Sequence[Analyser | AsyncAnalyser] = (),
        visual: VisualAnalyser | None = None,
        visual_rate: float = 15.0,
        recorder: Recorder | None = None,
        modulation: Modulation | None = None,
        signal_listeners: Sequence[Callable[[Signals], None]] = (),
        landmarks: LandmarkAnalyser | None = None,
        overlay_sinks: Sequence[Sink] = (),
        convert_layouts: bool | None = None,
        clock: Callable[[], float] = time.perf_counter,
        models: ModelBank | None = None,
    ) -> None:
        self.rig = rig
        self.models = models
        self._slot = 0  # the bank slot on screen
        self._fade: ModelFade | None = None
        self._blend = WeightBlend()  # model.blend: the model on screen with another's weights mixed in
        self._size: tuple[int, int] | None = None  # the outputs' picture size: the first model's
        # Every duration the loop measures (drift, walks, the camera's smoothing, pacing, stage times) reads
        # this clock, so a test can step time frame by frame instead of depending on how busy the machine is.
        self.clock = clock
        self.store = store
        self.source = source
        self.sinks = list(sinks)
        self.analysers = [FrameMeasures(), *analysers]
        self.landmarks = landmarks
        if landmarks is not None:
            self.analysers.append(landmarks)
        self.overlay_sinks = list(overlay_sinks)
        self.signals: Signals = {}  # the newest frame's analysis, for the status line
        # Layouts other than RGB are made on a GPU, once per frame; on the CPU each sink converts in its thread.
        if convert_layouts is None:
            convert_layouts = rig.device.type == "cuda"
        wanted = [getattr(sink, "layout", "RGB") if convert_layouts else "RGB" for sink in self.sinks]
        self._sink_layouts = wanted
        self._layouts = ["RGB", *sorted(set(wanted) - {"RGB"})]
        self.visual = visual
        if visual is not None:  # slow: its own thread, at most `visual_rate` analyses a second
            self.analysers.append(AsyncAnalyser(visual, max_rate=visual_rate))
        self.driver = VisualDriver()
        self.recorder = recorder
        self._last_ws: torch.Tensor | None = None
        self._last_noise_seed: int | None = None
        self._last_mix: tuple = (None, None)
        # Random noise is drawn from a fresh seed each frame, kept in the recording so `render` can draw it again.
        self._noise_seeds = np.random.default_rng()
        self._corruption_phase = 0.0
        self.modulation = modulation
        self.signal_listeners = list(signal_listeners)
        self.walk = LatentWalk()
        self.stats = EngineStats()
        self.stop_event = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._phase = 0.0
        self._last_frame: dict[str, np.ndarray] | None = None
        self._stamps: deque[float] = deque(maxlen=31)
        self._failing = 0
        self._failures_said: set[str] = set()

    def start(self, frames: int | None = None) -> threading.Thread:
        """Render on a new thread until `frames` are done or `stop()` is called."""
        self._thread = threading.Thread(target=self.run, args=(frames,), name="render", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        self.stop_event.set()

    def add_analyser(self, analyser: Analyser | AsyncAnalyser) -> None:
        """Run `analyser` on every frame too (its signals reach the modulation); add before `start()`."""
        self.analysers.append(analyser)

    def add_signal_listener(self, listener: Callable[[Signals], None]) -> None:
        """Call `listener` with every frame's signals, on the render thread (so it must only record and return)."""
        self.signal_listeners.append(listener)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        """Stop the analysers' and the rig's threads (sources, sinks and presets belong to whoever opened them)."""
        for part in self.analysers:
            if hasattr(part, "close"):
                part.close()
        self._blend.close()
        self.rig.close()

    def run(self, frames: int | None = None) -> EngineStats:
        """Render until `frames` frames are published or `stop()`; then set `done`."""
        try:
            with torch.inference_mode(), self.rig.precision:
                self._loop(frames)
        except BaseException as exc:  # reported by the supervisor; the loop must not die silently
            self.error = exc
            log.exception("render loop stopped: %s", exc)
        finally:
            self.done.set()
        return self.stats

    def _loop(self, frames: int | None) -> None:
        next_due = self.clock()
        last = self.clock()
        while not self.stop_event.is_set() and (frames is None or self.stats.frames < frames):
            started = self.clock()
            snapshot = self.store.snapshot()
            dt = min(started - last, 0.25)
            self._phase += snapshot["latent.drift"] / 60.0 * dt
            self._corruption_phase += snapshot["corruption.drift"] / 60.0 * dt
            if snapshot["walk.mode"] != "off":
                self._walk(snapshot, dt)
            last = started
            try:
                self._frame(snapshot, started)
                self._failing = 0
            except Exception as exc:
                self._skip_failed_frame(exc, offline=frames is not None)
            next_due = self._pace(snapshot["render.fps"], next_due)

    def _walk(self, snapshot, dt: float) -> None:
        """Advance the walk; with a tempo, its keys land on every walk.beats-th beat of the beat count
        (tempo.count: the session's under Link, so keys fall on Ableton Live's bars)."""
        bpm = snapshot["tempo.bpm"]
        seconds = step_seconds(snapshot["walk.step"], bpm, snapshot["walk.beats"])
        self.walk.advance(dt, seconds)
        count = self.signals.get("tempo.count")  # the last frame's (the walk moves before this frame's analysis)
        if bpm > 0 and count is not None:
            now = count + bpm / 60.0 * dt  # that count, moved on to this frame
            self.walk.lock(now / snapshot["walk.beats"], dt, seconds)

    def _skip_failed_frame(self, exc: Exception, offline: bool) -> None:
        """A frame that raises is skipped and said once per kind of failure: the outputs keep the last
        good frame and the loop renders on, so whatever broke it (a bad value, a glitch) can pass. It
        stops the loop only when nothing was rendered yet (a broken setup), or offline when it persists."""
        self.stats.failed += 1
        self._failing += 1
        if self.stats.frames == 0 or (offline and self._failing >= MAX_FAILING_FRAMES_OFFLINE):
            raise exc
        what = f"{type(exc).__name__}: {exc}"
        if what not in self._failures_said and len(self._failures_said) < 100:
            self._failures_said.add(what)
            log.error("a frame failed and was skipped (%s); the outputs keep the last frame", what, exc_info=exc)
        self.stop_event.wait(0.01)  # unpaced, a failure every frame must not spin a core

    def _frame(self, snapshot, started: float) -> None:
        times: dict[str, float] = {}
        t = self.clock()
        frame = self.source.latest()
        times["source"], t = self._lap(t)
        signals = self._analyse(frame, snapshot) if frame is not None else {}
        self.signals = signals
        if self.modulation is not None:
            snapshot = self.modulation.apply(snapshot, signals)
        for listener in self.signal_listeners:
            listener(signals)
        times["analyse"], t = self._lap(t)
        if snapshot["render.paused"] and self._last_frame is not None:
            frames, ws, noise_seed, mix = self._last_frame, self._last_ws, self._last_noise_seed, self._last_mix
            times["compose"] = times["generate"] = times["copy"] = 0.0
        else:
            camera_z = self.visual.latest_z() if self.visual is not None else None
            camera_z = self.driver.update(camera_z, snapshot, signals, started)
            self._switch(snapshot, started)
            fading = self._fading(started)
            old_ws = self._compose(fading.rig, snapshot, signals, camera_z) if fading else None
            rig, blend = self._blended(snapshot)
            ws = self._compose(rig, snapshot, signals, camera_z)  # last: what presets store is the new model's
            times["compose"], t = self._lap(t)
            noise_seed = self._noise_seed(snapshot["generator.noise"])
            img = self._render(rig, ws, snapshot, noise_seed)
            fade = None
            if fading:
                old = self._render(fading.rig, old_ws, snapshot, noise_seed)
                fade = (fading.rig.spec, old_ws, fading.weight(started))
                img = crossfade(old, img, fade[2])
            mix = (fade, blend)  # what the recording needs, besides ws, to render this frame again
            times["generate"], t = self._lap(t)
            frames = to_frames(img, self._layouts)
            times["copy"], t = self._lap(t)
            self._last_frame, self._last_ws, self._last_noise_seed, self._last_mix = frames, ws, noise_seed, mix
        if self.overlay_sinks and frame is not None:
            view = self.landmarks.latest_landmarks() if self.landmarks is not None else LandmarkView()
            overlay = draw_overlay(frame.image, view)
            for sink in self.overlay_sinks:
                sink.send(overlay, at=started)
        if self.recorder is not None:
            warp = float(snapshot["corruption.mode"] == "warp")
            state = {**snapshot, "corruption.phase": self._corruption_phase, "corruption.warp": warp}
            self.recorder.add(ws, state, started, noise_seed=noise_seed, model=self.rig.spec, fade=mix[0], blend=mix[1])
        for sink, layout in zip(self.sinks, self._sink_layouts, strict=True):
            sink.send(frames[layout], at=started)  # recordings stamp the frame's real time
        times["publish"], t = self._lap(t)
        total = (self.clock() - started) * 1000
        self.stats.record(times, total)
        self._update_fps()

    def _switch(self, snapshot, now: float) -> None:
        """At this frame boundary, show the model `model.slot` names if it is resident (it loads beside the
        loop otherwise); with `model.fade` > 0 the model on screen fades out over that many seconds."""
        slot = snapshot["model.slot"] if self.models is not None else self._slot
        if slot == self._slot:
            return
        rig = self.models.rig_for(slot)
        if rig is None:
            return
        seconds = snapshot["model.fade"]
        self._fade = ModelFade(self.rig, self._slot, now, seconds) if seconds > 0 else None
        self.rig, self._slot = rig, slot
        self.models.shown(slot, rig)
        log.info("showing model %s%s", self.models.name(slot), f" (a {seconds:g} s crossfade)" if seconds > 0 else "")

    def _blended(self, snapshot) -> tuple[Rig, tuple[str, float, str] | None]:
        """The rig to render (with `model.blend` > 0, the shown model's weights mixed with another's once that
        one is loaded and the mixed copy made, both beside the loop), and the blend for the recording."""
        amount = snapshot["model.blend"] if self.models is not None else 0.0
        if amount <= 0:
            return self.rig, None
        other = self.models.rig_for(snapshot["model.blend.slot"])
        layers = str(snapshot["model.blend.layers"])
        rig = self._blend.rig(self.rig, other, amount, layers)
        return rig, None if rig is self.rig else (other.spec, float(amount), layers)

    def _fading(self, now: float) -> ModelFade | None:
        """The crossfade of this frame, None once it is over (or its model left the device)."""
        if self._fade is not None and (self._fade.weight(now) >= 1 or self._fade.rig.closed):
            self._fade = None
        return self._fade

    def _compose(self, rig: Rig, snapshot, signals: Signals, camera_z) -> torch.Tensor:
        """`rig`'s w+ for this frame (the same seed, walk and phase for every model), its generator set up."""
        ws = rig.composer.compose(snapshot, signals, self._phase, camera_z, walk=self.walk.position)
        rig.manipulator.apply(snapshot, self._corruption_phase)
        return ws

    def _render(self, rig: Rig, ws: torch.Tensor, snapshot, noise_seed: int | None) -> torch.Tensor:
        """`rig`'s picture of `ws` at the outputs' size (set by the first frame)."""
        img = rig.render(ws, snapshot["generator.noise"], noise_generator(noise_seed, rig.device))
        if self._size is None:
            self._size = (img.shape[-2], img.shape[-1])
        return fit_picture(img, self._size)

    @property
    def model_name(self) -> str:
        """The name of the model on screen (its spec when it has no name)."""
        return self.rig.name or self.rig.spec

    def _noise_seed(self, mode: str) -> int | None:
        """A new seed for this frame's noise when it is random; None when the noise draws nothing."""
        return int(self._noise_seeds.integers(2**63 - 1)) if mode == "random" else None

    def _analyse(self, frame, snapshot) -> Signals:
        signals: Signals = {}
        if self.landmarks is not None:
            self.landmarks.configure(snapshot)
        for analyser in self.analysers:
            if isinstance(analyser, AsyncAnalyser):
                analyser.submit(frame)
                signals.update(analyser.latest())
            elif hasattr(analyser, "update"):  # a stage (the tempo): the snapshot and the loop's clock, not the store
                signals.update(analyser.update(frame, snapshot, self.clock()))
            else:
                signals.update(analyser.analyse(frame))
        return signals

    def _update_fps(self) -> None:
        """Frames per second over the last 30 frames, pacing included."""
        self._stamps.append(self.clock())
        if len(self._stamps) > 1:
            self.stats.fps = (len(self._stamps) - 1) / max(self._stamps[-1] - self._stamps[0], 1e-9)

    def _pace(self, fps: float, due: float) -> float:
        """Sleep until the next frame is due; never bursts to catch up after a slow frame."""
        if fps <= 0:
            return self.clock()
        due += 1.0 / fps
        now = self.clock()
        if due > now:
            self.stop_event.wait(due - now)
            return due
        return now

    def _lap(self, since: float) -> tuple[float, float]:
        """Milliseconds since `since`, and now."""
        now = self.clock()
        return (now - since) * 1000, now
