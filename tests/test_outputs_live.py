"""Live outputs to other programs: Syphon, Spout, virtual camera; their back-off when they fail mid-show, and
that no failing, blocking or dead output harms the loop or the others. (NDI runs for real in test_ndi.py.)

Syphon and Spout exist only on macOS and Windows. Their real tests run there and skip elsewhere; here, stand-ins
for the two libraries (marked MOCK below) take the sinks' calls and check them the way the libraries' own code
does (syphon-python 0.2.0's numpy/raw helpers, SpoutGL 0.1.1's pybind sendImage), so the pixel layout, stride,
flip and argument order are tested against what each library expects.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import types

import cv2
import numpy as np
import pytest

from tests.conftest import FIXTURES, finishes, wait_for
from vjengine.errors import VJError
from vjengine.outputs import SINK_KINDS, OutputUnavailable, Sink, backend_status, open_sink, open_sinks
from vjengine.outputs.mainloop import call_on_main, service_main_thread
from vjengine.outputs.spout import SpoutSink
from vjengine.outputs.syphon import SyphonSink
from vjengine.outputs.virtualcam import VirtualCameraSink, loopback_devices

W, H = 64, 48
LIVE_KINDS = ("syphon", "spout", "virtualcam", "ndi")


def marked(width: int = W, height: int = H) -> np.ndarray:
    """Distinct colours left and right, and a white top row to show which way up a frame is."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (200, 30, 60)
    image[:, width // 2 :] = (20, 90, 220)
    image[0] = 255
    return image


def log_lines(caplog, level: int) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == level]


# The kinds


def test_every_output_kind_is_described():
    assert set(SINK_KINDS) == {"file", "preview", "none", *LIVE_KINDS}
    assert all(description.startswith(kind) for kind, description in SINK_KINDS.items())
    assert all("size=WxH" in SINK_KINDS[kind] for kind in LIVE_KINDS)


def test_backend_status_says_why_in_one_line():
    status = backend_status()
    assert set(status) == set(SINK_KINDS)
    assert all(text == "available" or "\n" not in text for text in status.values())
    if sys.platform != "darwin":
        assert status["syphon"].startswith("macOS only")
    if sys.platform != "win32":
        assert status["spout"].startswith("Windows only")


@pytest.mark.parametrize(
    ("kind", "reason", "home"), [("syphon", "macOS only", "darwin"), ("spout", "Windows only", "win32")]
)
def test_an_output_for_another_platform_is_a_one_line_error(kind, reason, home):
    if sys.platform == home:
        pytest.skip(f"{kind} is at home on this platform")
    with pytest.raises(OutputUnavailable, match=f"output '{kind}' cannot run here: {reason}") as error:
        open_sink(f"{kind}:Stage")
    assert "\n" not in str(error.value)


def test_empty_publish_name_is_a_one_line_error():
    with pytest.raises(VJError, match="empty spout name: write spout:NAME"):
        SpoutSink.from_spec(" ", "spout: ", 30)


# Syphon


class MockMetalTexture:
    """MOCK of an MTLTexture in MTLPixelFormatRGBA8Unorm (Metal exists only on macOS): its size and bytes."""

    def __init__(self, width: int, height: int) -> None:
        self._width, self._height = width, height
        self.data = b""

    def width(self) -> int:
        return self._width

    def height(self) -> int:
        return self._height


class MockSyphonServer:
    """MOCK of syphon.SyphonMetalServer: records what is published and on which thread it was made."""

    def __init__(self, name: str, device=None, command_queue=None, *, is_private: bool = False) -> None:
        self.name = name
        self.device = object()
        self.thread = threading.current_thread()
        self.published: list[tuple[bytes, tuple[int, int], bool]] = []
        self.stopped = False

    def publish_frame_texture(
        self, texture, region=None, size=None, is_flipped=False, command_buffer=None, auto_commit=True
    ):
        self.published.append((texture.data, (texture.width(), texture.height()), is_flipped))

    def stop(self) -> None:
        self.stopped = True


