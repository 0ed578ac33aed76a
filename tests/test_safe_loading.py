"""Model files are untrusted: nothing in them runs, and broken files get one clear line."""

from __future__ import annotations

import os
import pickle
import sys
import types

import pytest

from tests.conftest import FIXTURES
from vjengine.errors import ModelError
from vjengine.models import load_generator


class _RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_calls_os_system_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _RunsShell(marker)}))
    with pytest.raises(ModelError, match=r"'(posix|nt|os)\.system'"):
        load_generator(path)
    assert not marker.exists()


def test_pickle_naming_builtins_eval_is_refused(tmp_path):
    path = tmp_path / "eval.pkl"
    path.write_bytes(pickle.dumps(types.SimpleNamespace()))
    with pytest.raises(ModelError, match="types.SimpleNamespace"):
        load_generator(path)


def _persistent_pickle(module_src: str) -> bytes:
    """A pickle shaped like NVIDIA's persistence output, with our own module_src in it."""
    module = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):
        return meta

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    package = types.ModuleType("torch_utils")
    package.persistence = module

    class Persistent:
        def __reduce__(self):
            meta = {"type": "class", "version": 6, "module_src": module_src, "class_name": "Generator", "state": {}}
            return (_reconstruct_persistent_obj, (meta,))

    saved = {name: sys.modules.get(name) for name in ("torch_utils", "torch_utils.persistence")}
    sys.modules.update({"torch_utils": package, "torch_utils.persistence": module})
    try:
        return pickle.dumps({"G_ema": Persistent()})
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name)
            else:
                sys.modules[name] = old


def test_embedded_module_source_is_never_executed(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "snapshot.pkl"
    path.write_bytes(_persistent_pickle(f"open({str(marker)!r}, 'w').write('x')\n"))
    with pytest.raises(ModelError, match="unknown architecture"):
        load_generator(path)
    assert not marker.exists()


def test_truncated_snapshot_is_one_line(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes((FIXTURES / "sg2_64.pkl").read_bytes()[:500_000])
    with pytest.raises(ModelError, match="truncated or corrupted") as err:
        load_generator(path)
    assert "\n" not in str(err.value)


def test_corrupted_snapshot_bytes_are_one_line(tmp_path):
    data = bytearray((FIXTURES / "sg2_64.pkl").read_bytes())
    data[60:200] = b"\xff" * 140  # 0xff is no pickle opcode
    path = tmp_path / "bitrot.pkl"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError) as err:
        load_generator(path)
    assert "\n" not in str(err.value)


def test_file_of_another_format_is_named_as_such(tmp_path):
    path = tmp_path / "photo.pkl"
    path.write_bytes((FIXTURES / "sg2_64.json").read_bytes())
    with pytest.raises(ModelError, match="not a model file vjengine reads"):
        load_generator(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pkl"
    path.touch()
    with pytest.raises(ModelError, match="empty"):
        load_generator(path)


def test_pickle_without_generator(tmp_path):
    path = tmp_path / "dict.pkl"
    path.write_bytes(pickle.dumps({"D": 1, "epoch": 3}))
    with pytest.raises(ModelError, match="no generator"):
        load_generator(path)


def test_tensorflow_pickle_says_how_to_convert(tmp_path):
    path = tmp_path / "tf.pkl"
    # What a TensorFlow-era NVIDIA pickle opens with: a dnnlib.tflib Network object.
    path.write_bytes(b"\x80\x03cdnnlib.tflib.network\nNetwork\nq\x00)\x81q\x01.")
    with pytest.raises(ModelError, match="TensorFlow-era"):
        load_generator(path)


def test_missing_file_names_what_is_accepted(tmp_path):
    with pytest.raises(ModelError, match="does not exist: pass an NVIDIA .pkl"):
        load_generator(tmp_path / "nope.pkl")
