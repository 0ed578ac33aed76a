"""Output sinks with real parts: real video files and PNGs on disk, real HTTP on 127.0.0.1."""

from __future__ import annotations

import http.client
import logging
import socket
import sys
import threading
import urllib.error
import urllib.request

import av
import cv2
import numpy as np
import pytest

from tests.conftest import FakeSink, finishes, wait_for
from vjengine.errors import VJError
from vjengine.outputs import Sink, open_sink

W, H = 64, 48


def flat(i: int, width: int = W, height: int = H) -> np.ndarray:
    """Frame `i` of a sequence of flat colours, each clearly different from its neighbours."""
    colour = ((i * 8) % 256, 255 - (i * 8) % 256, (64 + i * 40) % 256)
    return np.full((height, width, 3), colour, dtype=np.uint8)


def read_video(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


class StuckLive(Sink):
    """A live sink whose writes hang until released, like a viewer that stopped reading."""

    live = True

    def __init__(self, name: str = "stuck", **kwargs) -> None:
        self.writing = threading.Event()
        self.release = threading.Event()
        super().__init__(name, **kwargs)

    def _write(self, frame: np.ndarray) -> None:
        self.writing.set()
        self.release.wait()


class Broken(Sink):
    """A recording sink whose third write fails, like a disk that fills up."""

    def __init__(self) -> None:
        self.writes = 0
        super().__init__("broken")

    def _write(self, frame: np.ndarray) -> None:
        self.writes += 1
        if self.writes == 3:
            raise OSError("No space left on device")


# File sinks


@pytest.mark.parametrize("extension", [".mp4", ".mov", ".mkv"])
def test_video_file_holds_every_frame_in_its_colours(tmp_path, extension):
    path = tmp_path / "new" / "folder" / f"out{extension}"
    sink = open_sink(f"file:{path}", fps=30)
    sent = [flat(i) for i in range(30)]
    for frame in sent:
        sink.send(frame)
    sink.close()

    got = read_video(path)
    assert len(got) == 30
    assert all(frame.shape == (H, W, 3) for frame in got)
    assert len({frame.tobytes() for frame in got}) > 1
    for want, have in zip(sent, got, strict=True):
        assert np.abs(want.astype(int) - have.astype(int)).mean() < 12
    assert sink.stats.written == 30 and sink.stats.dropped == 0


def test_odd_frame_size_still_gives_a_playable_video(tmp_path):
    path = tmp_path / "odd.mp4"
    with open_sink(f"file:{path}") as sink:
        for i in range(5):
            sink.send(flat(i, width=65, height=49))

    got = read_video(path)
    assert len(got) == 5
    assert got[0].shape == (50, 66, 3)  # rounded up to even, edge repeated
    assert np.abs(got[2][:49, :65].astype(int) - flat(2, 65, 49)).mean() < 12


def test_png_sequence_round_trips_pixels_exactly(tmp_path):
    rng = np.random.default_rng(0)
    sent = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(4)]
    with open_sink(f"file:{tmp_path}/frames/%04d.png") as sink:
        for frame in sent:
            sink.send(frame)

    files = sorted((tmp_path / "frames").iterdir())
    assert [f.name for f in files] == ["0000.png", "0001.png", "0002.png", "0003.png"]
    for want, file in zip(sent, files, strict=True):
        np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(str(file)), cv2.COLOR_BGR2RGB), want)


def test_unknown_video_extension_is_a_one_line_error(tmp_path):
    with pytest.raises(VJError, match=r"\.mp4, \.mov, \.mkv") as error:
        open_sink(f"file:{tmp_path}/out.avi")
    assert "\n" not in str(error.value)


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="/proc is a folder nobody can create files in on Linux"
)
@pytest.mark.parametrize("spec", ["file:/proc/out.mp4", "file:/proc/%03d.png"])
def test_a_folder_that_cannot_be_written_fails_at_open_not_at_the_first_frame(spec):
    with pytest.raises(VJError, match="cannot write in /proc") as error:
        open_sink(spec)
    assert "\n" not in str(error.value)


