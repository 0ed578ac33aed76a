"""Generators: StyleGAN2 and StyleGAN3 in plain PyTorch, and loading the files users bring.

>>> G = load_generator("random:sg2-64")               # built-in untrained generator
>>> ws = G.mapping(torch.randn(1, G.z_dim), None, truncation_psi=0.7)
>>> img = G.synthesis(ws, noise_mode="const")         # [1, 3, 64, 64], roughly in [-1, 1]

A spec is `random[:ARCH-RES]`, a file (NVIDIA `.pkl`, rosinality `.pt`, vjengine `.safetensors`),
a model-zoo name (`vjengine.models.zoo.ZOO`) or an http(s) URL.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch
from torch import nn

from vjengine.device import resolve_device
from vjengine.errors import ModelError
from vjengine.models import zoo
from vjengine.models.build import build_generator, load_weights
from vjengine.models.checkpoint import read_model_file, save_generator

__all__ = [
    "load_generator",
    "check_spec",
    "save_generator",
    "build_generator",
    "random_generator",
    "RANDOM_ARCHS",
]

log = logging.getLogger(__name__)

# Built-in untrained generators: the widths NVIDIA's own configs use at these sizes.
RANDOM_ARCHS: dict[str, dict] = {
    "sg2": {
        "arch": "stylegan2",
        "kwargs": {"channel_base": 16384, "channel_max": 512, "mapping_kwargs": {"num_layers": 8}},
    },
    "sg3t": {"arch": "stylegan3", "kwargs": {"channel_base": 32768, "channel_max": 512}},
    "sg3r": {
        "arch": "stylegan3",
        "kwargs": {"channel_base": 65536, "channel_max": 1024, "conv_kernel": 1, "use_radial_filters": True},
    },
}
RANDOM_DEFAULT = "random:sg2-256"
_RANDOM_SPEC = re.compile(r"random(?::(?P<arch>[a-z0-9]+)-(?P<res>\d+))?")


def load_generator(spec: str | Path = "random", device: str | torch.device = "cpu") -> nn.Module:
    """Load a generator for inference: `G.mapping`, `G.synthesis`, NVIDIA's names and semantics.

    The module is in eval mode with gradients off; `G.config` describes its architecture,
    `G.source` names where it came from and `G.untrained` is True for the built-in `random` ones.
    """
    device = resolve_device(device)
    spec = str(spec).strip()
    match = _RANDOM_SPEC.fullmatch(spec)
    if match:
        generator = random_generator(match.group("arch") or "sg2", int(match.group("res") or 256))
    else:
        generator = _load_file(_local_path(spec))
    generator.source = spec
    generator.untrained = bool(match)
    return generator.to(device)


def check_spec(spec: str | Path) -> None:
    """What can be said about a spec without loading it: a local file that is not there is a ModelError now
    (a model bank checks every model at start, though it loads them later). Zoo names and URLs are checked
    when loaded."""
    spec = str(spec).strip()
    if not _RANDOM_SPEC.fullmatch(spec) and not zoo.is_remote(spec):
        _local_path(spec)


def random_generator(arch: str = "sg2", resolution: int = 256, seed: int = 0) -> nn.Module:
    """A generator with fixed random weights: something to render before a real model is loaded."""
    if arch not in RANDOM_ARCHS:
        raise ModelError(f"unknown random architecture {arch!r}: use random:ARCH-RES with ARCH in {list(RANDOM_ARCHS)}")
    config = RANDOM_ARCHS[arch]
    config = {"arch": config["arch"], "kwargs": {**config["kwargs"], "img_resolution": resolution}}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = build_generator(config)
        # Track w_avg as training would, so that truncation pulls toward the centre of W.
        with torch.no_grad():
            generator.mapping.w_avg.copy_(generator.mapping(torch.randn(4096, generator.z_dim), None)[:, 0].mean(0))
    generator.refresh()  # the weights are final: derive what frames need, as loading a file does
    log.warning(
        "model 'random:%s-%d' is an UNTRAINED generator (fixed random weights, seed %d): it renders abstract "
        "texture, not images of anything; pass --model with a .pkl/.pt/.safetensors file or a zoo name",
        arch,
        resolution,
        seed,
    )
    return generator


def _local_path(spec: str) -> Path:
    if zoo.is_remote(spec):
        return zoo.resolve(spec)
    path = Path(spec).expanduser()
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise ModelError(
            f"model {spec!r} {what}: pass an NVIDIA .pkl, a rosinality .pt, a .safetensors from "
            f"'vjengine convert', a zoo name (e.g. {next(iter(zoo.ZOO))}), a URL or 'random'"
        )
    return path


def _load_file(path: Path) -> nn.Module:
    config, state = read_model_file(path)
    generator = build_generator(config)
    return load_weights(generator, state, path.name)


def portable_model(spec: str) -> str:
    """The model spec to store in a recording: a local file as an absolute path, so `render` finds it from
    any folder; other specs (random, zoo names, URLs) as they are."""
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.is_file() else spec
