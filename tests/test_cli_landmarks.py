"""The real `vjengine run` with MediaPipe: a face in the picture becomes signals on OSC and an overlay, the
shipped gestures example runs, and damaged bundles cost one line while the engine renders on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import FIXTURES, run_cli
from tests.test_cli_control import Listener
from tests.test_landmarks import broken_bundle
from vjengine.nativelog import is_native_log_line

FACE = FIXTURES / "mediapipe" / "face_256.png"
FACE_BUNDLE = FIXTURES / "mediapipe" / "face_landmarker.task"
HAND_BUNDLE = FIXTURES / "mediapipe" / "hand_landmarker.task"
EXAMPLE = Path(__file__).parent.parent / "examples" / "gestures.toml"


def engine_args(tmp_path, *extra: str, config: str = "") -> list[str]:
    """`vjengine run`'s arguments: the fixture model on the portrait at 20 fps, with `config` as its file."""
    path = tmp_path / "config.toml"
    path.write_text(config)
    args = ["--config", str(path), "--model", str(FIXTURES / "sg2_64.pkl"), "--source", f"image:{FACE}"]
    return [*args, "--osc-port", "0", "--oscquery-port", "0", "--no-status", "--set", "render.fps=20", *extra]


def run_in_process(tmp_path, *extra: str, config: str = "") -> tuple[int, str]:
    """A run that ends by itself, in this process: its status and its lines (MediaPipe's own, which C++ writes
    to the process's stderr, are not among them: the tests of those run a process of their own)."""
    result = run_cli("run", *engine_args(tmp_path, *extra, config=config))
    return result.returncode, result.stdout + result.stderr


