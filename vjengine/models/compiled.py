"""The synthesis network compiled whole with `torch.compile`, for `--compile`.

A batch-1 StyleGAN frame on a GPU is bound by kernel launches and Python, not arithmetic: compiled,
the frame becomes a few fused kernels, and on CUDA one CUDA graph replay (`mode="reduce-overhead"`).
The graph is traced once, at the first frame. Everything that changes between frames lives in
tensors the graph reads in place: StyleGAN2's constant, StyleGAN3's input transform, and the noise
mode, passed as a tensor of weights so that switching it never recompiles mid-show.
"""

from __future__ import annotations

import logging
import time

import torch
from torch import nn

from vjengine.models.stylegan2_synthesis import check_noise_mode, noise_weights

log = logging.getLogger(__name__)


class CompiledSynthesis:
    """Callable like `G.synthesis(ws, noise_mode=..., force_fp32=...)`, compiled on first use.

    `compile_seconds` is how long the first call (tracing and code generation) took; None before it.
    """

    def __init__(self, generator: nn.Module, device: torch.device) -> None:
        self.synthesis = generator.synthesis
        self.device = device
        mode = "reduce-overhead" if device.type == "cuda" else "default"
        self.mode = mode
        if device.type == "cpu" and generator.arch == "stylegan3":
            log.warning(
                "--compile: on a CPU StyleGAN3 renders faster without it (its Winograd convolutions run "
                "best eagerly; see docs/performance.md); compiling as asked"
            )
        self._compiled = torch.compile(self.synthesis, fullgraph=True, dynamic=False, mode=mode)
        self._noise = torch.zeros(2, device=device)
        self.compile_seconds: float | None = None

    def __call__(
        self,
        ws: torch.Tensor,
        noise_mode: str = "const",
        force_fp32: bool = False,
        noise_generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Render `ws`. Random noise is drawn inside the graph from torch's own generator:
        `noise_generator` is accepted for a common call and not used."""
        check_noise_mode(noise_mode)
        self._noise.copy_(torch.tensor(noise_weights(noise_mode)))
        if self.device.type == "cuda":
            # A new frame: outputs of the previous CUDA graph replay may be overwritten now.
            torch.compiler.cudagraph_mark_step_begin()
        if self.compile_seconds is not None:
            return self._compiled(ws, self._noise, force_fp32)
        log.info("compiling the generator (%s); the first frame waits for it", self.mode)
        start = time.perf_counter()
        image = self._compiled(ws, self._noise, force_fp32)
        if image.device.type == "cuda":
            torch.cuda.synchronize(image.device)
        self.compile_seconds = time.perf_counter() - start
        log.info("generator compiled in %.1f s", self.compile_seconds)
        return image
