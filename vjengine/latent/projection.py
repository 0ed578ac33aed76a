"""Embedding a photo into a generator's W+ by optimisation, and mixing the styles of two embeddings.

The method of Image2StyleGAN (Abdal et al. 2019): start every w row at `w_avg`, then let Adam move the
rows (one w per layer, "W+") to minimise a VGG16 perceptual loss (feature MSE at a few conv layers)
plus the pixel MSE between the generated image and the target. The result is a `[num_ws, w_dim]`
latent that `latent.anchor` and the preset bank take as is.

Optionally (StyleGAN2 only) the per-layer noise maps are optimised too, held back by StyleGAN2's
noise regulariser (penalising their autocorrelation at several scales, so they cannot smuggle the
picture in). Off by default: the engine renders with the model's own fixed noise, so a projection
that changed the noise would not look the same live.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from vjengine.analysis.vgg import LAYERS, VGGEncoder
from vjengine.errors import VJError
from vjengine.latent.regions import mix_rows
from vjengine.outputs.frames import to_rgb8

log = logging.getLogger(__name__)

# Image2StyleGAN's choice: early layers for texture and colour, conv3/conv4 for structure.
PERCEPTUAL_LAYERS = ("conv1_1", "conv1_2", "conv3_2", "conv4_2")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_RAMP_UP, _RAMP_DOWN = 0.05, 0.25  # fractions of the run spent warming the learning rate up and cooling it down


@dataclass
class ProjectionResult:
    """What `project` found: `ws` [num_ws, w_dim] on the CPU, the loss at every step, and the pictures
    (H, W, 3 uint8 RGB) of the target, the start (`w_avg`) and the result."""

    ws: torch.Tensor
    losses: list[float]
    pixel_losses: list[float]
    target: np.ndarray
    image_before: np.ndarray
    image_after: np.ndarray
    seconds: float
    noise: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def pixel_mse_before(self) -> float:
        return _pixel_mse(self.image_before, self.target)

    @property
    def pixel_mse_after(self) -> float:
        return _pixel_mse(self.image_after, self.target)


def project(
    G: nn.Module,
    target_image_uint8: np.ndarray,
    steps: int = 500,
    encoder: VGGEncoder | None = None,
    lr: float = 0.1,
    noise_reg: float = 0.0,
    progress: bool = True,
    device: str | torch.device | None = None,
    pixel_weight: float = 1.0,
    layers: Sequence[str] = PERCEPTUAL_LAYERS,
) -> ProjectionResult:
    """Find the w+ whose image looks most like `target_image_uint8` ((R, R, 3) uint8 RGB at the model's
    resolution R).

    `encoder` gives the perceptual features (default: an untrained VGG16, which makes the loss mostly
    pixel MSE; pass `VGGEncoder("download")` for real perceptual projection). Images reach it resized to
    its `analysis_size` or the model's resolution, whichever is smaller. `noise_reg` > 0 also optimises
    StyleGAN2's noise maps with that regulariser weight. `device` defaults to the generator's.
    """
    device = torch.device(device) if device is not None else G.mapping.w_avg.device
    target_image_uint8 = _check_target(G, target_image_uint8)
    if steps < 1:
        raise VJError(f"projection needs at least 1 step, not {steps}")
    for name in layers:
        if name not in LAYERS or name == "adavgpool":
            raise VJError(f"unknown VGG16 conv layer {name!r} for the perceptual loss; choose from {', '.join(LAYERS)}")
    encoder = encoder if encoder is not None else VGGEncoder(None, device)
    started = time.perf_counter()
    with torch.inference_mode(False), torch.enable_grad(), _trainable_noise(G, noise_reg > 0) as noise:
        target = torch.from_numpy(target_image_uint8.copy()).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1
        perceptual = _Perceptual(encoder, layers, min(encoder.analysis_size, G.img_resolution), device)
        target_features = [f.detach() for f in perceptual(target)]
        start = G.mapping.w_avg.detach().to(device, torch.float32).expand(G.num_ws, -1)
        ws = start.clone()[None].requires_grad_(True)
        optimizer = torch.optim.Adam([ws, *noise.values()], lr=lr, betas=(0.9, 0.999))
        losses, pixel_losses = [], []
        bar = tqdm(range(steps), desc="projecting", unit="step", file=sys.stderr, disable=not progress, leave=False)
        for step in bar:
            for group in optimizer.param_groups:
                group["lr"] = lr * _lr_factor(step / steps)
            image = G.synthesis(ws, noise_mode="const")
            pixel = F.mse_loss(image, target)
            loss = sum(F.mse_loss(a, b) for a, b in zip(perceptual(image), target_features, strict=True)) / len(layers)
            loss = loss + pixel_weight * pixel
            if noise:
                loss = loss + noise_reg * noise_regularisation(noise.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if noise:
                _renormalise(noise.values())
            losses.append(loss.item())
            pixel_losses.append(pixel.item())
            if step % 10 == 0 or step == steps - 1:
                bar.set_postfix(loss=f"{losses[-1]:.4g}", pixel_mse=f"{pixel_losses[-1]:.4g}")
        ws = ws.detach()[0]
        found_noise = {name: n.detach().cpu().clone() for name, n in noise.items()}
        after = _picture(G, ws[None])
    before = _picture(G, start[None])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    return ProjectionResult(
        ws.cpu().float(), losses, pixel_losses, target_image_uint8, before, after, seconds, found_noise
    )


class _Perceptual:
    """VGG16 features of generator-range images ([-1, 1]) at `layers`, differentiable (the encoder's own
    helpers run in inference mode and cannot pass gradients back)."""

    def __init__(self, encoder: VGGEncoder, layers: Sequence[str], size: int, device: torch.device) -> None:
        self.features = encoder.vgg.features.to(device)
        self.counts = sorted({LAYERS[name] for name in layers})
        self.size = size
        self.mean = torch.tensor(_IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(_IMAGENET_STD, device=device).view(1, 3, 1, 1)

    def __call__(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = (image + 1) / 2
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        x = (x - self.mean) / self.std
        out = []
        for index, module in enumerate(self.features[: self.counts[-1]]):
            x = module(x)
            if index + 1 in self.counts:
                out.append(x)
        return out


def noise_regularisation(noise_maps) -> torch.Tensor:
    """StyleGAN2's noise regulariser: squared autocorrelation at a one-pixel shift, summed over scales
    down to 8x8, so the optimised noise stays noise instead of carrying the picture."""
    total = torch.zeros(())
    for noise in noise_maps:
        x = noise[None, None]
        total = total.to(x.device)
        while True:
            total = total + (x * x.roll(1, dims=3)).mean() ** 2 + (x * x.roll(1, dims=2)).mean() ** 2
            if x.shape[-1] <= 8:
                break
            x = F.avg_pool2d(x, 2)
    return total


def _renormalise(noise_maps) -> None:
    with torch.no_grad():
        for noise in noise_maps:
            noise.sub_(noise.mean()).div_(noise.std().clamp_min(1e-8))


@contextlib.contextmanager
def _trainable_noise(G: nn.Module, enabled: bool) -> Iterator[dict[str, torch.Tensor]]:
    """While active, the generator's fixed noise maps are trainable copies (yielded by name); the
    originals are put back afterwards, whatever happens."""
    if not enabled:
        yield {}
        return
    layers = G.noise_layers()
    if not layers:
        log.warning("this model has no noise inputs (StyleGAN3); noise regularisation does nothing")
    originals = {name: layer.noise_const for name, layer in layers.items()}
    trainable = {name: noise.detach().clone().requires_grad_(True) for name, noise in originals.items()}
    try:
        for name, layer in layers.items():
            layer.noise_const = trainable[name]
        yield trainable
    finally:
        for name, layer in layers.items():
            layer.noise_const = originals[name]


def _lr_factor(t: float) -> float:
    """Learning-rate multiplier at fraction `t` of the run: a short linear warm-up, then a cosine cool-down."""
    down = min(1.0, (1.0 - t) / _RAMP_DOWN)
    return min(1.0, t / _RAMP_UP + 1e-3) * (0.5 - 0.5 * math.cos(down * math.pi))


def _check_target(G: nn.Module, image: np.ndarray) -> np.ndarray:
    size = G.img_resolution
    if G.img_channels != 3:
        raise VJError(f"projection needs an RGB model; this one makes {G.img_channels}-channel images")
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.shape != (size, size, 3):
        shape = getattr(image, "shape", None)
        raise VJError(f"the target must be a ({size}, {size}, 3) uint8 RGB image for this model, got {shape}")
    return image


@torch.no_grad()
def _picture(G: nn.Module, ws: torch.Tensor) -> np.ndarray:
    """(H, W, 3) uint8 RGB of w+ `ws` [1, num_ws, w_dim] with the model's fixed noise."""
    return to_rgb8(G.synthesis(ws, noise_mode="const"))[0].cpu().numpy()


