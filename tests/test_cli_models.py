"""The real `vjengine` command: convert and bench generator."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest
import torch

from tests.conftest import FIXTURES, one_line_error, run_cli
from vjengine.models import load_generator


def vjengine(*args: str) -> subprocess.CompletedProcess:
    return run_cli(*args)


def test_convert_writes_a_file_that_loads_to_the_same_generator(tmp_path):
    out = tmp_path / "sg3t.safetensors"
    result = vjengine("convert", str(FIXTURES / "sg3t_64.pkl"), str(out))
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and out.is_file()
    original, converted = load_generator(FIXTURES / "sg3t_64.pkl"), load_generator(out)
    ws = original.mapping(torch.randn(1, 512), None)
    assert torch.equal(original.synthesis(ws), converted.synthesis(ws))


def test_convert_of_a_missing_file_is_one_line_and_status_2(tmp_path):
    result = vjengine("convert", str(tmp_path / "missing.pkl"), str(tmp_path / "out.safetensors"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("vjengine: error: model")


def test_bench_generator_reports_json(tmp_path):
    result = vjengine("bench", "generator", "--model", "random:sg2-32", "--frames", "3", "--warmup", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["arch"] == "stylegan2" and report["resolution"] == 32 and report["frames"] == 3
    assert report["median_ms"] > 0 and report["fps"] > 0 and report["p95_ms"] >= report["median_ms"]


@pytest.mark.slow  # a 512-channel model timed two ways
def test_bench_generator_compares_direct_convolutions():
    model = "random:sg3t-16"  # 512 channels: its layers convolve by Winograd on a CPU
    result = vjengine("bench", "generator", "--model", model, "--device", "cpu", "--frames", "2", "--direct", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["direct_median_ms"] > 0 and report["direct_p95_ms"] >= report["direct_median_ms"]


def test_bench_generator_refuses_fp16_without_cuda():
    if torch.cuda.is_available():
        return
    result = vjengine("bench", "generator", "--model", "random:sg2-32", "--device", "cpu", "--dtype", "fp16")
    assert result.returncode == 2 and "fp16 needs a CUDA GPU" in result.stderr


def untouched(path) -> tuple[bytes, int]:
    """What must not change when a command refuses: the bytes and the modification time."""
    return path.read_bytes(), path.stat().st_mtime_ns


def test_convert_refuses_to_write_over_its_input(tmp_path):
    snapshot = tmp_path / "victim.pkl"
    snapshot.write_bytes((FIXTURES / "sg2_64.pkl").read_bytes())
    before = untouched(snapshot)
    assert "not a .safetensors file" in one_line_error(vjengine("convert", str(snapshot), str(snapshot)))
    assert untouched(snapshot) == before


def test_convert_refuses_its_input_by_another_name_even_with_force(tmp_path):
    model = tmp_path / "model.safetensors"
    assert vjengine("convert", "random:sg2-32", str(model)).returncode == 0
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.safetensors").symlink_to(model)
    before = untouched(model)
    for other in (tmp_path / "sub" / ".." / "model.safetensors", tmp_path / "link.safetensors"):
        error = one_line_error(vjengine("convert", str(model), str(other), "--force"))
        assert "is the input" in error
    assert untouched(model) == before


def test_convert_never_writes_a_file_that_is_not_safetensors(tmp_path):
    video = tmp_path / "existing.mp4"
    video.write_bytes(b"a video")
    before = untouched(video)
    error = one_line_error(vjengine("convert", "random:sg2-32", str(video), "--force"))
    assert "existing.safetensors" in error
    assert untouched(video) == before


def test_convert_replaces_an_existing_file_only_with_force(tmp_path):
    out = tmp_path / "model.safetensors"
    out.write_bytes(b"an older conversion")
    before = untouched(out)
    assert "--force" in one_line_error(vjengine("convert", "random:sg2-32", str(out)))
    assert untouched(out) == before
    result = vjengine("convert", "random:sg2-32", str(out), "--force")
    assert result.returncode == 0, result.stderr
    assert load_generator(out).img_resolution == 32


def test_convert_to_a_folder_or_under_a_file_is_one_line_before_loading(tmp_path):
    (tmp_path / "folder.safetensors").mkdir()
    (tmp_path / "a-file").write_text("")
    for out, message in (("folder.safetensors", "is a folder"), ("a-file/model.safetensors", "not a folder")):
        # A missing input would be the first complaint if the output were checked after loading.
        result = vjengine("convert", str(tmp_path / "missing.pkl"), str(tmp_path / out))
        assert message in one_line_error(result)


def test_converted_model_is_written_with_the_umask(tmp_path):
    out = tmp_path / "model.safetensors"
    previous = os.umask(0o022)
    try:
        assert vjengine("convert", "random:sg2-32", str(out)).returncode == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no temporary file left behind
