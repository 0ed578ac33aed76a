"""Building a generator from a config and filling it with a state dict, with clear errors."""

from __future__ import annotations

import inspect

import torch
from torch import nn

from vjengine.errors import ModelError
from vjengine.models import stylegan2, stylegan3

ARCHS: dict[str, type[nn.Module]] = {"stylegan2": stylegan2.Generator, "stylegan3": stylegan3.Generator}


def build_generator(config: dict) -> nn.Module:
    """A freshly initialised generator for `{"arch": ..., "kwargs": {...}}`; `G.config` keeps it."""
    arch = config.get("arch")
    if arch not in ARCHS:
        raise ModelError(f"unknown architecture {arch!r}: this build knows {', '.join(ARCHS)}")
    cls = ARCHS[arch]
    kwargs = dict(config.get("kwargs", {}))
    unknown = sorted(set(kwargs) - _accepted_kwargs(cls))
    if unknown:
        raise ModelError(f"unknown architecture: {arch} option(s) {', '.join(unknown)} are not supported")
    try:
        generator = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"unknown architecture: {exc}") from None
    generator.config = {"arch": arch, "kwargs": kwargs}
    return generator.eval().requires_grad_(False)


def _accepted_kwargs(cls: type) -> set[str]:
    """Constructor arguments of the generator and, through **kwargs, of its synthesis network."""
    names = set(inspect.signature(cls.__init__).parameters) - {"self", "synthesis_kwargs"}
    names |= set(inspect.signature(cls.synthesis_class.__init__).parameters) - {"self", "w_dim"}
    names |= set(getattr(cls, "extra_kwargs", ()))
    return names


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
