"""Reading rosinality `stylegan2-pytorch` checkpoints (`{"g_ema": state_dict, "latent_avg": ...}`).

Its generator is the StyleGAN2 "skip" architecture with the same equalised-learning-rate
parametrisation as NVIDIA's, so each tensor maps onto an NVIDIA name one to one. Channel widths are
read from the weight shapes. The mapping network's learning-rate multiplier is not stored in the
file; rosinality's default (0.01) is assumed.
"""

from __future__ import annotations

import math
import re

import torch

from vjengine.errors import ModelError
from vjengine.models.resample import binomial_filter


def is_rosinality(checkpoint: object) -> bool:
    """True for a dict holding a rosinality `g_ema` state dict."""
    return isinstance(checkpoint, dict) and isinstance(checkpoint.get("g_ema"), dict)


def read_checkpoint(checkpoint: dict) -> tuple[dict, dict[str, torch.Tensor]]:
    """(generator config, NVIDIA-named state dict) for a rosinality checkpoint."""
    g = checkpoint["g_ema"]
    try:
        config = _config(g)
        state = _convert(g, config["kwargs"]["img_resolution"], config["kwargs"]["mapping_kwargs"]["num_layers"])
    except KeyError as exc:
        message = f"rosinality checkpoint is missing tensor {exc}; it is not a stylegan2-pytorch generator"
        raise ModelError(message) from None
    latent_avg = checkpoint.get("latent_avg")
    if isinstance(latent_avg, torch.Tensor):
        state["mapping.w_avg"] = latent_avg.reshape(-1)
    return config, state


def _config(g: dict) -> dict:
    n_mlp = sum(1 for k in g if re.fullmatch(r"style\.\d+\.weight", k))
    style_dim = g["style.1.weight"].shape[0]
    n_blocks = sum(1 for k in g if re.fullmatch(r"to_rgbs\.\d+\.bias", k))
    resolution = 4 * 2**n_blocks
    channels = {4: g["input.input"].shape[1]}
    for i in range(n_blocks):
        channels[8 * 2**i] = g[f"convs.{2 * i}.conv.weight"].shape[1]
    channel_base, channel_max = _channel_rule(channels)
    kwargs = {
        "z_dim": style_dim,
        "w_dim": style_dim,
        "c_dim": 0,
        "img_resolution": resolution,
        "img_channels": g["to_rgb1.bias"].shape[1],
        "channel_base": channel_base,
        "channel_max": channel_max,
        "architecture": "skip",
        "conv_clamp": None,
        "mapping_kwargs": {"num_layers": n_mlp, "lr_multiplier": 0.01},
    }
    return {"arch": "stylegan2", "kwargs": kwargs}


def _channel_rule(channels: dict[int, int]) -> tuple[int, int]:
    """NVIDIA's widths are min(base // res, max): find base and max that give these widths."""
    channel_max = max(channels.values())
    narrower = [res for res, ch in channels.items() if ch < channel_max]
    top = max(channels)
    channel_base = channels[min(narrower)] * min(narrower) if narrower else channel_max * top
    if any(min(channel_base // res, channel_max) != ch for res, ch in channels.items()):
        raise ModelError(f"unknown architecture: rosinality channel widths {channels} follow no base/max rule")
    return channel_base, channel_max


def _convert(g: dict, resolution: int, n_mlp: int) -> dict[str, torch.Tensor]:
    out = {}
    for i in range(n_mlp):
        out[f"mapping.fc{i}.weight"] = g[f"style.{i + 1}.weight"]
        out[f"mapping.fc{i}.bias"] = g[f"style.{i + 1}.bias"]
    out["mapping.w_avg"] = torch.zeros(g["style.1.weight"].shape[0])
    out["synthesis.b4.const"] = g["input.input"][0]
    out.update(_conv("synthesis.b4.conv1", g, "conv1", g["noises.noise_0"]))
    out.update(_torgb("synthesis.b4.torgb", g, "to_rgb1"))
    for i in range(int(math.log2(resolution)) - 2):
        block = f"synthesis.b{8 * 2**i}"
        out.update(_conv(f"{block}.conv0", g, f"convs.{2 * i}", g[f"noises.noise_{2 * i + 1}"]))
        out.update(_conv(f"{block}.conv1", g, f"convs.{2 * i + 1}", g[f"noises.noise_{2 * i + 2}"]))
        out.update(_torgb(f"{block}.torgb", g, f"to_rgbs.{i}"))
    # NVIDIA keeps its [1, 3, 3, 1] blur kernels as buffers; rosinality uses the same kernel.
    blur = binomial_filter((1, 3, 3, 1))
    for key in [k for k in out if k.endswith((".conv0.weight", ".conv1.weight"))]:
        layer = key.rsplit(".", 1)[0]
        out[f"{layer}.resample_filter"] = blur
        out[f"{layer.rsplit('.', 1)[0]}.resample_filter"] = blur
    return out


def _conv(name: str, g: dict, src: str, noise: torch.Tensor) -> dict[str, torch.Tensor]:
    return {
        f"{name}.weight": g[f"{src}.conv.weight"][0],
        f"{name}.affine.weight": g[f"{src}.conv.modulation.weight"],
        f"{name}.affine.bias": g[f"{src}.conv.modulation.bias"],
        f"{name}.noise_strength": g[f"{src}.noise.weight"].reshape([]),
        f"{name}.noise_const": noise[0, 0],
        f"{name}.bias": g[f"{src}.activate.bias"],
    }


def _torgb(name: str, g: dict, src: str) -> dict[str, torch.Tensor]:
    return {
        f"{name}.weight": g[f"{src}.conv.weight"][0],
        f"{name}.affine.weight": g[f"{src}.conv.modulation.weight"],
        f"{name}.affine.bias": g[f"{src}.conv.modulation.bias"],
        f"{name}.bias": g[f"{src}.bias"].reshape(-1),
    }
