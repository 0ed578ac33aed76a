"""Benchmarks: how fast the generator renders, measured the way the engine runs it."""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import asdict, dataclass

import torch

from vjengine.device import resolve_device
from vjengine.errors import VJError
from vjengine.models import load_generator

DTYPES = ("auto", "fp32", "fp16", "bf16")


@dataclass
class GeneratorBench:
    """Timings of `G.synthesis` for one model, device and precision."""

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

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"{self.model} ({self.arch}, {self.resolution} px) on {self.device}, {self.dtype}, batch {self.batch}: "
            f"median {self.median_ms:.1f} ms/frame, p95 {self.p95_ms:.1f} ms, {self.fps:.2f} fps "
            f"(median of {self.frames} frames)"
        )


def resolve_dtype(dtype: str, device: torch.device) -> str:
    """`auto` is NVIDIA's mixed precision (fp16) on CUDA and fp32 elsewhere."""
    if dtype not in DTYPES:
        raise VJError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if dtype == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if dtype == "fp16" and device.type != "cuda":
        raise VJError("dtype fp16 needs a CUDA GPU (NVIDIA's mixed precision); use fp32 or bf16 on this device")
    return dtype


def precision(dtype: str, device: torch.device) -> tuple[contextlib.AbstractContextManager, bool]:
    """(context to render in, force_fp32) for a resolved dtype."""
    if dtype == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16), True
    return contextlib.nullcontext(), dtype != "fp16"


def bench_generator(
    model: str = "random",
    device: str = "auto",
    dtype: str = "auto",
    frames: int = 20,
    warmup: int = 3,
    batch: int = 1,
) -> GeneratorBench:
    """Render `frames` frames after `warmup` and report the median and p95 frame time."""
    if frames < 1 or warmup < 0 or batch < 1:
        raise VJError("bench needs --frames >= 1, --warmup >= 0 and --batch >= 1")
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    G = load_generator(model, dev)
    context, force_fp32 = precision(dt, dev)
    generator = torch.Generator(device="cpu").manual_seed(0)
    ws = G.mapping(torch.randn([batch, G.z_dim], generator=generator).to(dev), _labels(G, batch, dev))
    times = []
    with torch.inference_mode(), context:
        for i in range(warmup + frames):
            start = time.perf_counter()
            img = G.synthesis(ws, noise_mode="const", force_fp32=force_fp32)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            elif dev.type == "mps":
                torch.mps.synchronize()
            else:
                img.sum().item()
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000)
    times.sort()
    median = statistics.median(times)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return GeneratorBench(
        model=model,
        arch=G.config["arch"],
        resolution=G.img_resolution,
        device=str(dev),
        dtype=dt,
        batch=batch,
        frames=frames,
        median_ms=round(median, 2),
        p95_ms=round(p95, 2),
        fps=round(1000 * batch / median, 2),
    )


def _labels(G: torch.nn.Module, batch: int, device: torch.device) -> torch.Tensor | None:
    """Class 0 for conditional models, so the benchmark runs on any generator."""
    if not G.c_dim:
        return None
    c = torch.zeros([batch, G.c_dim], device=device)
    c[:, 0] = 1
    return c