class MockServerDirectory:
    """MOCK of syphon.SyphonServerDirectory: counts run-loop pumps."""

    pumps = 0

    def __init__(self) -> None:
        self.run_loop_interval = 1.0

    def update_run_loop(self) -> None:
        MockServerDirectory.pumps += 1


def mock_copy_image_to_mtl_texture(image: np.ndarray, texture: MockMetalTexture) -> None:
    """What syphon.utils.numpy.copy_image_to_mtl_texture checks and does: an (m, n, 4) image whose bytes fill
    the texture's rows at width x 4 bytes each."""
    assert len(image.shape) == 3 and image.shape[2] == 4, "Image has to be of shape (m, n, 4)"
    data = image.tobytes()
    assert len(data) == texture.width() * 4 * texture.height(), "bytes do not match the texture"
    texture.data = data


@pytest.fixture
def mock_syphon(monkeypatch):
    servers: list[MockSyphonServer] = []

    def make_server(name, *args, **kwargs):
        servers.append(MockSyphonServer(name, *args, **kwargs))
        return servers[-1]

    modules = {
        "syphon": types.SimpleNamespace(SyphonMetalServer=make_server, SyphonServerDirectory=MockServerDirectory),
        "syphon.utils": types.SimpleNamespace(),
        "syphon.utils.raw": types.SimpleNamespace(create_mtl_texture=lambda device, w, h: MockMetalTexture(w, h)),
        "syphon.utils.numpy": types.SimpleNamespace(copy_image_to_mtl_texture=mock_copy_image_to_mtl_texture),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return servers


@pytest.mark.parametrize("flip", [False, True])
def test_syphon_publishes_rgba_rows_top_first_and_leaves_the_flip_to_syphon(mock_syphon, flip):
    sink = SyphonSink("syphon:Stage", "Stage")
    if flip:
        sink.set_shaping(sink.shaping.__class__(flip=True))
    frame = marked()
    sink.send(frame)
    assert wait_for(lambda: sink.stats.written == 1)
    sink.close()

    (server,) = mock_syphon
    assert server.name == "Stage" and server.stopped
    (data, size, is_flipped), *_ = server.published
    assert size == (W, H) and is_flipped is flip
    rgba = np.frombuffer(data, np.uint8).reshape(H, W, 4)
    np.testing.assert_array_equal(rgba[..., :3], frame)  # not flipped here: publish_frame_texture does that
    assert (rgba[..., 3] == 255).all()


def test_syphon_server_is_made_on_the_main_thread_and_its_run_loop_pumped_there(mock_syphon):
    sink = SyphonSink("syphon:Stage", "Stage")
    pumps_before = MockServerDirectory.pumps
    service_main_thread()  # the supervisor's loop, as `vjengine run` does it
    sink.send(marked())

    def pumped() -> bool:
        service_main_thread()
        return sink.stats.written >= 1 and MockServerDirectory.pumps > pumps_before

    wait_for(pumped, 5)
    sink.close()  # from the main thread, which stops servicing meanwhile: stopping must not wait for it

    assert mock_syphon[0].thread is threading.main_thread()
    assert MockServerDirectory.pumps > pumps_before
    pumps_after_close = MockServerDirectory.pumps
    service_main_thread()
    assert MockServerDirectory.pumps == pumps_after_close  # the pump went with the server


@pytest.mark.skipif(sys.platform != "darwin", reason="Syphon exists only on macOS")
def test_syphon_client_receives_the_frames():
    syphon = pytest.importorskip("syphon", reason="syphon-python is a dependency on macOS: pip install -e .")
    from syphon.utils.numpy import copy_mtl_texture_to_image

    frame = marked()
    with open_sink("syphon:vjengine-test") as sink:
        directory = syphon.SyphonServerDirectory()
        directory.run_loop_interval = 0.01
        deadline = time.monotonic() + 10
        servers = []
        while not servers and time.monotonic() < deadline:
            sink.send(frame)
            service_main_thread()
            servers = directory.servers_matching_name(name="vjengine-test")
        assert servers, "the Syphon server was not announced"
        with syphon.SyphonMetalClient(servers[0]) as client:
            while not client.has_new_frame and time.monotonic() < deadline:
                sink.send(frame)
                service_main_thread()
                directory.update_run_loop()
            image = copy_mtl_texture_to_image(client.new_frame_image)
    right = image[H // 2, W - 1]  # (20, 90, 220) in RGB: blue first means the client's texture is BGRA
    rgb = image[..., [2, 1, 0]] if right[0] > right[2] else image[..., :3]
    np.testing.assert_array_equal(rgb, frame)  # the white row on top: clients see it the right way up


# Spout

GL_RGBA, GL_BGRA_EXT = 0x1908, 0x80E1  # the OpenGL values SpoutGL.enums re-exports


class MockSpoutSender:
    """MOCK of SpoutGL.SpoutSender (Spout exists only on Windows). `sendImage` checks its buffer the way
    SpoutGL's pybind wrapper does: C-contiguous and at least width x height x bytes-per-pixel bytes."""

    instances: list[MockSpoutSender] = []

    def __init__(self) -> None:
        self.name = ""
        self.gl_thread: threading.Thread | None = None
        self.images: list[tuple[bytes, int, int, int, bool, int, threading.Thread]] = []
        self.frame_syncs: list[str] = []
        self.released = self.gl_closed = False
        MockSpoutSender.instances.append(self)

    def createOpenGL(self) -> bool:  # noqa: N802 - SpoutGL's names
        self.gl_thread = threading.current_thread()
        return True

    def setSenderName(self, name: str) -> None:  # noqa: N802
        self.name = name

    def sendImage(self, buffer, width: int, height: int, gl_format: int, invert: bool, host_fbo: int) -> bool:  # noqa: N802
        view = memoryview(buffer)
        if not view.c_contiguous:
            raise BufferError("Buffer must be contiguous")
        if view.nbytes < width * height * {GL_RGBA: 4, GL_BGRA_EXT: 4}[gl_format]:
            raise BufferError("Buffer not large enough")
        self.images.append((view.tobytes(), width, height, gl_format, invert, host_fbo, threading.current_thread()))
        return True

    def setFrameSync(self, name: str) -> None:  # noqa: N802
        self.frame_syncs.append(name)

    def releaseSender(self) -> None:  # noqa: N802
        self.released = True

    def closeOpenGL(self) -> bool:  # noqa: N802
        self.gl_closed = True
        return True


@pytest.fixture
def mock_spout(monkeypatch):
    MockSpoutSender.instances = []
    monkeypatch.setitem(sys.modules, "SpoutGL", types.SimpleNamespace(SpoutSender=MockSpoutSender))
    return MockSpoutSender.instances


@pytest.mark.parametrize("flip", [False, True])
def test_spout_sends_bgra_width_first_from_the_thread_that_owns_the_gl_context(mock_spout, flip):
    sink = SpoutSink("spout:TD", "TD")
    if flip:
        sink.set_shaping(sink.shaping.__class__(flip=True))
    frame = marked(W, H)
    sink.send(frame)
    assert wait_for(lambda: sink.stats.written == 1)
    sink.close()

    (sender,) = mock_spout
    (data, width, height, gl_format, invert, host_fbo, thread), *_ = sender.images
    assert (width, height, gl_format, invert, host_fbo) == (W, H, GL_BGRA_EXT, flip, 0)
    assert thread is sender.gl_thread  # an OpenGL context belongs to one thread
    bgra = np.frombuffer(data, np.uint8).reshape(H, W, 4)
    np.testing.assert_array_equal(bgra[..., 2::-1], frame)  # rows top first; Spout's invert flag does the flip
    assert (bgra[..., 3] == 255).all()
    assert sender.name == "TD" and sender.frame_syncs == ["TD"]
    assert sender.released and sender.gl_closed


@pytest.mark.skipif(sys.platform != "win32", reason="Spout exists only on Windows")
def test_spout_receiver_gets_the_frames():
    spout = pytest.importorskip("SpoutGL", reason="SpoutGL is a dependency on Windows: pip install -e .")
    frame = marked()
    with open_sink("spout:vjengine-test") as sink, spout.SpoutReceiver() as receiver:
        receiver.createOpenGL()
        receiver.setReceiverName("vjengine-test")
        buffer = np.zeros((H, W, 4), np.uint8)
        deadline = time.monotonic() + 10
        got = None
        while got is None and time.monotonic() < deadline:
            sink.send(frame)
            if receiver.receiveImage(buffer, GL_RGBA, False, 0) and receiver.isUpdated():
                buffer = np.zeros((receiver.getSenderHeight(), receiver.getSenderWidth(), 4), np.uint8)
            elif buffer.any():
                got = buffer.copy()
            time.sleep(0.02)
    assert got is not None, "no Spout frame arrived"
    np.testing.assert_array_equal(got[..., :3], frame)


# Virtual camera

needs_no_loopback = pytest.mark.skipif(
    not sys.platform.startswith("linux") or bool(loopback_devices()), reason="tests the Linux machine without one"
)


@needs_no_loopback
def test_virtualcam_without_a_loopback_device_says_what_to_install():
    why = VirtualCameraSink.availability()
    assert why.startswith("no v4l2loopback device") and "modprobe v4l2loopback" in why and "\n" not in why
    with pytest.raises(OutputUnavailable, match="output 'virtualcam' cannot run here: no v4l2loopback") as error:
        open_sink("virtualcam")
    assert "\n" not in str(error.value)


@needs_no_loopback
def test_engine_goes_on_without_the_virtual_camera(tmp_path, caplog):
    from vjengine.engine import assemble_engine
    from vjengine.engine.rig import Rig
    from vjengine.models import load_generator
    from vjengine.params import default_store
    from vjengine.sources import open_source

    video = tmp_path / "out.mp4"
    sinks = open_sinks(["virtualcam", f"file:{video}"], fps=30)
    assert [sink.kind for sink in sinks] == ["file"]
    (warning,) = log_lines(caplog, logging.WARNING)
    assert "virtualcam" in warning and "modprobe v4l2loopback" in warning and warning.endswith("going on without it")

    store = default_store()
    store.set("render.fps", 0, immediate=True)
    with open_source("pattern", 64, 48, 60).start() as source:
        source.wait_first(2.0)
        stats = assemble_engine(Rig.build(load_generator(FIXTURES / "sg2_64.pkl")), store, source, sinks).run(4)
    for sink in sinks:
        sink.close()
    assert stats.frames == 4 and sinks[0].stats.written == 4


@needs_no_loopback
def test_virtual_camera_that_will_not_open_keeps_retrying_with_the_install_hint(caplog):
    """pyvirtualcam itself (not mocked) finds no device; the sink says what to install and waits to retry."""
    pytest.importorskip("pyvirtualcam")
    sink = VirtualCameraSink("virtualcam", fps=30)
    sink.retry_first_s = sink.retry_max_s = 3600.0  # an hour's back-off: closing must cut it short
    sink.send(marked())
    assert wait_for(lambda: sink.stats.retrying is not None)
    sink.send(marked())
    assert finishes(sink.close)  # the back-off ended at close, not an hour later

    assert "modprobe v4l2loopback" in sink.stats.retrying
    (error,) = log_lines(caplog, logging.ERROR)
    assert error.startswith("virtualcam failed: no virtual camera (") and "retrying" in error


@pytest.mark.skipif(not loopback_devices(), reason="no v4l2loopback device here (sudo modprobe v4l2loopback)")
def test_virtual_camera_frames_arrive():
    device = loopback_devices()[0]
    frame = marked(64, 48)
    with open_sink(f"virtualcam:{device}", fps=30) as sink:
        sink.send(frame)
        assert wait_for(lambda: sink.stats.written >= 1)
        capture = cv2.VideoCapture(device, cv2.CAP_V4L2)
        try:
            got = None
            deadline = time.monotonic() + 10
            while got is None and time.monotonic() < deadline:
                sink.send(frame)
                ok, image = capture.read()
                got = cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if ok else None
        finally:
            capture.release()
    assert got is not None and got.shape == frame.shape
    assert np.abs(got[8:].astype(int) - frame[8:]).mean() < 12  # through YUV, so close rather than exact


# Back-off after a failure mid-show


class Flaky(Sink):
    """A live output to another program whose opening or writing fails while `down` is set."""

    live = True
    retry_on_failure = True
    retry_first_s = 0.05
    retry_max_s = 0.2

    def __init__(self, name: str = "flaky", *, down: bool = False, fail_after: int | None = None) -> None:
        self.down = down
        self.fail_after = fail_after
        self.opens = 0
        self.closes = 0
        self.writes = 0
        self.delays: list[float] = []  # the back-off before each new attempt, in order
        super().__init__(name)

    def _open(self, first_frame: np.ndarray) -> None:
        self.opens += 1
        if self.down:
            raise ConnectionError("the receiver went away")

    def _write(self, frame: np.ndarray) -> None:
        if self.fail_after is not None and self.writes >= self.fail_after:
            self.down = True
        if self.down:
            raise ConnectionError("the receiver went away")
        self.writes += 1

    def _close(self) -> None:
        self.closes += 1

    def _wait_before_retry(self, delay: float) -> None:
        self.delays.append(delay)
        super()._wait_before_retry(delay)


def send_until(sink: Sink, condition, timeout: float = 30.0) -> None:
    """Keep sending frames, as the render loop does, until `condition()` holds."""
    assert wait_for(lambda: sink.send(marked()) or condition(), timeout)


def test_a_failing_output_waits_1_2_4_times_the_first_delay_capped_before_reopening():
    sink = Flaky(down=True)
    send_until(sink, lambda: len(sink.delays) >= 6)
    sink.close()

    assert sink.delays[:6] == [0.05, 0.1, 0.2, 0.2, 0.2, 0.2]
    assert sink.closes == sink.opens + 1  # after every failed attempt, and once at the end
    assert sink.stats.failed is None


def test_a_failing_output_does_not_reopen_before_its_delay():
    sink = Flaky(down=True)
    sink.retry_first_s = sink.retry_max_s = 3600.0
    sink.send(marked())
    assert wait_for(lambda: sink.stats.retrying is not None)
    # Frames keep coming; none may reopen the output within the hour. A window of a second can only miss a
    # broken back-off on a very busy machine, never fail a working one.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and sink.opens == 1:
        sink.send(marked())
        time.sleep(0.01)
    sink.close()
    assert sink.opens == 1 and sink.delays == [3600.0]


def test_a_recovered_output_logs_one_line_down_and_one_line_back(caplog):
    caplog.set_level(logging.INFO)
    sink = Flaky(down=True)
    send_until(sink, lambda: sink.opens >= 3)
    sink.down = False
    send_until(sink, lambda: sink.writes > 1 and sink.stats.retrying is None)
    sink.close()

    assert log_lines(caplog, logging.ERROR) == [
        "flaky failed: the receiver went away; retrying with back-off while the other outputs go on"
    ]
    (back,) = log_lines(caplog, logging.WARNING)
    assert back.startswith("flaky is back after ") and back.endswith(" failed attempts")
    stats = sink.stats
    assert stats.failed is None and stats.retrying is None
    assert stats.sent == stats.written + stats.dropped


def test_closing_during_a_long_back_off_is_prompt():
    sink = Flaky(down=True)
    sink.retry_first_s = sink.retry_max_s = 3600.0
    sink.send(marked())
    assert wait_for(lambda: sink.stats.retrying == "the receiver went away")
    assert finishes(sink.close)  # within a minute, not after the hour


def test_a_wrong_frame_size_is_not_retried():
    sink = Flaky()
    sink.send(marked())
    assert wait_for(lambda: sink.stats.written == 1)
    sink.send(marked(width=32))
    assert wait_for(lambda: sink.stats.failed is not None)
    sink.close()
    assert sink.stats.failed == "frame size changed from 64x48 to 32x48"
    assert sink.opens == 1


# Failure isolation: the loop's hand-over and the other outputs


class Counting(Sink):
    """A healthy live output."""

    live = True

    def __init__(self) -> None:
        self.writes = 0
        super().__init__("healthy")

    def _write(self, frame: np.ndarray) -> None:
        self.writes += 1


class RaisesEveryFrame(Flaky):
    def __init__(self) -> None:
        super().__init__("raises", fail_after=0)


class BlocksUntilReleased(Sink):
    """A live output whose first write hangs until the test releases it, like a receiver on a stalled network."""

    live = True

    def __init__(self) -> None:
        self.release = threading.Event()
        super().__init__("blocks")

    def _write(self, frame: np.ndarray) -> None:
        self.release.wait()


class DiesMidRun(Flaky):
    """Works for 20 frames, then its device is gone for good."""

    def __init__(self) -> None:
        super().__init__("dies", fail_after=20)


def test_failing_blocking_and_dying_outputs_never_hold_up_the_loop_or_the_healthy_one():
    healthy, raising, blocking, dying = Counting(), RaisesEveryFrame(), BlocksUntilReleased(), DiesMidRun()
    sinks = [raising, blocking, dying, healthy]
    sent = 0

    def show(until) -> None:
        """The render loop's hand-over, one frame at a time, each shown by the healthy output before the next."""
        nonlocal sent
        while not until():
            frame = marked()
            for sink in sinks:
                sink.send(frame)
            sent += 1
            assert wait_for(lambda: healthy.stats.written == sent)  # noqa: B023 - read now, while it waits

    # `blocking` hangs in its first write until released: had any send waited for it, the loop would not finish.
    assert finishes(lambda: show(lambda: sent >= 150 and raising.opens >= 3 and dying.opens >= 2))
    blocking.release.set()
    for sink in sinks:
        sink.close()

    assert healthy.stats.written == sent and healthy.stats.failed is None  # every frame, none skipped
    assert raising.stats.written == 0 and raising.stats.failed is None  # still retrying, with back-off
    assert dying.writes == 20 and dying.stats.failed is None
    assert blocking.stats.written <= 2 and blocking.stats.sent == sent  # the stuck frame, and one after release


# The main thread's run loop


def test_call_on_main_runs_on_the_main_thread_while_it_is_serviced():
    service_main_thread()
    result: list[threading.Thread] = []
    worker = threading.Thread(target=lambda: result.append(call_on_main(threading.current_thread)))
    worker.start()

    def answered() -> bool:
        service_main_thread()
        return not worker.is_alive()

    wait_for(answered, 5)
    worker.join()
    assert result == [threading.main_thread()]


def test_call_on_main_runs_right_away_when_nobody_services_the_main_thread(monkeypatch):
    monkeypatch.setattr("vjengine.outputs.mainloop._last_service", float("-inf"))
    result: list[threading.Thread] = []
    worker = threading.Thread(target=lambda: result.append(call_on_main(threading.current_thread)))
    worker.start()
    worker.join(5)
    assert result == [worker]
