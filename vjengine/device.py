"""Choosing the torch device and preparing the process to render on it."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys

import torch

from vjengine.errors import VJError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "fp32", "fp16", "bf16")


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """`auto` picks CUDA, then Apple MPS, then the CPU; a named device must be available."""
    if isinstance(name, torch.device):
        return name
    name = str(name).strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise VJError(f"unknown device {name!r}: use one of {', '.join(DEVICE_CHOICES)} (or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VJError("device 'cuda' asked for, but this torch build sees no CUDA GPU; use --device cpu or auto")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise VJError(f"device {name!r} asked for, but only {torch.cuda.device_count()} CUDA GPU(s) are present")
    if device.type == "mps" and not _mps_available():
        raise VJError("device 'mps' asked for, but Apple Metal is not available here; use --device cpu or auto")
    if device.type not in ("cpu", "cuda", "mps"):
        raise VJError(f"unsupported device {name!r}: use one of {', '.join(DEVICE_CHOICES)}")
    return device


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


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def prepare_process(device: torch.device) -> None:
    """What an application (a run, a re-render, a benchmark) does to the process before rendering on `device`:
    on the CPU, keep the allocator from returning the frame's buffers to the OS (`tune_cpu_allocator`). A library
    call (`load_generator`) leaves the process alone."""
    if device.type == "cpu":
        tune_cpu_allocator()


_tuned = False


def tune_cpu_allocator() -> None:
    """Keep freed memory in the process instead of returning it to the OS (glibc only).

    A generator frame allocates and frees the same large intermediates every frame; by default
    glibc hands blocks over 32 MiB straight back to the kernel, so every frame page-faults them in
    again. On 2 cores that doubled StyleGAN3's frame time. Idempotent; a no-op off glibc.
    """
    global _tuned
    if _tuned or not sys.platform.startswith("linux"):
        return
    _tuned = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4
        libc.mallopt(m_mmap_max, 0)
        libc.mallopt(m_trim_threshold, 2**30)
    except (OSError, AttributeError):
        pass