# Spec parsing


def test_unknown_kind_is_a_one_line_error_listing_the_kinds():
    with pytest.raises(VJError, match="file:PATH, preview\\[:PORT\\], none") as error:
        open_sink("webcam")
    assert "\n" not in str(error.value)


def test_none_discards_frames():
    with open_sink("none") as sink:
        for i in range(10):
            sink.send(flat(i))
    assert sink.stats.sent == 10 and sink.stats.failed is None


# Delivery policies


def test_recording_keeps_every_frame_through_a_short_burst():
    sink = FakeSink(delay=0.005)
    sent = [flat(i) for i in range(20)]
    for frame in sent:
        sink.send(frame)
    sink.close()

    assert sink.stats.written == 20 and sink.stats.dropped == 0
    assert all(a is b for a, b in zip(sent, sink.frames, strict=True))  # all of them, in order


class StuckRecording(StuckLive):
    """A recording sink whose writes hang until released, like a disk that stalls."""

    live = False


def test_recording_drops_and_warns_when_its_buffer_overflows(caplog):
    sink = StuckRecording("file:slow.mp4", buffer=2)
    sink.send(flat(0))
    assert sink.writing.wait(30)

    def burst() -> None:
        for i in range(1, 20):
            sink.send(flat(i))

    assert finishes(burst)  # never waits for the stalled writer
    sink.release.set()
    sink.close()
    stats = sink.stats
    assert (stats.written, stats.dropped) == (3, 17)  # the frame being written, two queued; the rest dropped
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("recording dropped frames" in m for m in warnings) == 1  # once per few seconds, not per frame


def test_live_sink_keeps_only_the_newest_frame_while_busy():
    sink = StuckLive()
    sink.send(flat(0))
    assert sink.writing.wait(30)
    assert finishes(lambda: [sink.send(flat(i)) for i in range(1, 11)])  # never waits for the stuck viewer
    assert sink.stats.dropped == 9  # one frame waits in the slot, the nine before it were replaced

    sink.release.set()
    sink.close()
    assert sink.stats.sent == sink.stats.written + sink.stats.dropped == 11


def test_failing_sink_turns_itself_off_and_spares_the_others(caplog):
    broken, healthy = Broken(), FakeSink()
    for i in range(5):
        for sink in (broken, healthy):
            sink.send(flat(i))
    assert wait_for(lambda: broken.stats.failed is not None)
    sent_before = broken.stats.sent
    for i in range(5, 10):
        for sink in (broken, healthy):
            sink.send(flat(i))
    broken.close()
    healthy.close()

    assert broken.stats.failed == "No space left on device"
    assert broken.stats.sent == sent_before  # later frames are ignored
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["broken failed and is now off: No space left on device"]
    assert healthy.stats.written == 10 and healthy.stats.failed is None


def test_frame_size_change_turns_a_sink_off():
    sink = FakeSink()
    sink.send(flat(0))
    sink.send(flat(1, width=32))
    sink.close()
    assert sink.stats.failed == "frame size changed from 64x48 to 32x48"


# Preview over HTTP


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


@pytest.fixture
def preview():
    sink = open_sink("preview:0")
    yield sink
    sink.close()


def test_preview_serves_the_latest_frame_as_jpeg(preview):
    assert get(preview.url + "frame.jpg")[0] == 503

    preview.send(flat(3))
    assert wait_for(lambda: preview.stats.written == 1)
    status, content_type, body = get(preview.url + "frame.jpg")

    assert (status, content_type) == (200, "image/jpeg")
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (H, W, 3)
    assert np.abs(cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(int) - flat(3)).mean() < 12


def test_preview_page_shows_the_stream(preview):
    status, content_type, body = get(preview.url)
    assert status == 200 and content_type.startswith("text/html")
    assert b'src="/stream"' in body


