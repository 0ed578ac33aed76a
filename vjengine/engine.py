"""The render loop: source -> analysers -> snapshot -> latent composer -> generator -> sinks.

It runs on its own thread so that the main thread stays free (macOS needs it for Syphon's run loop)
and never waits on anything slow: the source, slow analysers and every sink run in threads of their
own and exchange only their newest result.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from vjengine.analysis import Analyser, AsyncAnalyser, Signals
from vjengine.analysis.landmarks import LandmarkAnalyser, LandmarkView
from vjengine.analysis.measures import FrameMeasures
from vjengine.analysis.overlay import draw_overlay
from vjengine.analysis.visual import VisualAnalyser
from vjengine.latent import LatentComposer
from vjengine.latent.morph import PresetPlayer
from vjengine.latent.visual import VisualDriver
from vjengine.latent.walk import LatentWalk, step_seconds
from vjengine.models.manipulation import Manipulator
from vjengine.outputs import Sink
from vjengine.params import ParamStore
from vjengine.params.modulation import Modulation
from vjengine.record import Recorder, noise_generator
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


def to_frame(img: torch.Tensor) -> np.ndarray:
    """Generator output [1, C, H, W] in about [-1, 1] to an (H, W, 3) uint8 RGB array on the CPU.

    The conversion to bytes happens on the generator's device, so only a quarter of the data
    crosses to the CPU; grayscale models are repeated to three channels.
    """
    return to_frames(img, ["RGB"])["RGB"]


def to_frames(img: torch.Tensor, layouts: Iterable[str]) -> dict[str, np.ndarray]:
    """`img` as (H, W, C) uint8 arrays in each of `layouts` (RGB, RGBA, BGRA), converted on the generator's
    device so that each layout is made once per frame, whatever the number of outputs that use it."""
    x = (img[0].float() * 127.5 + 128).clamp_(0, 255).to(torch.uint8)
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    rgb = x[:3].permute(1, 2, 0)
    alpha = None
    frames = {}
    for layout in dict.fromkeys(layouts):
        if layout == "RGB":
            pixels = rgb
        else:
            if alpha is None:
                alpha = torch.full((*rgb.shape[:2], 1), 255, dtype=torch.uint8, device=rgb.device)
            pixels = torch.cat((rgb if layout == "RGBA" else rgb.flip(-1), alpha), dim=-1)
        frames[layout] = pixels.contiguous()
    if x.device.type != "cuda":
        return {layout: pixels.cpu().numpy() for layout, pixels in frames.items()}
    pinned = {layout: torch.empty(p.shape, dtype=torch.uint8, pin_memory=True) for layout, p in frames.items()}
    for layout, pixels in frames.items():
        pinned[layout].copy_(pixels, non_blocking=True)
    torch.cuda.current_stream(x.device).synchronize()  # one wait for every copy of the frame
    return {layout: p.numpy() for layout, p in pinned.items()}


class Engine:
    """Owns one run of the loop; `run()` renders on the calling thread, `start()` on a new one.

    `clock` (seconds, `time.perf_counter` by default) is what the loop measures time with: frame intervals
    for drift and walks, pacing, and the stage times of `stats`.
    """

    def __init__(
        self,
        generator: nn.Module,
        store: ParamStore,
        source: Source,
        sinks: Sequence[Sink],
        analysers: Sequence[Analyser | AsyncAnalyser] = (),
        precision: contextlib.AbstractContextManager | None = None,
        force_fp32: bool = True,
        visual: VisualAnalyser | None = None,
        visual_rate: float = 15.0,
        recorder: Recorder | None = None,
        modulation: Modulation | None = None,
        presets: PresetPlayer | None = None,
        signal_listeners: Sequence[Callable[[Signals], None]] = (),
        landmarks: LandmarkAnalyser | None = None,
        overlay_sinks: Sequence[Sink] = (),
        convert_layouts: bool | None = None,
        clock: Callable[[], float] = time.perf_counter,
        synthesis: Callable[..., torch.Tensor] | None = None,
    ) -> None:
        self.G = generator
        # What renders w+: G.synthesis, or its compiled form (vjengine.models.compiled).
        self.synthesis = generator.synthesis if synthesis is None else synthesis
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
            convert_layouts = next(generator.parameters()).device.type == "cuda"
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
        # Random noise is drawn from a fresh seed each frame, kept in the recording so `render` can draw it again.
        self._noise_seeds = np.random.default_rng()
        self.manipulator = Manipulator(generator)
        self._corruption_phase = 0.0
        self.device = next(generator.parameters()).device
        self.composer = LatentComposer(generator, self.device, presets=presets)
        self.modulation = modulation
        self.signal_listeners = list(signal_listeners)
        self.walk = LatentWalk()
        self.precision = precision or contextlib.nullcontext()
        self.force_fp32 = force_fp32
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

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        """Stop the analysers' and offsets' threads (sources and sinks belong to whoever opened them)."""
        for part in [*self.analysers, *self.composer.offsets, self.composer.presets]:
            if hasattr(part, "close"):
                part.close()

    def run(self, frames: int | None = None) -> EngineStats:
        """Render until `frames` frames are published or `stop()`; then set `done`."""
        try:
            with torch.inference_mode(), self.precision:
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
                self.walk.advance(dt, step_seconds(snapshot["walk.step"], snapshot["walk.bpm"], snapshot["walk.beats"]))
            last = started
            try:
                self._frame(snapshot, started)
                self._failing = 0
            except Exception as exc:
                self._skip_failed_frame(exc, offline=frames is not None)
            next_due = self._pace(snapshot["render.fps"], next_due)

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
            frames, ws, noise_seed = self._last_frame, self._last_ws, self._last_noise_seed
            times["compose"] = times["generate"] = times["copy"] = 0.0
        else:
            camera_z = self.visual.latest_z() if self.visual is not None else None
            camera_z = self.driver.update(camera_z, snapshot, signals, started)
            ws = self.composer.compose(snapshot, signals, self._phase, camera_z, walk=self.walk.position)
            self.manipulator.apply(snapshot, self._corruption_phase)
            times["compose"], t = self._lap(t)
            noise_seed = self._noise_seed(snapshot["generator.noise"])
            img = self.synthesis(
                ws,
                noise_mode=snapshot["generator.noise"],
                force_fp32=self.force_fp32,
                noise_generator=noise_generator(noise_seed, self.device),
            )
            times["generate"], t = self._lap(t)
            frames = to_frames(img, self._layouts)
            times["copy"], t = self._lap(t)
            self._last_frame, self._last_ws, self._last_noise_seed = frames, ws, noise_seed
        if self.overlay_sinks and frame is not None:
            view = self.landmarks.latest_landmarks() if self.landmarks is not None else LandmarkView()
            overlay = draw_overlay(frame.image, view)
            for sink in self.overlay_sinks:
                sink.send(overlay, at=started)
        if self.recorder is not None:
            warp = float(snapshot["corruption.mode"] == "warp")
            state = {**snapshot, "corruption.phase": self._corruption_phase, "corruption.warp": warp}
            self.recorder.add(ws, state, started, noise_seed=noise_seed)
        for sink, layout in zip(self.sinks, self._sink_layouts, strict=True):
            sink.send(frames[layout], at=started)  # recordings stamp the frame's real time
        times["publish"], t = self._lap(t)
        total = (self.clock() - started) * 1000
        self.stats.record(times, total)
        self._update_fps()

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