def _pixel_mse(image: np.ndarray, target: np.ndarray) -> float:
    """MSE in the generator's [-1, 1] range (as the loss measures it)."""
    a = image.astype(np.float64) / 127.5 - 1
    b = target.astype(np.float64) / 127.5 - 1
    return float(np.mean((a - b) ** 2))


def mix_styles(
    ws_coarse_from: torch.Tensor | np.ndarray, ws_fine_from: torch.Tensor | np.ndarray, split_layer: int
) -> torch.Tensor | np.ndarray:
    """Style mixing: the w rows before `split_layer` from `ws_coarse_from` (pose, shape), the rest from
    `ws_fine_from` (colour, texture). Both [num_ws, w_dim] (or batched [N, num_ws, w_dim]), same type."""
    if tuple(ws_coarse_from.shape) != tuple(ws_fine_from.shape) or ws_coarse_from.ndim not in (2, 3):
        raise VJError(
            f"style mixing needs two w+ of the same shape [num_ws, w_dim], got {tuple(ws_coarse_from.shape)} "
            f"and {tuple(ws_fine_from.shape)}"
        )
    num_ws = ws_coarse_from.shape[-2]
    if not 0 <= split_layer <= num_ws:
        raise VJError(f"split layer {split_layer} is outside 0..{num_ws} for a {num_ws}-row w+")
    return mix_rows(ws_coarse_from, ws_fine_from, range(split_layer, num_ws))
