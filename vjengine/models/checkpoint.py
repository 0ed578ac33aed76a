"""Model files: telling the formats apart, reading each safely, writing our own.

Our own format is a single `.safetensors` file: the `state_dict()` tensors plus the generator config
as JSON in the header's metadata. It loads without any pickle, memory-mapped, in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import pickle
import struct
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from vjengine.errors import ModelError
from vjengine.models import nvidia, rosinality

FORMAT_TAG = "vjengine.generator/1"
# torch.save's pre-zip format opens with a pickled magic number.
_LEGACY_TORCH_MAGIC = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def read_model_file(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(generator config, state dict) from any supported file, chosen by content, not by name."""
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise ModelError(f"{path.name} is empty; the download or copy was cut short")
    if _looks_like_safetensors(head):
        return read_safetensors(path)
    if head.startswith(b"PK\x03\x04"):
        return _read_torch_file(path)
    if head[:1] == b"\x80":
        if _LEGACY_TORCH_MAGIC in head:
            return _read_torch_file(path)
        return nvidia.read_snapshot(path.read_bytes())
    raise ModelError(
        f"{path.name} is not a model file vjengine reads: expected an NVIDIA .pkl, a rosinality .pt "
        "or a .safetensors written by 'vjengine convert'"
    )


def _looks_like_safetensors(head: bytes) -> bool:
    return len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < 100_000_000


def read_safetensors(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read a file written by `save_generator`."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            state = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path.name} is a damaged .safetensors file ({exc}); convert the model again") from None
    if metadata.get("format") != FORMAT_TAG or "config" not in metadata:
        raise ModelError(
            f"{path.name} is a .safetensors file without a vjengine generator config; "
            "write it with 'vjengine convert IN OUT.safetensors'"
        )
    try:
        config = json.loads(metadata["config"])
    except json.JSONDecodeError:
        raise ModelError(f"{path.name} has an unreadable generator config; convert the model again") from None
    return config, state


def save_generator(generator: nn.Module, path: str | Path) -> Path:
    """Write `generator` as a self-describing .safetensors file (weights + JSON config)."""
    path = Path(path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in generator.state_dict().items()}
    metadata = {"format": FORMAT_TAG, "config": json.dumps(generator.config, sort_keys=True)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(state, str(path), metadata=metadata)
    except OSError as exc:
        raise ModelError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _read_torch_file(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """A `torch.save` checkpoint, read with torch's weights-only (restricted) unpickler."""
    try:
        # rosinality's training script stores its argparse options next to the weights.
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        if "Unsupported global" in str(exc) or "weights_only" in str(exc):
            reason = "it needs code to load, which vjengine never runs from a model file"
        raise ModelError(f"{path.name} cannot be read as a PyTorch checkpoint: {reason}") from None
    if rosinality.is_rosinality(checkpoint):
        return rosinality.read_checkpoint(checkpoint)
    keys = sorted(map(str, checkpoint))[:6] if isinstance(checkpoint, dict) else type(checkpoint).__name__
    raise ModelError(
        f"{path.name} is a PyTorch checkpoint but not a known generator (found {keys}); "
        "expected rosinality's {'g_ema': ..., 'latent_avg': ...}"
    )