def run_engine(tmp_path, *extra: str, config: str = "", verbose: bool = False) -> subprocess.Popen:
    verbosity = ["--verbose"] if verbose else []
    return subprocess.Popen(
        [sys.executable, "-m", "vjengine", *verbosity, "run", *engine_args(tmp_path, *extra, config=config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.slow  # a real engine process with MediaPipe
def test_a_face_in_the_picture_is_sent_as_signals(tmp_path):
    listener = Listener()
    config = f'[landmarks]\nface = "{FACE_BUNDLE}"\nhands = "none"\npose = "none"\n[osc]\nparams = false\n'
    target = ["--osc-out", f"127.0.0.1:{listener.port}", "--osc-signals", "face.*"]
    process = run_engine(tmp_path, "--output", "none", "--set", "landmarks.face=true", *target, config=config)
    try:
        assert listener.wait_for("/vj/signal/face/present", lambda v: v[0] > 0.9, timeout=300)
        assert listener.wait_for("/vj/signal/face/x", lambda v: 0.3 < v[0] < 0.7)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(120)
        listener.sock.close()


def output_once_a_face_was_found(tmp_path, verbose: bool) -> list[str]:
    """The lines a run prints up to the moment its face detector has run (its signals arrived) and it stopped."""
    listener = Listener()
    config = f'[landmarks]\nface = "{FACE_BUNDLE}"\nhands = "none"\npose = "none"\n[osc]\nparams = false\n'
    target = ["--osc-out", f"127.0.0.1:{listener.port}", "--osc-signals", "face.*"]
    process = run_engine(
        tmp_path, "--output", "none", "--set", "landmarks.face=true", *target, config=config, verbose=verbose
    )
    try:
        assert listener.wait_for("/vj/signal/face/present", lambda v: v[0] > 0.9, timeout=300)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
        listener.sock.close()
    return output.splitlines()


@pytest.mark.slow  # a real engine process with MediaPipe
def test_a_run_prints_only_our_own_lines_not_mediapipes(tmp_path):
    lines = output_once_a_face_was_found(tmp_path, verbose=False)
    assert lines and not [line for line in lines if is_native_log_line(line.encode())], lines


@pytest.mark.slow  # a real engine process with MediaPipe
def test_verbose_shows_mediapipes_own_log_lines_too(tmp_path):
    lines = output_once_a_face_was_found(tmp_path, verbose=True)
    assert [line for line in lines if is_native_log_line(line.encode())], lines


def test_native_log_lines_are_told_from_ours():
    native = [
        b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
        b"W0000 00:00:1795944485.816518   21757 inference_feedback_manager.cc:121] Feedback manager requires\n",
        b"I0000 00:00:1714668459.875897  381002 gl_context_egl.cc:85] Successfully initialized EGL.\n",
    ]
    ours = [
        b"INFO vjengine: rendered 30 frames\n",
        b"WARNING vjengine.outputs.base: flaky failed: the receiver went away\n",
        b"vjengine: error: model 'nope.pkl' does not exist\n",
        b"Traceback (most recent call last):\n",
        b"F0000 00:00:1714668459.875897  381002 check.cc:85] Check failed: a fatal error stays visible\n",
    ]
    assert all(is_native_log_line(line) for line in native)
    assert not any(is_native_log_line(line) for line in ours)


def test_the_overlay_output_shows_the_camera_with_landmarks_drawn(tmp_path):
    overlay = tmp_path / "overlay"
    config = f'[landmarks]\nface = "{FACE_BUNDLE}"\nhands = "none"\npose = "none"\n'
    returncode, output = run_in_process(
        tmp_path, "--frames", "40", "--output", "none", "--overlay", f"file:{overlay}/%03d.png",
        "--set", "landmarks.face=true", config=config,
    )  # fmt: skip
    assert returncode == 0, output
    photo = cv2.imread(str(FACE))
    frames = [cv2.imread(str(p)) for p in sorted(overlay.glob("*.png"))]
    assert len(frames) == 40 and frames[0].shape == photo.shape
    assert np.array_equal(frames[0], photo)  # nothing detected yet on the very first frame
    changed = [int((np.abs(f.astype(int) - photo).sum(axis=2) > 0).sum()) for f in frames]
    assert max(changed) > 200  # 478 landmarks drawn as dots once the face is found


def test_without_a_bundle_the_detector_says_why_and_the_engine_renders_on(tmp_path):
    returncode, output = run_in_process(tmp_path, "--frames", "5", "--output", "none", "--set", "landmarks.face=true")
    assert returncode == 0, output
    assert "face" in output and "VJENGINE_OFFLINE" in output


@pytest.mark.slow  # a real engine process with MediaPipe
def test_the_gestures_example_sends_the_portraits_smile(tmp_path):
    """examples/gestures.toml as shipped, with the bundles and the preset bank pointed at the test's own."""
    config = EXAMPLE.read_text()
    for line, local in [
        ('face = "auto"', f'face = "{FACE_BUNDLE}"'),
        ('hands = "auto"', f'hands = "{HAND_BUNDLE}"'),
        ('bank = "presets"', f'bank = "{tmp_path / "presets"}"'),
    ]:
        assert line in config
        config = config.replace(line, local)
    listener = Listener()
    target = ["--osc-out", f"127.0.0.1:{listener.port}", "--osc-signals", "face.smile"]
    process = run_engine(tmp_path, "--output", "none", *target, config=config)
    try:
        assert listener.wait_for("/vj/signal/face/smile", lambda v: v[0] > 0.5, timeout=300)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(120)
        listener.sock.close()


@pytest.mark.parametrize("name", ["truncated", "html-prefixed", "json-prefixed"])
def test_a_damaged_bundle_costs_one_line_and_the_engine_renders_on(tmp_path, name: str):
    bundle = broken_bundle(name, tmp_path)
    config = f'[landmarks]\nface = "{bundle}"\nhands = "none"\npose = "none"\n'
    returncode, output = run_in_process(
        tmp_path, "--frames", "20", "--output", "none", "--set", "landmarks.face=true", config=config
    )
    assert returncode == 0 and "Traceback" not in output, output
    said = [line for line in output.splitlines() if str(bundle) in line]
    if name == "truncated":  # refused: the detector stays off
        assert len(said) == 1 and "download it again" in said[0], output
    else:  # the whole bundle is there: it loads, and the log says what is in front of it
        assert len(said) == 1 and "in front of it" in said[0], output
