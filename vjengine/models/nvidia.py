"""Reading NVIDIA network snapshots (`stylegan2-ada-pytorch`, `stylegan3`) without their code.

A snapshot is a pickle of `{G, D, G_ema, ...}` whose modules NVIDIA's `persistence` saved together
with their constructor arguments (`_init_kwargs`). We read those arguments and the tensors, build
our own generator with the same arguments, and check that every name and shape matches.
"""

from __future__ import annotations

import io
from typing import Any

import torch

from vjengine.errors import ModelError
from vjengine.models.safe_pickle import PersistentObject, load_pickle

# Constructor arguments that only matter for training; they do not change the generator's output.
_TRAINING_ONLY = {"fused_modconv_default", "fp16_channels_last", "magnitude_ema_beta", "w_avg_beta"}


class _TensorFlowNetwork:
    """Stands in for `dnnlib.tflib.Network`: any attempt to build one explains what to do."""

    def __new__(cls, *_: Any, **__: Any) -> None:
        raise ModelError(
            "this is a TensorFlow-era StyleGAN pickle; convert it once with NVIDIA's stylegan2-ada-pytorch "
            "'legacy.py' (or use a PyTorch snapshot) and load the result"
        )


_EXTRA_GLOBALS = {("dnnlib.tflib.network", "Network"): _TensorFlowNetwork}


def read_snapshot(data: bytes) -> tuple[dict, dict[str, torch.Tensor]]:
    """Return (generator config, state dict) for the `G_ema` in an NVIDIA snapshot's bytes."""
    obj = load_pickle(io.BytesIO(data), _EXTRA_GLOBALS)
    generator = _pick_generator(obj)
    return snapshot_config(generator), state_dict_of(generator)


def _pick_generator(obj: Any) -> PersistentObject:
    if isinstance(obj, dict):
        for key in ("G_ema", "G"):
            if isinstance(obj.get(key), PersistentObject):
                return obj[key]
        raise ModelError(f"pickle has no generator: expected a 'G_ema' entry, found {sorted(map(str, obj))[:8]}")
    if isinstance(obj, PersistentObject):
        return obj
    raise ModelError(f"pickle holds a {type(obj).__name__}, not a StyleGAN snapshot")


def snapshot_config(generator: PersistentObject) -> dict:
    """Our generator config (`{"arch", "kwargs"}`) from a persistent NVIDIA Generator."""
    synthesis = generator.child("synthesis")
    if generator.class_name != "Generator" or synthesis is None:
        raise ModelError(f"unknown architecture: the snapshot's generator is a {generator.class_name!r}")
    children = synthesis.state.get("_modules", {})
    if "input" in children:
        arch = "stylegan3"
    elif "b4" in children:
        arch = "stylegan2"
    else:
        raise ModelError("unknown architecture: the synthesis network is neither StyleGAN2 nor StyleGAN3")
    init = generator.state.get("_init_kwargs")
    if not isinstance(init, dict):
        raise ModelError("snapshot has no constructor arguments (_init_kwargs); it was not saved by NVIDIA's code")
    kwargs = {k: v for k, v in dict(init).items() if k not in ("synthesis_kwargs", "mapping_kwargs")}
    kwargs.update(dict(init.get("synthesis_kwargs") or {}))  # stylegan2-ada-pytorch nests them
    mapping = {k: v for k, v in dict(init.get("mapping_kwargs") or {}).items() if k not in _TRAINING_ONLY}
    kwargs = {k: _plain(v) for k, v in kwargs.items() if k not in _TRAINING_ONLY and k != "class_name"}
    if mapping:
        kwargs["mapping_kwargs"] = {k: _plain(v) for k, v in mapping.items()}
    return {"arch": arch, "kwargs": kwargs}


def _plain(value: Any) -> Any:
    """numpy scalars and tuples in constructor arguments as JSON-friendly Python values."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def state_dict_of(module: PersistentObject, prefix: str = "") -> dict[str, torch.Tensor]:
    """The `state_dict()` that the pickled module would have had."""
    state = module.state
    out: dict[str, torch.Tensor] = {}
    for name, value in (state.get("_parameters") or {}).items():
        if value is not None:
            out[prefix + name] = value
    skip = state.get("_non_persistent_buffers_set") or set()
    for name, value in (state.get("_buffers") or {}).items():
        if value is not None and name not in skip:
            out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, PersistentObject):
            out.update(state_dict_of(child, f"{prefix}{name}."))
        elif child is not None:
            raise ModelError(f"unknown architecture: submodule {prefix}{name} is not a StyleGAN layer")
    return out
