"""Building a generator from a config and filling it with a state dict, with clear errors."""

from __future__ import annotations

import inspect

import torch
from torch import nn

from vjengine.errors import ModelError
from vjengine.models.generator import SYNTHESIS, Generator


def build_generator(config: dict) -> nn.Module:
    """A freshly initialised generator for `{"arch": ..., "kwargs": {...}}`; `G.config` keeps it."""
    arch = config.get("arch")
    if arch not in SYNTHESIS:
        raise ModelError(f"unknown architecture {arch!r}: this build knows {', '.join(SYNTHESIS)}")
    kwargs = dict(config.get("kwargs", {}))
    unknown = sorted(set(kwargs) - accepted_kwargs(arch))
    if unknown:
        raise ModelError(f"unknown architecture: {arch} option(s) {', '.join(unknown)} are not supported")
    try:
        generator = Generator(arch, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"unknown architecture: {exc}") from None
    generator.config = {"arch": arch, "kwargs": kwargs}
    return generator.eval().requires_grad_(False)


def accepted_kwargs(arch: str) -> set[str]:
    """Constructor arguments of the generator and, through **kwargs, of its synthesis network."""
    names = set(inspect.signature(Generator.__init__).parameters) - {"self", "arch", "options"}
    return names | set(inspect.signature(SYNTHESIS[arch].__init__).parameters) - {"self", "w_dim"}


def load_weights(generator: nn.Module, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """Copy `state` into `generator`, refusing any missing, extra or mis-shaped tensor."""
    own = generator.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}"
        raise ModelError(f"{source}: unknown architecture, its tensors do not fit the generator ({detail})")
    for key, value in own.items():
        if tuple(state[key].shape) != tuple(value.shape):
            shapes = f"{tuple(state[key].shape)} vs {tuple(value.shape)}"
            raise ModelError(f"{source}: unknown architecture, tensor {key} has shape {shapes}")
    generator.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return generator
