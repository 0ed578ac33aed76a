"""NDI end to end over localhost: the engine's NDI output sends, receivers connect to 127.0.0.1 by URL.

No discovery: the test learns the sender's TCP port from this process's own listening sockets, so it works
without mDNS and cannot pick up another process's sender.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import wait_for
from vjengine.errors import VJError
from vjengine.outputs import open_sink
from vjengine.sources import open_source

WHEELS = sys.version_info >= (3, 11) and (sys.platform != "darwin" or "arm" in __import__("platform").machine())
if not WHEELS:
    pytest.skip("ndi-python has wheels only for Python 3.11+ (and Apple-silicon Macs)", allow_module_level=True)
ndi = pytest.importorskip("NDIlib", reason="ndi-python is a dependency where it has wheels: pip install -e .")

NDI_QUERY_PORT = 5960  # every NDI process answers source queries here; senders listen on ports above it
DEADLINE_S = 60.0  # generous: it only runs out when a test fails
W, H = 64, 48


def picture() -> np.ndarray:
    """Four flat quadrants and a horizontal ramp: survives NDI's compression and shows any flip or channel swap."""
    image = np.zeros((H, W, 3), np.uint8)
    image[: H // 2, : W // 2] = (230, 40, 40)
    image[: H // 2, W // 2 :] = (40, 230, 40)
    image[H // 2 :, : W // 2] = (40, 40, 230)
    image[H // 2 :, W // 2 :, :] = np.linspace(0, 255, W - W // 2, dtype=np.uint8)[None, :, None]
    return image


def own_listening_ports() -> set[int]:
    """TCP ports this process listens on, from /proc (sockets whose inode one of our file descriptors holds)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def sender_address(sink, before: set[int]) -> str:
    """127.0.0.1:PORT of the NDI sender `sink` opened, once it listens (it opens with its first frame)."""
    found: list[str] = []

    def listening() -> bool:
        sink.send(picture())
        if sys.platform.startswith("linux"):
            new = own_listening_ports() - before - {NDI_QUERY_PORT}
            if len(new) == 1:
                found.append(f"127.0.0.1:{new.pop()}")
        elif sink.full_name:
            found.append(_query_address(sink.full_name))
        return bool(found)

    if not wait_for(listening, DEADLINE_S, interval=0.02):
        pytest.fail("the NDI sender never started listening")
    return found[0]


def _query_address(full_name: str) -> str:
    """Elsewhere: ask this machine's NDI query port directly (a unicast question, not mDNS) for the sender's URL."""
    settings = ndi.FindCreate()
    settings.extra_ips = "127.0.0.1"
    finder = ndi.find_create_v2(settings)
    found: list[str] = []

    def announced() -> bool:
        ndi.find_wait_for_sources(finder, 200)
        found.extend(
            source.url_address.replace("localhost", "127.0.0.1")
            for source in ndi.find_get_current_sources(finder)
            if source.ndi_name == full_name and source.url_address
        )
        return bool(found)

    try:
        if not wait_for(announced, DEADLINE_S, interval=0):
            pytest.fail(f"no NDI source {full_name!r} on 127.0.0.1")
        return found[0]
    finally:
        ndi.find_destroy(finder)


def receive(address: str, sink, frame: np.ndarray):
    """Connect a plain NDIlib receiver to `address` by URL; send `frame` until a video frame arrives."""
    source = ndi.Source()
    source.url_address = address
    settings = ndi.RecvCreateV3()
    settings.source_to_connect_to = source
    settings.color_format = ndi.RECV_COLOR_FORMAT_RGBX_RGBA
    receiver = ndi.recv_create_v3(settings)
    got: list = []

    def arrived() -> bool:
        sink.send(frame)
        kind, video, _, _ = ndi.recv_capture_v2(receiver, 50, True, False, False)
        if kind == ndi.FRAME_TYPE_VIDEO:
            try:
                rgb = np.array(video.data[:, :, :3])
                got.append((rgb, (video.xres, video.yres), (video.frame_rate_N, video.frame_rate_D), video.FourCC))
            finally:
                ndi.recv_free_video_v2(receiver, video)
        return bool(got)

    try:
        if not wait_for(arrived, DEADLINE_S, interval=0):
            pytest.fail(f"no NDI frame from {address} within {DEADLINE_S:g} s")
        return got[0]
    finally:
        ndi.recv_destroy(receiver)


@pytest.fixture
def ports_before():
    return own_listening_ports() if sys.platform.startswith("linux") else set()


def test_receiver_gets_the_frames_by_url_at_the_engines_rate(ports_before):
    with open_sink("ndi:vjengine-test-plain", fps=25) as sink:
        address = sender_address(sink, ports_before)
        sent = picture()
        got, size, rate, fourcc = receive(address, sink, sent)

    assert size == (W, H)
    assert rate[0] / rate[1] == 25
    assert fourcc in (ndi.FOURCC_VIDEO_TYPE_RGBX, ndi.FOURCC_VIDEO_TYPE_RGBA)
    assert np.abs(got.astype(int) - sent).mean() < 6  # SpeedHQ is lossy, but close


def test_sender_size_is_independent_of_the_model(ports_before):
    with open_sink("ndi:vjengine-test-sized?size=128x48&fit=letterbox", fps=30) as sink:
        address = sender_address(sink, ports_before)
        got, size, _, _ = receive(address, sink, picture())

    assert size == (128, 48)
    assert got[:, :28].max() < 24 and got[:, -28:].max() < 24  # black bars beside the 64x48 picture
    assert np.abs(got[:, 32:96].astype(int) - picture()).mean() < 8


def test_flip_option_sends_the_picture_upside_down(ports_before):
    with open_sink("ndi:vjengine-test-flip?flip=1", fps=30) as sink:
        address = sender_address(sink, ports_before)
        got, _, _, _ = receive(address, sink, picture())

    assert np.abs(got.astype(int) - picture()[::-1]).mean() < 6


def test_ndi_source_receives_the_ndi_output_by_address(ports_before):
    with open_sink("ndi:vjengine-test-loop", fps=30) as sink:
        address = sender_address(sink, ports_before)
        with open_source(f"ndi:{address}") as source:
            wait_for(lambda: sink.send(picture()) or source.latest() is not None, DEADLINE_S, interval=0.02)
            frame = source.latest()

    assert frame is not None, "the NDI source got no frame"
    assert frame.image.shape == (H, W, 3) and frame.image.flags.c_contiguous
    assert np.abs(frame.image.astype(int) - picture()).mean() < 6


def test_ndi_source_by_name_closes_promptly_while_still_searching():
    source = open_source("ndi:no such source here").start()
    time.sleep(0.2)  # let the search get under way: close must stop one in progress
    source.close()  # waits a bounded time for the thread; a search that ignored the stop would outlive it
    assert not source.is_running
    assert source.latest() is None


@pytest.mark.parametrize("spec", ["ndi:", "ndi:127.0.0.1:70000"])
def test_bad_ndi_source_is_a_one_line_error(spec):
    with pytest.raises(VJError) as error:
        open_source(spec)
    message = str(error.value)
    assert "\n" not in message and "ndi" in message.lower()
