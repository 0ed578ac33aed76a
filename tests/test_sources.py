"""Frame sources: real video files, real PNGs and the built-in pattern, read through the public API."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import wait_for
from vjengine.errors import VJError
from vjengine.sources import CameraControls, Frame, list_cameras, open_source, render_pattern
from vjengine.sources.base import Source
from vjengine.sources.camera import CameraSource

W, H = 96, 64


def write_video(path: Path, frames_bgr: list[np.ndarray], fps: float) -> Path:
    height, width = frames_bgr[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames_bgr:
        writer.write(frame)
    writer.release()
    return path


def grey_frames(count: int) -> list[np.ndarray]:
    """Flat frames 20, 40, 60 ... so a decoded frame tells which one it was."""
    return [np.full((H, W, 3), 20 * (i + 1), np.uint8) for i in range(count)]


def textured_frame() -> np.ndarray:
    """A BGR frame with a gradient and a pure red block, to check content and channel order."""
    frame = np.zeros((H, W, 3), np.uint8)
    frame[..., 0] = np.linspace(0, 255, W, dtype=np.uint8)[None, :]
    frame[..., 1] = np.linspace(0, 255, H, dtype=np.uint8)[:, None]
    frame[16:48, 16:48] = (0, 0, 255)
    return frame


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def assert_one_line_error(excinfo: pytest.ExceptionInfo[VJError], *words: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message
    for word in words:
        assert word in message, f"{word!r} missing from {message!r}"


# --- pattern --------------------------------------------------------------------------------------------------


def test_pattern_frames_are_rgb_uint8_at_the_asked_size():
    with open_source("pattern", width=W, height=H, fps=60) as source:
        frame = source.wait_first(timeout=30.0)
    assert isinstance(frame, Frame)
    assert frame.image.shape == (H, W, 3)
    assert frame.image.dtype == np.uint8
    assert frame.image.flags.c_contiguous


def test_pattern_consecutive_frames_differ():
    assert not np.array_equal(render_pattern(10, W, H, fps=30), render_pattern(11, W, H, fps=30))


def test_pattern_is_a_function_of_the_frame_index():
    with open_source("pattern", width=W, height=H, fps=60) as source:
        assert wait_for(lambda: source.latest() is not None and source.latest().index >= 3)
        frame = source.latest()
    np.testing.assert_array_equal(frame.image, render_pattern(frame.index, W, H, fps=60))


def test_pattern_index_increases_over_time():
    with open_source("pattern", width=W, height=H, fps=60) as source:
        first = source.wait_first(timeout=30.0)
        assert wait_for(lambda: source.latest().index > first.index)
        later = source.latest()
    assert later.time > first.time


# --- video ----------------------------------------------------------------------------------------------------


def test_video_frames_come_from_the_file_in_rgb(tmp_path):
    written = textured_frame()
    path = write_video(tmp_path / "clip.mp4", [written] * 5, fps=20)
    with open_source(f"video:{path}") as source:
        frame = source.wait_first(timeout=30.0)
    assert frame.index == 0
    assert frame.image.shape == (H, W, 3)
    assert mean_abs_diff(frame.image, cv2.cvtColor(written, cv2.COLOR_BGR2RGB)) < 10
    assert source.name.startswith("video:clip.mp4") and "looping" in source.name


def test_video_loops_forever(tmp_path):
    frames = grey_frames(5)
    path = write_video(tmp_path / "short.mp4", frames, fps=50)  # 0.1 s long
    with open_source(f"video:{path}") as source:
        assert wait_for(lambda: source.latest() is not None and source.latest().index >= 3 * len(frames))
        frame = source.latest()
    # after looping, frame k shows what was written at position k mod length
    expected = frames[frame.index % len(frames)]
    assert abs(float(frame.image.mean()) - float(expected.mean())) < 10


def test_video_plays_at_the_files_own_rate(tmp_path):
    path = write_video(tmp_path / "slow.mp4", grey_frames(10), fps=20)
    with open_source(f"video:{path}", fps=200) as source:  # fps only applies when the file has no rate
        first = source.wait_first(timeout=30.0)
        assert wait_for(lambda: source.latest().index >= first.index + 5)
        later = source.latest()
    assert source.fps == 20 and "@20" in source.name
    # Never faster than 20 fps between two frames' own capture times (a busy machine only makes it slower);
    # at the 200 fps fallback, five frames would take a tenth of the time.
    assert later.index - first.index <= (later.time - first.time) * 20 + 1


# --- image ----------------------------------------------------------------------------------------------------


def test_image_is_served_in_rgb_order(tmp_path):
    bgr = np.zeros((H, W, 3), np.uint8)
    bgr[10:30, 10:30] = (0, 0, 255)  # red, in OpenCV's BGR order
    path = tmp_path / "still.png"
    assert cv2.imwrite(str(path), bgr)
    with open_source(f"image:{path}") as source, open_source("pattern", W, H, 100) as pattern:
        frame = source.wait_first(timeout=30.0)
        # Ten frames of a 100 fps source beside it: time enough for a still source that re-served its picture
        # (at any frame rate from 10 fps up) to have done so, counted in frames rather than slept.
        assert wait_for(lambda: pattern.latest() is not None and pattern.latest().index >= 10)
        again = source.latest()
    assert tuple(frame.image[20, 20]) == (255, 0, 0)
    assert tuple(frame.image[50, 50]) == (0, 0, 0)
    assert again is frame and again.index == 0


# --- errors ---------------------------------------------------------------------------------------------------


def test_missing_video_is_a_one_line_error(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(VJError) as excinfo:
        open_source(f"video:{missing}")
    assert_one_line_error(excinfo, str(missing), "not found")


def test_unreadable_video_is_a_one_line_error(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VJError) as excinfo:
        open_source(f"video:{junk}")
    assert_one_line_error(excinfo, str(junk), "cannot read")


def test_missing_image_is_a_one_line_error(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(VJError) as excinfo:
        open_source(f"image:{missing}")
    assert_one_line_error(excinfo, str(missing), "not found")


def test_unknown_spec_lists_the_accepted_forms():
    with pytest.raises(VJError) as excinfo:
        open_source("webcam")
    assert_one_line_error(excinfo, "webcam", "camera:N", "video:PATH", "image:PATH", "pattern")


def test_camera_that_does_not_open_is_a_one_line_error():
    with pytest.raises(VJError) as excinfo:
        open_source("camera:99")
    assert_one_line_error(excinfo, "camera 99 did not open", "vjengine devices", "--source pattern")


# --- auto -----------------------------------------------------------------------------------------------------


def test_auto_falls_back_to_the_pattern_without_a_camera(caplog):
    if list_cameras(max_index=1):
        pytest.skip("this machine has a camera, so auto picks it")
    with caplog.at_level(logging.INFO, logger="vjengine.sources"):
        source = open_source(None, width=W, height=H)
    assert source.name.startswith("pattern")
    assert "no camera opened; using the built-in test pattern" in caplog.messages
    source.close()


# --- lifecycle ------------------------------------------------------------------------------------------------


def test_close_stops_the_thread_and_can_be_repeated():
    source = open_source("pattern", width=W, height=H).start()
    source.wait_first(timeout=30.0)
    assert source.is_running
    source.close()
    assert not source.is_running
    source.close()


class Counted(Source):
    """A source that publishes `count` frames as fast as it can, then signals and idles until closed."""

    def __init__(self, count: int) -> None:
        super().__init__("counted")
        self.count = count
        self.done = threading.Event()

    def _produce(self) -> None:
        for i in range(self.count):
            self._publish(np.full((H, W, 3), i, np.uint8))
        self.done.set()
        self._wait(3600.0)


def test_a_slow_consumer_always_gets_the_newest_frame():
    with Counted(5) as source:
        assert source.done.wait(30)  # five frames made while the consumer looked away (a slow render step)
        after = source.latest()
    assert after.index == 4, "latest() must skip to the newest frame, not hand out a backlog"
    assert after.image[0, 0, 0] == 4


# --- a camera that vanishes mid-show --------------------------------------------------------------------------


class FakeCapture:
    """Stands in for cv2.VideoCapture, because there is no camera on a test machine: `good_reads` frames, then
    every read fails the way an unplugged USB camera's does."""

    def __init__(self, good_reads: int, opened: bool = True) -> None:
        self.good_reads = good_reads
        self.opened = opened
        self.reads = 0

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's spelling
        return self.opened

    def read(self) -> tuple[bool, np.ndarray | None]:
        time.sleep(0.005)  # a real camera read blocks until the next frame
        self.reads += 1
        if self.reads > self.good_reads:
            return False, None
        return True, np.full((H, W, 3), (10 * self.reads, 0, 200), np.uint8)  # BGR, differs per read

    def set(self, prop: int, value: float) -> bool:
        self.settings = {**getattr(self, "settings", {}), prop: value}
        return prop != cv2.CAP_PROP_FOCUS  # like many webcams: no manual focus

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FRAME_WIDTH: W, cv2.CAP_PROP_FRAME_HEIGHT: H, cv2.CAP_PROP_FPS: 30}.get(prop, 0)

    def release(self) -> None:
        self.opened = False


