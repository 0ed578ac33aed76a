"""A pickle reader for model files that never executes code from them.

NVIDIA's training code pickles whole `torch.nn.Module` objects and embeds each class's Python
source (`module_src`), which a plain `pickle.load` would run. Here every global a pickle names is
looked up in a fixed allow-list of harmless constructors; NVIDIA's persistent objects become inert
`PersistentObject` records (class name + state, the source is dropped), and tensor storages are
decoded from their bytes by this module, without a second, unrestricted load.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from vjengine.errors import ModelError


@dataclass
class PersistentObject:
    """An object saved by NVIDIA's `torch_utils.persistence`: its class name and `__dict__`."""

    class_name: str
    state: dict[str, Any] = field(repr=False)

    def child(self, name: str) -> PersistentObject | None:
        """The submodule registered as `name`, if any."""
        return self.state.get("_modules", {}).get(name)


class EasyDict(dict):
    """Stands in for `dnnlib.EasyDict` (a dict with attribute access)."""


@dataclass
class _Storage:
    """A decoded tensor storage: a flat tensor of the storage's dtype."""

    flat: torch.Tensor


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class _StorageType:
    """Stands in for `torch.FloatStorage` and friends inside a storage record."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


def _reconstruct_persistent_obj(meta: dict) -> PersistentObject:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise ModelError("model file has a persistent object of an unknown kind; it is not a StyleGAN snapshot")
    state = meta.get("state")
    if not isinstance(state, dict):
        raise ModelError(f"model file: persistent object {meta.get('class_name')!r} has no readable state")
    return PersistentObject(class_name=str(meta.get("class_name")), state=state)


def _rebuild_tensor(storage: Any, offset: int, size: tuple, stride: tuple, *_: Any) -> torch.Tensor:
    if not isinstance(storage, _Storage):
        raise ModelError("model file has a tensor without a storage; the file is corrupted")
    flat = storage.flat
    needed = offset + sum((s - 1) * st for s, st in zip(size, stride, strict=True)) + 1 if all(size) else 0
    if needed > flat.numel():
        raise ModelError("model file has a tensor larger than its storage; the file is corrupted")
    return torch.as_strided(flat, tuple(size), tuple(stride), offset).clone()


def _rebuild_parameter(data: Any, requires_grad: bool = False, *_: Any) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise ModelError("model file has a parameter that is not a tensor; the file is corrupted")
    return data


def _numpy_scalar(dtype: np.dtype, data: bytes | None = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise ModelError("model file has a numpy scalar of an unsupported kind")
    return np.frombuffer(data, dtype=dtype)[0]


def _numpy_dtype(name: str, align: bool = False, copy: bool = True) -> np.dtype:
    if not isinstance(name, str) or len(name) > 8:
        raise ModelError(f"model file has an unsupported numpy dtype {name!r}")
    return np.dtype(name)


def _numpy_reconstruct(cls: Any, shape: Any, dtype: Any) -> np.ndarray:
    if cls is not np.ndarray:
        raise ModelError("model file reconstructs a numpy subclass; refused")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _codecs_encode(text: str, encoding: str = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise ModelError("model file has an unsupported byte encoding")
    return text.encode("latin1")


def _load_from_bytes(data: bytes) -> _Storage:
    """Decode a storage that `torch.save` wrote in its legacy (pre-zip) format."""
    if not isinstance(data, bytes):
        raise ModelError("model file has a storage record that is not bytes; the file is corrupted")
    return _LegacyStorageReader(data).read()


class _LegacyStorageReader:
    """torch's legacy format: five pickles (magic, version, sys info, object, keys), then raw data."""

    MAGIC = 0x1950A86A20F9469CFC6C

    def __init__(self, data: bytes) -> None:
        self.stream = io.BytesIO(data)
        self.records: dict[str, tuple[torch.dtype, int]] = {}

    def read(self) -> _Storage:
        try:
            if self._pickle() != self.MAGIC or self._pickle() != 1001:
                raise ModelError("model file has a tensor storage in an unknown format")
            info = self._pickle()
            if not isinstance(info, dict) or not info.get("little_endian", True):
                raise ModelError("model file was written on a big-endian machine; not supported")
            obj = self._pickle()
            keys = self._pickle()
            storages = {key: self._raw(*self.records[key]) for key in keys}
        except (pickle.UnpicklingError, EOFError, KeyError, struct.error, ValueError) as exc:
            raise ModelError(f"model file has a damaged tensor storage ({exc}); the file is corrupted") from None
        if not isinstance(obj, str) or obj not in storages:
            raise ModelError("model file has a storage record without data; the file is corrupted")
        return _Storage(storages[obj])

    def _pickle(self) -> Any:
        allowed = {("torch", n): _StorageType(d) for n, d in _STORAGE_DTYPES.items()}
        return RestrictedUnpickler(self.stream, allowed, self._persistent_load).load()

    def _persistent_load(self, pid: Any) -> str:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise ModelError("model file has an unknown persistent record inside a tensor storage")
        _, storage_type, key, _location, numel = pid[:5]
        self.records[str(key)] = (storage_type.dtype, int(numel))
        return str(key)

    def _raw(self, dtype: torch.dtype, numel: int) -> torch.Tensor:
        (count,) = struct.unpack("<q", self.stream.read(8))
        itemsize = torch.empty((), dtype=dtype).element_size()
        buf = self.stream.read(count * itemsize)
        if count != numel or len(buf) != count * itemsize:
            raise ModelError("model file has a truncated tensor storage; the file is corrupted")
        return torch.frombuffer(bytearray(buf), dtype=dtype) if count else torch.empty(0, dtype=dtype)


# Every global a supported model file may name, and the harmless callable that stands in for it.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): _codecs_encode,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves globals only from an allow-list and refuses everything else."""

    def __init__(
        self, file: io.IOBase, allowed: dict[tuple[str, str], Any], persistent: Callable[[Any], Any] | None = None
    ) -> None:
        super().__init__(file)
        self.allowed = allowed
        self.persistent = persistent

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise ModelError(
                f"model file refused: it names the Python global '{module}.{name}', which a StyleGAN "
                "snapshot never needs (a model file must not run code)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        if self.persistent is not None:
            return self.persistent(pid)
        raise ModelError("model file refused: it has persistent references of an unknown kind")


def load_pickle(file: io.IOBase, extra_globals: dict[tuple[str, str], Callable] | None = None) -> Any:
    """Unpickle an NVIDIA-style model pickle without executing anything it contains."""
    allowed = {**ALLOWED_GLOBALS, **(extra_globals or {})}
    try:
        return RestrictedUnpickler(file, allowed).load()
    except ModelError:
        raise
    except (pickle.UnpicklingError, EOFError) as exc:
        raise ModelError(f"model file is truncated or corrupted ({exc or 'unexpected end of file'})") from None
    except (TypeError, ValueError, AttributeError, IndexError, KeyError, struct.error, MemoryError) as exc:
        raise ModelError(f"model file is corrupted: {type(exc).__name__}: {exc}") from None
