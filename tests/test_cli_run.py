"""End to end through the real `vjengine` command: run, params, devices, bench."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.conftest import FIXTURES, run_cli, wait_for

ROOT = Path(__file__).parent.parent


def vjengine(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The command run in this process: each of these ends by itself (the tests of a process's own signals, below,
    start a real one)."""
    return run_cli(*args, cwd=cwd)


def read_video(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 2-second 25 fps clip with a moving square."""
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (96, 64))
    for i in range(50):
        frame = np.full((64, 96, 3), 40, np.uint8)
        cv2.rectangle(frame, (i, 10), (i + 20, 40), (0, 200, 255), -1)
        writer.write(frame)
    writer.release()
    return path


@pytest.mark.slow  # 30 frames of a 256 px model, encoded
@pytest.mark.parametrize("model", ["random", str(FIXTURES / "sg2_64.pkl")], ids=["random", "fixture"])
def test_run_renders_a_video_source_into_an_mp4(tmp_path, clip, model):
    out = tmp_path / "out.mp4"
    result = vjengine(
        "run", "--frames", "30", "--model", model, "--source", f"video:{clip}", "--output", f"file:{out}", "--no-status"
    )
    assert result.returncode == 0, result.stderr
    frames = read_video(out)
    assert len(frames) == 30
    assert not all(np.array_equal(frames[0], f) for f in frames[1:])


def test_run_with_the_pattern_source(tmp_path):
    out = tmp_path / "pattern.mp4"
    result = vjengine(
        "run", "--frames", "12", "--model", "random:sg2-32", "--source", "pattern", "--output", f"file:{out}"
    )
    assert result.returncode == 0, result.stderr
    frames = read_video(out)
    assert len(frames) == 12 and not all(np.array_equal(frames[0], f) for f in frames[1:])


def test_run_writes_a_png_sequence(tmp_path):
    result = vjengine(
        "run",
        "--frames",
        "3",
        "--model",
        "random:sg2-32",
        "--source",
        "pattern",
        "--output",
        f"file:{tmp_path}/f%03d.png",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["f000.png", "f001.png", "f002.png"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_run(*args: str) -> subprocess.Popen:
    """`vjengine run` on a small random model and the test pattern, in the background."""
    command = [sys.executable, "-m", "vjengine", "run", "--model", "random:sg2-32", "--source", "pattern"]
    return subprocess.Popen([*command, "--no-status", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def fetch_jpeg(url: str, within: float) -> np.ndarray | None:
    images: list[np.ndarray] = []

    def fetched() -> bool:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=30) as response:
            images.append(cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_COLOR))
        return bool(images)

    wait_for(fetched, within, interval=0.3)
    return images[0] if images else None


@pytest.mark.slow  # a real engine process, stopped by its signal
def test_preview_serves_jpeg_frames_over_http():
    port = free_port()
    proc = start_run("--output", f"preview:{port}", "--fps", "10")
    try:
        image = fetch_jpeg(f"http://127.0.0.1:{port}/frame.jpg", within=300)
        assert image is not None and image.shape == (32, 32, 3)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "stopping (SIGTERM)" in stderr


@pytest.mark.slow  # a real engine process, stopped by its signal
def test_sigterm_leaves_a_playable_recording(tmp_path):
    out = tmp_path / "live.mp4"
    proc = start_run("--output", f"file:{out}", "--fps", "30")
    wait_for(out.exists, 300, interval=0.1)  # the file opens with the first frame
    time.sleep(1)
    proc.terminate()
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert len(read_video(out)) > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope.pkl"], "model 'nope.pkl' does not exist"),
        (["--source", "video:missing.mp4"], "missing.mp4"),
        (["--output", "fax:1"], "fax"),
        (["--set", "truncation.psy=1"], "unknown parameter 'truncation.psy'"),
        (["--set", "latent.seed=x"], "latent.seed: 'x' is not allowed"),
        (["--config", "nowhere.toml"], "does not exist"),
        (["--size", "big"], "WIDTHxHEIGHT"),
    ],
)
def test_user_mistakes_are_one_line_errors(args, message):
    result = vjengine(
        "run", "--frames", "1", "--model", "random:sg2-32", "--source", "pattern", "--output", "none", *args
    )
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("vjengine: error:")]
    assert len(error_lines) == 1 and message in error_lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_params_lists_every_parameter_with_its_osc_address():
    result = vjengine("params", "--json")
    rows = json.loads(result.stdout)
    assert {"name": "truncation.psi", "osc": "/vj/truncation/psi"}.items() <= rows[
        [r["name"] for r in rows].index("truncation.psi")
    ].items()


def test_the_parameter_table_in_the_docs_is_generated_from_the_registry():
    table = vjengine("params", "--markdown").stdout.strip()
    assert table in (ROOT / "docs" / "parameters.md").read_text(), "run: vjengine params --markdown"


def test_every_command_line_option_is_in_the_readme_or_the_docs():
    import argparse

    from vjengine.cli import build_parser

    manual = "\n".join(page.read_text() for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    parsers, flags = [build_parser()], set()
    while parsers:
        parser = parsers.pop()
        for action in parser._actions:  # argparse has no public way to walk its tree
            if isinstance(action, argparse._SubParsersAction):
                parsers += action.choices.values()
            flags |= {flag for flag in action.option_strings if flag.startswith("--") and flag != "--help"}
    assert flags and not [flag for flag in sorted(flags) if flag not in manual]


def test_devices_lists_every_section():
    result = vjengine("devices")
    assert result.returncode == 0, result.stderr
    for section in ("cameras:", "compute:", "MIDI ports:", "outputs:"):
        assert section in result.stdout


def test_bench_reports_loop_and_generator_fps():
    result = vjengine("bench", "--model", "random:sg2-32", "--frames", "10", "--warmup", "2", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["loop_fps"] > 0 and report["generator_fps"] > 0
    assert set(report["stages"]) == {"source", "analyse", "compose", "generate", "copy", "publish"}


@pytest.mark.parametrize("model", ["random:sg2-32", "random:sg3t-32"])
def test_run_renders_in_bfloat16(tmp_path, model):
    out = tmp_path / "bf16.mp4"
    result = vjengine(
        "run", "--model", model, "--source", "pattern", "--dtype", "bf16", "--device", "cpu",
        "--output", f"file:{out}", "--frames", "3", "--no-status", "--osc-port", "0", "--oscquery-port", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(read_video(out)) == 3


@pytest.mark.slow  # torch.compile builds C++ kernels: minutes on a small CPU
def test_bench_generator_times_the_compiled_synthesis_apart_from_compiling():
    result = vjengine(
        "bench", "generator", "--model", "random:sg2-32", "--device", "cpu", "--dtype", "fp32",
        "--frames", "2", "--warmup", "1", "--compile", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["compile_s"] > 0 and report["compiled_median_ms"] > 0 and report["median_ms"] > 0


@pytest.mark.slow  # torch.compile builds C++ kernels: minutes on a small CPU
def test_run_compiles_the_generator_when_asked(tmp_path):
    out = tmp_path / "compiled.mp4"
    result = vjengine(
        "run", "--model", "random:sg2-32", "--source", "pattern", "--device", "cpu", "--compile",
        "--output", f"file:{out}", "--frames", "3", "--no-status", "--osc-port", "0", "--oscquery-port", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "generator compiled in" in result.stderr
    assert len(read_video(out)) == 3


def test_bench_encoder_reports_each_analysis_size():
    result = vjengine("bench", "encoder", "--size", "64", "--size", "96", "--frames", "2", "--json")
    assert result.returncode == 0, result.stderr
    assert [row["size"] for row in json.loads(result.stdout)] == [64, 96]


@pytest.mark.parametrize("mode", ["noise", "warp"])
def test_record_then_render_reproduces_the_live_frames_exactly(tmp_path, mode):
    model = str(FIXTURES / "sg2_64.pkl")
    live, again, recording = tmp_path / "live", tmp_path / "again", tmp_path / "set.npz"
    # Exact only on the same device at the same precision: a CUDA fp16 show re-rendered on the CPU differs in
    # the last bits (another kernel, another rounding). Both runs are pinned, so this holds on any machine.
    same_way = ("--device", "cpu", "--dtype", "fp32")
    result = vjengine(
        "run", "--frames", "6", "--model", model, "--source", "pattern", "--set", "latent.drift=30",
        "--set", "corruption.gain=0.4", "--set", "corruption.drift=60", "--set", f"corruption.mode={mode}",
        "--output", f"file:{live}/%03d.png", "--record", str(recording), *same_way,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = vjengine("render", str(recording), "--output", f"file:{again}/%03d.png", *same_way)
    assert result.returncode == 0, result.stderr
    live_frames, rendered = sorted(live.glob("*.png")), sorted(again.glob("*.png"))
    assert len(live_frames) == len(rendered) == 6
    for a, b in zip(live_frames, rendered, strict=True):
        assert np.array_equal(cv2.imread(str(a)), cv2.imread(str(b))), a.name
    assert not np.array_equal(cv2.imread(str(live_frames[0])), cv2.imread(str(live_frames[-1])))


def test_record_path_that_cannot_be_written_fails_before_the_show(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = vjengine(
        "run", "--frames", "3", "--model", "random:sg2-32", "--source", "pattern", "--output", "none",
        "--record", str(blocker / "set.npz"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "a-file is a file, not a folder" in result.stderr and "Traceback" not in result.stderr
    assert "rendered" not in result.stderr


@pytest.mark.slow  # renders as many frames as the recording took seconds: more on a busy machine
def test_render_resamples_to_another_frame_rate(tmp_path):
    recording = tmp_path / "set.npz"
    result = vjengine(
        "run", "--frames", "10", "--model", "random:sg2-32", "--source", "pattern", "--fps", "10",
        "--output", "none", "--record", str(recording),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = vjengine("render", str(recording), "--output", f"file:{tmp_path}/out.mp4", "--fps", "30")
    assert result.returncode == 0, result.stderr
    with np.load(recording) as data:
        recorded_seconds = float(data["time"][-1])
    assert len(read_video(tmp_path / "out.mp4")) == int(recorded_seconds * 30 + 1e-6) + 1


def test_render_of_a_file_that_is_not_a_recording(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.zeros(3))
    result = vjengine("render", str(path), "--output", "none")
    assert result.returncode == 2 and "not a vjengine recording" in result.stderr


@pytest.mark.parametrize(
    "outputs",
    [
        ["--output", "file:same.mp4", "--overlay", "file:same.mp4"],
        ["--output", "file:same.mp4", "--output", "file:./sub/../same.mp4"],
        ["--output", "file:frames/%05d.png", "--output", "file:frames/%03d.png"],
    ],
    ids=["output-and-overlay", "output-twice", "png-sequences"],
)
def test_two_outputs_to_one_file_are_refused_at_start(tmp_path, outputs):
    existing = tmp_path / "same.mp4"
    existing.write_bytes(b"last night's set")
    before = existing.read_bytes(), existing.stat().st_mtime_ns
    result = vjengine(
        "run", "--frames", "3", "--model", "random:sg2-32", "--source", "pattern",
        "--no-status", "--osc-port", "0", "--oscquery-port", "0", *outputs, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("vjengine: error:")]
    assert len(errors) == 1 and "two outputs write" in errors[0], result.stderr
    assert "model random" not in result.stderr  # refused before the model loaded
    assert (existing.read_bytes(), existing.stat().st_mtime_ns) == before
    assert not (tmp_path / "frames").exists()


def run_with_bank(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """Two frames of `vjengine run` on random:sg2-32 with the preset bank tmp_path/bank, recorded to set.npz."""
    return vjengine(
        "run", "--frames", "2", "--model", "random:sg2-32", "--source", "pattern", "--output", "none", "--no-status",
        "--osc-port", "0", "--oscquery-port", "0", "--presets", str(tmp_path / "bank"),
        "--record", str(tmp_path / "set.npz"), *args,
    )  # fmt: skip


def test_set_preset_recall_recalls_the_slot_at_start(tmp_path):
    from vjengine.engine.recording import load_recording
    from vjengine.latent.presets import Preset, PresetBank

    PresetBank(tmp_path / "bank").store(Preset(3, np.zeros((8, 512), np.float32), {"transform.rotate": 33.0}))
    result = run_with_bank(tmp_path, "--set", "preset.recall=3")
    assert result.returncode == 0, result.stderr
    recording = load_recording(tmp_path / "set.npz")
    assert [recording.frame_state(i)["transform.rotate"] for i in range(2)] == [33.0, 33.0]


@pytest.mark.parametrize(
    ("slot", "warning"),
    [("5", "preset 5 is empty (stored: 3)"), ("3", "preset 3 was stored with another model")],
    ids=["empty", "other-model"],
)
def test_set_preset_recall_warns_as_osc_does(tmp_path, slot, warning):
    from vjengine.latent.presets import Preset, PresetBank

    PresetBank(tmp_path / "bank").store(Preset(3, np.zeros((18, 512), np.float32), model="ffhq-1024"))
    result = run_with_bank(tmp_path, "--set", f"preset.recall={slot}")
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if warning in line], result.stderr


def test_record_then_render_is_bit_exact_with_random_noise(tmp_path):
    live, again, recording = tmp_path / "live", tmp_path / "again", tmp_path / "set.npz"
    result = vjengine(
        "run", "--frames", "4", "--model", str(FIXTURES / "sg2_64.pkl"), "--source", "pattern", "--no-status",
        "--osc-port", "0", "--oscquery-port", "0", "--set", "generator.noise=random",
        "--output", f"file:{live}/%03d.png", "--record", str(recording),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = vjengine("render", str(recording), "--output", f"file:{again}/%03d.png", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    live_frames = [cv2.imread(str(p)) for p in sorted(live.glob("*.png"))]
    rendered = [cv2.imread(str(p)) for p in sorted(again.glob("*.png"))]
    assert len(live_frames) == len(rendered) == 4
    assert all(np.array_equal(a, b) for a, b in zip(live_frames, rendered, strict=True))
    assert not np.array_equal(live_frames[0], live_frames[1])  # the noise did change from frame to frame


def test_render_of_a_recording_without_noise_seeds_warns_once(tmp_path):
    recording = tmp_path / "set.npz"
    result = vjengine(
        "run", "--frames", "2", "--model", "random:sg2-32", "--source", "pattern", "--no-status", "--output", "none",
        "--osc-port", "0", "--oscquery-port", "0", "--set", "generator.noise=random", "--record", str(recording),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with np.load(recording) as data:  # as an older vjengine wrote it
        np.savez(recording, **{key: data[key] for key in data.files if key != "noise_seed"})
    result = vjengine("render", str(recording), "--output", "none")
    assert result.returncode == 0, result.stderr
    assert len([line for line in result.stderr.splitlines() if "without the seeds" in line]) == 1, result.stderr


def video_timing(path: Path) -> tuple[list[float], float]:
    """The decoded frames' times in seconds, and how long the container says the video plays."""
    with av.open(str(path)) as container:
        return [float(f.time) for f in container.decode(video=0)], container.duration / av.time_base


@pytest.mark.slow  # a live take and its render, both encoded
def test_a_live_recording_plays_for_the_time_it_took_and_so_does_its_render(tmp_path):
    live, recording = tmp_path / "live.mp4", tmp_path / "set.npz"
    # Unpaced (render.fps=0) the loop runs as fast as this machine manages, not at the 30 fps the file opens with.
    result = vjengine(
        "run", "--frames", "15", "--model", "random:sg2-32", "--source", "pattern", "--no-status",
        "--osc-port", "0", "--oscquery-port", "0", "--set", "render.fps=0",
        "--output", f"file:{live}", "--record", str(recording),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with np.load(recording) as data:
        recorded = data["time"].tolist()  # when each frame was rendered, from the first
    take = recorded[-1] * len(recorded) / (len(recorded) - 1)  # the last frame shows for a mean interval too
    times, duration = video_timing(live)
    assert times == pytest.approx(recorded, abs=1.5e-3)
    assert duration == pytest.approx(take, abs=2e-3)
    result = vjengine("render", str(recording), "--output", f"file:{tmp_path}/again.mp4")
    assert result.returncode == 0, result.stderr
    again_times, again_duration = video_timing(tmp_path / "again.mp4")
    assert again_times == pytest.approx(times, abs=1.5e-3)
    assert again_duration == pytest.approx(duration, abs=2e-3)