def test_a_vanished_camera_keeps_its_last_frame_and_retries(caplog):
    """Only the OpenCV capture is faked (no camera exists here): 3 good reads, then the camera is unplugged and
    stays gone, so every reopen fails."""
    opens = []

    def factory(index: int) -> FakeCapture:
        opens.append(index)
        return FakeCapture(good_reads=3, opened=len(opens) == 1)

    caplog.set_level(logging.WARNING, logger="vjengine.sources")
    with CameraSource(0, W, H, 30, capture_factory=factory, retry_interval=0.02) as source:
        assert wait_for(lambda: len(opens) >= 5), "the source should keep trying to reopen the camera"
        frame = source.latest()
        assert source.is_running
    assert frame.index == 2
    assert tuple(frame.image[0, 0]) == (200, 0, 30)  # the third good frame, in RGB
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and "stopped delivering frames" in said[0] and "the last frame stays" in said[0]


def test_a_camera_that_comes_back_delivers_new_frames(caplog):
    """Only the OpenCV capture is faked (no camera exists here): it fails after 2 frames, two reopens fail, the
    third works again."""
    opens = []

    def factory(index: int) -> FakeCapture:
        opens.append(index)
        return FakeCapture(good_reads=2 if len(opens) == 1 else 1000, opened=len(opens) not in (2, 3))

    caplog.set_level(logging.INFO, logger="vjengine.sources")
    with CameraSource(0, W, H, 30, capture_factory=factory, retry_interval=0.02) as source:
        assert wait_for(lambda: source.latest() is not None and source.latest().index >= 5)
    assert any("is back" in message for message in caplog.messages)


def test_camera_controls_reach_the_driver(caplog):
    """The OpenCV capture is faked (no camera here); the controls must arrive as its properties."""
    captures = []

    def factory(index: int) -> FakeCapture:
        captures.append(FakeCapture(good_reads=1000))
        return captures[-1]

    controls = CameraControls(autofocus=False, auto_exposure=False, exposure=-6, focus=10)
    caplog.set_level(logging.INFO, logger="vjengine.sources")
    CameraSource(0, W, H, 30, capture_factory=factory, controls=controls).close()
    settings = captures[0].settings
    assert settings[cv2.CAP_PROP_AUTOFOCUS] == 0 and settings[cv2.CAP_PROP_EXPOSURE] == -6
    assert cv2.CAP_PROP_AUTO_EXPOSURE in settings
    assert "does not offer focus" in caplog.text


def test_autofocus_is_off_unless_asked_for():
    assert CameraControls().settings() == [("autofocus", cv2.CAP_PROP_AUTOFOCUS, 0.0)]