def read_part(response: http.client.HTTPResponse) -> np.ndarray:
    """One multipart part: the boundary line, headers, a blank line, then Content-Length bytes of JPEG."""
    line = response.readline()
    while line == b"\r\n":  # the CRLF that ends the previous part
        line = response.readline()
    assert line == b"--frame\r\n"
    headers = {}
    while (line := response.readline()) != b"\r\n":
        key, value = line.decode().split(":", 1)
        headers[key.strip().lower()] = value.strip()
    assert headers["content-type"] == "image/jpeg"
    jpeg = response.read(int(headers["content-length"]))
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def test_preview_stream_pushes_each_new_frame_and_close_ends_it(preview):
    preview.send(flat(0))
    connection = http.client.HTTPConnection("127.0.0.1", preview.port, timeout=30)
    connection.request("GET", "/stream")
    response = connection.getresponse()
    assert response.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=frame"

    first = read_part(response)
    preview.send(flat(10))
    second = read_part(response)
    assert first.shape == second.shape == (H, W, 3)
    assert not np.array_equal(first, second)

    assert finishes(preview.close)  # with the client still connected: not waiting for it to leave
    assert response.read().strip() == b""  # the server hung up rather than leaving the viewer waiting
    connection.close()


@pytest.fixture
def taken_default_port(monkeypatch):
    """The preview's default port, made busy by another listener (as a second engine would)."""
    from vjengine.outputs import preview as preview_module

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setattr(preview_module, "DEFAULT_PORT", busy.getsockname()[1])
        yield busy.getsockname()[1]


def test_plain_preview_moves_to_the_next_free_port_when_the_default_is_taken(taken_default_port, caplog):
    with caplog.at_level(logging.INFO):
        sink = open_sink("preview")
    try:
        assert taken_default_port < sink.port < taken_default_port + 10
        assert f"({taken_default_port} was in use)" in caplog.text
    finally:
        sink.close()


def test_plain_preview_says_so_when_every_port_it_tries_is_taken(taken_default_port, monkeypatch):
    from vjengine.outputs import preview as preview_module

    monkeypatch.setattr(preview_module, "DEFAULT_TRIES", 1)
    with pytest.raises(VJError, match=f"ports {taken_default_port}-{taken_default_port} are all in use"):
        open_sink("preview")


def test_preview_port_in_use_is_a_one_line_error_and_close_frees_it(preview):
    with pytest.raises(VJError, match=f"port {preview.port} is in use; pass preview:PORT with another port"):
        open_sink(f"preview:{preview.port}")

    get(preview.url)  # a served connection must not keep the port busy either
    preview.close()
    again = open_sink(f"preview:{preview.port}")
    assert again.port == preview.port
    again.close()


def video_timing(path) -> tuple[list[float], float]:
    """The decoded frames' times in seconds, and how long the container says the video plays."""
    with av.open(str(path)) as container:
        times = [float(frame.time) for frame in container.decode(video=0)]
        return times, container.duration / av.time_base


@pytest.mark.parametrize("extension", [".mp4", ".mov", ".mkv"])
def test_a_video_plays_its_frames_at_the_times_they_were_sent(tmp_path, extension):
    path = tmp_path / f"take{extension}"
    sent_at = [1000.0 + 0.1 * i + 0.03 * (i % 3) for i in range(20)]  # a loop at ~10 fps, unevenly
    with open_sink(f"file:{path}", fps=30) as sink:  # 30 fps asked for
        for i, at in enumerate(sent_at):
            sink.send(flat(i), at=at)
    times, duration = video_timing(path)
    assert times == pytest.approx([at - sent_at[0] for at in sent_at], abs=1e-3)
    take = (sent_at[-1] - sent_at[0]) * len(sent_at) / (len(sent_at) - 1)  # the last frame shows a mean interval
    assert duration == pytest.approx(take, abs=2e-3)


def test_a_video_of_frames_sent_without_times_runs_at_the_nominal_rate(tmp_path):
    path = tmp_path / "frames.mp4"
    with open_sink(f"file:{path}", fps=25) as sink:
        for i in range(10):
            sink.send(flat(i))
    times, duration = video_timing(path)
    assert times == pytest.approx([i / 25 for i in range(10)], abs=1e-3)
    assert duration == pytest.approx(10 / 25, abs=2e-3)
