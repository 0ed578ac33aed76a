"""Benchmarks: how fast the generator renders, measured the way the engine runs it."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from vjengine.device import precision, prepare_process, resolve_device, resolve_dtype
from vjengine.engine import STAGES
from vjengine.errors import VJError
from vjengine.models import load_generator
from vjengine.models.compiled import CompiledSynthesis
from vjengine.models.winograd import direct_convolutions
from vjengine.settings.config import Config


@dataclass
class GeneratorBench:
    """Timings of `G.synthesis` for one model, device and precision; with `--compile`, of the compiled
    synthesis too, the two alternating frame by frame so that both see the same machine."""

    model: str
    arch: str
    resolution: int
    device: str
    dtype: str
    batch: int
    frames: int
    median_ms: float
    p95_ms: float
    fps: float
    compiled_median_ms: float | None = None
    compiled_p95_ms: float | None = None
    compile_s: float | None = None
    direct_median_ms: float | None = None
    direct_p95_ms: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        line = (
            f"{self.model} ({self.arch}, {self.resolution} px) on {self.device}, {self.dtype}, batch {self.batch}: "
            f"median {self.median_ms:.1f} ms/frame, p95 {self.p95_ms:.1f} ms, {self.fps:.2f} fps "
            f"(median of {self.frames} frames)"
        )
        if self.direct_median_ms is not None:
            line += (
                f"\n  direct convolutions (no Winograd): median {self.direct_median_ms:.1f} ms/frame, p95 "
                f"{self.direct_p95_ms:.1f} ms (eager is {self.direct_median_ms / self.median_ms:.2f}x faster, "
                "frames alternating)"
            )
        if self.compiled_median_ms is not None:
            line += (
                f"\n  compiled: median {self.compiled_median_ms:.1f} ms/frame, p95 {self.compiled_p95_ms:.1f} ms "
                f"({self.median_ms / self.compiled_median_ms:.2f}x eager, frames alternating); "
                f"compiling took {self.compile_s:.1f} s once"
            )
        return line


def bench_generator(
    model: str = "random",
    device: str = "auto",
    dtype: str = "auto",
    frames: int = 20,
    warmup: int = 3,
    batch: int = 1,
    compile: bool = False,
    direct: bool = False,
) -> GeneratorBench:
    """Render `frames` frames after `warmup` and report the median and p95 frame time; with
    `compile`, the compiled synthesis as well (its compile time apart); with `direct`, eager frames
    with every convolution direct (no Winograd), for comparison."""
    if frames < 1 or warmup < 0 or batch < 1:
        raise VJError("bench needs --frames >= 1, --warmup >= 0 and --batch >= 1")
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    prepare_process(dev)
    G = load_generator(model, dev)
    context, force_fp32 = precision(dt, dev)
    generator = torch.Generator(device="cpu").manual_seed(0)
    ws = G.mapping(torch.randn([batch, G.z_dim], generator=generator).to(dev), _labels(G, batch, dev))
    renderers = {"eager": G.synthesis}
    if direct:
        renderers["direct"] = _direct(G.synthesis)
    compiled = None
    if compile:
        compiled = CompiledSynthesis(G, dev)
        renderers["compiled"] = compiled
    times: dict[str, list[float]] = {name: [] for name in renderers}
    with torch.inference_mode(), context:
        if compiled is not None:
            compiled(ws, "const", force_fp32)  # tracing and code generation, timed apart
        for i in range(warmup + frames):
            for name, render in renderers.items():
                start = time.perf_counter()
                _sync(render(ws, noise_mode="const", force_fp32=force_fp32), dev)
                if i >= warmup:
                    times[name].append((time.perf_counter() - start) * 1000)
    median, p95 = _median_p95(times["eager"])
    result = GeneratorBench(
        model=model,
        arch=G.arch,
        resolution=G.img_resolution,
        device=str(dev),
        dtype=dt,
        batch=batch,
        frames=frames,
        median_ms=round(median, 2),
        p95_ms=round(p95, 2),
        fps=round(1000 * batch / median, 2),
    )
    if compiled is not None:
        median, p95 = _median_p95(times["compiled"])
        result.compiled_median_ms, result.compiled_p95_ms = round(median, 2), round(p95, 2)
        result.compile_s = round(compiled.compile_seconds, 2)
    if direct:
        median, p95 = _median_p95(times["direct"])
        result.direct_median_ms, result.direct_p95_ms = round(median, 2), round(p95, 2)
    return result


def _direct(synthesis: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    def render(*args, **kwargs) -> torch.Tensor:
        with direct_convolutions():
            return synthesis(*args, **kwargs)

    return render


def _median_p95(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def _labels(G: torch.nn.Module, batch: int, device: torch.device) -> torch.Tensor | None:
    """Class 0 for conditional models, so the benchmark runs on any generator."""
    if not G.c_dim:
        return None
    c = torch.zeros([batch, G.c_dim], device=device)
    c[:, 0] = 1
    return c


@dataclass
class LoopBench:
    """The whole render loop headless, next to the generator alone in the same process."""

    model: str
    source: str
    device: str
    dtype: str
    frames: int
    loop_fps: float
    generator_fps: float
    overhead_pct: float
    stages: dict[str, dict[str, float]]
    audio_cpu_pct: float | None = None  # with --audio: the analysis thread's share of one core while timed

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        stages = "\n".join(
            f"  {name:<9} median {v['median_ms']:8.2f} ms   p95 {v['p95_ms']:8.2f} ms"
            for name, v in self.stages.items()
        )
        audio = "" if self.audio_cpu_pct is None else f"\n  audio analysis {self.audio_cpu_pct:.2f}% of a core"
        return (
            f"{self.model} on {self.device} ({self.dtype}), source {self.source}, {self.frames} frames:\n"
            f"  loop {self.loop_fps:.2f} fps, generator alone {self.generator_fps:.2f} fps "
            f"(loop overhead {self.overhead_pct:+.1f}%)\n{stages}{audio}"
        )


def bench_loop(
    model: str = "random",
    source: str = "pattern",
    device: str = "auto",
    dtype: str = "auto",
    frames: int = 20,
    warmup: int = 3,
    hands: str | None = None,
    audio: str | None = None,
) -> LoopBench:
    """Time the engine unpaced into a `none` output, frame by frame alternating with `G.synthesis`
    alone, so both see the same machine (on a shared 2-core box, load swings more than the overhead).

    The loop carries what a show runs besides the camera's VGG16 analysis: the default modulation
    bindings, a preset player, the direction offsets, and with `hands` (a hand_landmarker.task) the
    MediaPipe hand tracker, and with `audio` (an --audio spec) the music's analysis, whose thread's share
    of a core while the frames are timed is reported."""
    import tempfile

    from vjengine.params import default_store
    from vjengine.show import build_show

    if frames < 1 or warmup < 0:
        raise VJError("bench needs --frames >= 1 and --warmup >= 0")
    if hands and hands.strip().lower() == "none":
        hands = None
    if hands:
        _check_hands(hands)
    config = _bench_config(model, source, device, dtype, hands, audio, tempfile.mkdtemp(prefix="vjengine-bench-"))
    store = default_store()
    store.set("render.fps", 0, immediate=True)
    store.set("visual.enabled", False, immediate=True)  # VGG16 has its own benchmark: vjengine bench encoder
    show = build_show(config, store)
    engine, music = show.engine, show.music
    rig = engine.director.rig
    G, dev, context, force_fp32 = rig.generator, rig.device, rig.precision, rig.force_fp32
    generator_ms, loop_ms = [], []
    try:
        show.source.wait_first(5.0)
        ws = rig.composer.compose(store.snapshot(), {}, 0.0)
        audio_from = (time.perf_counter(), 0.0)
        for i in range(warmup + frames):
            if i == warmup and music.audio is not None:
                audio_from = (time.perf_counter(), music.audio.busy_seconds)
            with torch.inference_mode(), context:
                start = time.perf_counter()
                _sync(G.synthesis(ws, noise_mode="const", force_fp32=force_fp32), dev)
                generated = time.perf_counter()
            engine.run(engine.stats.frames + 1)
            if engine.error:
                raise engine.error
            if i >= warmup:
                generator_ms.append((generated - start) * 1000)
                loop_ms.append((time.perf_counter() - generated) * 1000)
        audio_pct = _audio_share(music, audio_from)
    finally:
        show.close()
    stages = {
        s: {"median_ms": round(_median_last(engine, s, frames), 3), "p95_ms": round(_p95_last(engine, s, frames), 3)}
        for s in STAGES
    }
    loop_fps, generator_fps = 1000 / statistics.median(loop_ms), 1000 / statistics.median(generator_ms)
    return LoopBench(
        model=model,
        source=show.source.name,
        device=str(dev),
        dtype=config.dtype if config.dtype != "auto" else resolve_dtype("auto", dev),
        frames=frames,
        loop_fps=round(loop_fps, 3),
        generator_fps=round(generator_fps, 3),
        overhead_pct=round((generator_fps / loop_fps - 1) * 100, 1),
        stages=stages,
        audio_cpu_pct=audio_pct,
    )


def _bench_config(
    model: str, source: str, device: str, dtype: str, hands: str | None, audio: str | None, presets: str
) -> Config:
    """A show as `run` assembles it, into a `none` output, with no control surface listening."""
    config = Config()
    config.model, config.source, config.device, config.dtype = model, source, device, dtype
    config.outputs, config.presets, config.status = ["none"], presets, False
    config.osc_port = config.oscquery_port = 0
    config.landmarks_hands, config.landmarks_face, config.landmarks_pose = hands or "none", "none", "none"
    config.audio = audio or "none"
    return config


def _audio_share(music, since: tuple[float, float]) -> float | None:
    """The audio analysis thread's CPU seconds per wall second since `since` (wall time, its busy seconds)."""
    if music is None or music.audio is None:
        return None
    wall = time.perf_counter() - since[0]
    return round(100.0 * (music.audio.busy_seconds - since[1]) / wall, 2) if wall > 0 else None


