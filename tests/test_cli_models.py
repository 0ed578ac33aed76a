"""The real `vjengine` command: convert and bench generator."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from tests.conftest import FIXTURES
from vjengine.models import load_generator


def vjengine(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "vjengine", *args], capture_output=True, text=True, timeout=300, env=env
    )


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


def test_bench_generator_refuses_fp16_without_cuda():
    if torch.cuda.is_available():
        return
    result = vjengine("bench", "generator", "--model", "random:sg2-32", "--device", "cpu", "--dtype", "fp16")
    assert result.returncode == 2 and "fp16 needs a CUDA GPU" in result.stderr