def _check_hands(bundle: str) -> None:
    """The hand tracker `--hands` asks for, opened once before any timing: a loop timed without it would
    be reported as if it had been, so a bundle that cannot be used is an error, not a warning."""
    from vjengine.analysis.landmarks import open_landmarker

    spec = bundle.strip().lower()
    local = spec != "auto" and not spec.startswith(("http://", "https://"))
    if local and not Path(bundle).expanduser().is_file():
        raise VJError(f"bench --hands {bundle}: no such file; give a hand_landmarker .task bundle, or auto")
    try:
        open_landmarker("hands", bundle).close()
    except VJError as exc:
        raise VJError(f"bench --hands {bundle}: {exc}") from None


def _sync(img: torch.Tensor, device: torch.device) -> None:
    """Wait until the device has finished `img`."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _median_last(engine, stage: str, n: int) -> float:
    return statistics.median(list(engine.stats.stage_ms[stage])[-n:])


def _p95_last(engine, stage: str, n: int) -> float:
    values = sorted(list(engine.stats.stage_ms[stage])[-n:])
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def bench_encoder(size: int, layer: str, device: str = "auto", weights: str = "none", frames: int = 10) -> dict:
    """Median time of one camera analysis (VGG16 up to `layer`) on a 640x480 frame."""
    import numpy as np

    from vjengine.analysis.vgg import VGGEncoder

    if frames < 1 or size < 16:
        raise VJError("bench encoder needs --frames >= 1 and --size >= 16")
    dev = resolve_device(device)
    encoder = VGGEncoder(None if weights == "none" else weights, dev, analysis_size=size)
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    times = []
    for i in range(frames + 2):
        start = time.perf_counter()
        _sync(encoder.features(image, layer), dev)
        if i >= 2:
            times.append((time.perf_counter() - start) * 1000)
    return {"layer": layer, "size": size, "device": str(dev), "median_ms": round(statistics.median(times), 2)}
