"""The landmark analyser: model bundles (a real download from 127.0.0.1), the real hand model on frames
without hands, live switching, pose geometry and the overlay."""

from __future__ import annotations

import gzip
import hashlib
import logging
import time
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import FIXTURES, serving, wait_for
from vjengine.analysis import bundles, hands, pose
from vjengine.analysis.bundles import BundleUnavailable, resolve_bundle
from vjengine.analysis.landmarks import Detection, LandmarkAnalyser, LandmarkDetector, LandmarkView
from vjengine.analysis.overlay import ACTIVE, draw_overlay
from vjengine.errors import VJError
from vjengine.sources import Frame

HAND_BUNDLE = FIXTURES / "mediapipe" / "hand_landmarker.task"
FACE_BUNDLE = FIXTURES / "mediapipe" / "face_landmarker.task"
BUNDLE_PATH = "/hand_landmarker/hand_landmarker/float16/1/hand_landmarker.task"

# Damaged copies of the official face bundle found in public repositories (see tests/fixtures/README.md),
# rebuilt byte for byte from the official bundle and what was in front of it: name -> (front, cut, sha256).
BROKEN = {
    "truncated": (None, 3055616, "2e385f3618c8eaea007ba479653adfcf52aa5fafabce7322826eda3934968904"),
    "html-prefixed": ("html-prefix.gz", None, "81121f0527e9b71660e53bd7f4bd94b3795c5ed7de6f42ebd601fc3e95febe28"),
    "json-prefixed": ("json-prefix.gz", None, "a4099af5c7096fedb10381a4e09010cc3b32b02ba305f6d40e4876fb0ec9d765"),
}


def broken_bundle(name: str, folder: Path) -> Path:
    """The damaged face bundle `name` (a key of BROKEN), written into `folder`, checked against its sha256."""
    front, cut, sha256 = BROKEN[name]
    data = FACE_BUNDLE.read_bytes()[:cut]
    if front is not None:
        data = gzip.decompress((FIXTURES / "mediapipe" / "broken" / front).read_bytes()) + data
    assert hashlib.sha256(data).hexdigest() == sha256
    path = folder / f"face_landmarker.{name}.task"
    path.write_bytes(data)
    return path


class BundleServer(ThreadingHTTPServer):
    """Serves the fixture hand bundle at BUNDLE_PATH, as Google's model storage would; counts requests."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.payload = HAND_BUNDLE.read_bytes()
        self.requests = 0

    def url(self, path: str = BUNDLE_PATH) -> str:
        return f"http://127.0.0.1:{self.server_port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: BundleServer

    def do_GET(self) -> None:
        self.server.requests += 1
        if self.path != BUNDLE_PATH:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.server.payload)))
        self.end_headers()
        self.wfile.write(self.server.payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[BundleServer]:
    """Google's model storage on 127.0.0.1, with downloads allowed."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("VJENGINE_OFFLINE")
    httpd = BundleServer()
    monkeypatch.setitem(bundles.BUNDLE_URLS, "hands", httpd.url())
    with serving(httpd):
        yield httpd


def frame(image: np.ndarray, index: int = 0) -> Frame:
    return Frame(image, index, time.monotonic())


def portrait() -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(FIXTURES / "mediapipe" / "face_256.png")), cv2.COLOR_BGR2RGB)


def test_pattern() -> np.ndarray:
    """Colour bars and a gradient, 640x480: a picture with edges and colour but no hand."""
    image = np.zeros((480, 640, 3), np.uint8)
    for i, colour in enumerate([(255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0), (255, 0, 255)]):
        image[:320, i * 128 : (i + 1) * 128] = colour
    image[320:] = np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None]
    return image


test_pattern.__test__ = False  # a picture, not a test


# --- bundles ----------------------------------------------------------------------------------------------------


def test_official_bundles_are_versioned_urls_on_google_storage() -> None:
    for kind, url in bundles.BUNDLE_URLS.items():
        assert url.startswith("https://storage.googleapis.com/mediapipe-models/"), kind
        assert "/float16/1/" in url and url.endswith(".task")


@pytest.mark.parametrize("kind", ["hands", "face"])
def test_the_fixture_bundles_are_the_official_ones_the_defaults_pin(kind: str) -> None:
    fixture = {"hands": HAND_BUNDLE, "face": FACE_BUNDLE}[kind]
    assert hashlib.sha256(fixture.read_bytes()).hexdigest() == bundles.BUNDLE_SHA256[kind]
    assert bundles.BUNDLE_URLS[kind].endswith("/" + fixture.name)


def test_the_official_face_bundle_has_expressions_and_head_pose() -> None:
    contents = bundles.check_bundle("face", FACE_BUNDLE)
    assert contents.blendshapes and contents.geometry and contents.junk_in_front == 0


def test_none_switches_a_detector_off() -> None:
    assert resolve_bundle("pose", "none") is None


def test_a_path_is_used_as_it_is() -> None:
    assert resolve_bundle("hands", str(HAND_BUNDLE)) == HAND_BUNDLE


def test_a_missing_path_is_a_one_line_error() -> None:
    with pytest.raises(BundleUnavailable, match=r"\[landmarks\] face") as caught:
        resolve_bundle("face", "/nowhere/face_landmarker.task")
    assert "\n" not in str(caught.value)


def test_auto_offline_without_a_cached_bundle_says_what_to_do() -> None:
    with pytest.raises(BundleUnavailable, match="VJENGINE_OFFLINE") as caught:
        resolve_bundle("hands", "auto")
    assert bundles.BUNDLE_URLS["hands"] in str(caught.value)


def test_an_unknown_detector_is_refused() -> None:
    with pytest.raises(VJError, match="hands, face, pose"):
        resolve_bundle("feet", "auto")


def test_auto_downloads_once_and_records_the_hash(server: BundleServer) -> None:
    path = resolve_bundle("hands", "auto")
    assert path.read_bytes() == server.payload
    recorded = path.with_name(path.name + ".sha256").read_text().strip()
    assert recorded == hashlib.sha256(server.payload).hexdigest()
    assert resolve_bundle("hands", "auto") == path
    assert server.requests == 1


def test_a_downloaded_bundle_loads_in_mediapipe(server: BundleServer) -> None:
    detector = LandmarkDetector("hands", "auto")
    try:
        detector.analyse(frame(portrait()))
        assert detector.error is None
        assert detector.result is not None and detector.result.landmarks == ()
    finally:
        detector.close()


def test_a_cached_bundle_is_used_offline(server: BundleServer, monkeypatch: pytest.MonkeyPatch) -> None:
    path = resolve_bundle("hands", "auto")
    monkeypatch.setenv("VJENGINE_OFFLINE", "1")
    assert resolve_bundle("hands", "auto") == path
    assert server.requests == 1


def test_a_cached_official_bundle_that_changed_is_refused_and_deleted(server: BundleServer) -> None:
    path = resolve_bundle("hands", "auto")
    path.write_bytes(server.payload[:-10] + b"0123456789")
    with pytest.raises(BundleUnavailable, match="published sha256"):
        resolve_bundle("hands", "auto")
    assert not path.exists()  # the next run downloads it afresh


def test_a_download_that_is_not_the_official_bundle_is_refused(server: BundleServer) -> None:
    server.payload = server.payload[:-10] + b"0123456789"  # a server handing out something else under the name
    with pytest.raises(BundleUnavailable, match="does not match its published sha256"):
        resolve_bundle("hands", "auto")


def test_a_failed_download_points_at_the_landmarks_setting(server: BundleServer) -> None:
    with pytest.raises(BundleUnavailable, match=r"\[landmarks\] hands.*HTTP 404") as caught:
        resolve_bundle("hands", server.url("/hand_landmarker/missing.task"))
    assert "\n" not in str(caught.value)


# --- damaged bundles ---------------------------------------------------------------------------------------------


def test_a_cut_off_bundle_is_refused_in_one_line_naming_it(tmp_path: Path) -> None:
    path = broken_bundle("truncated", tmp_path)
    with pytest.raises(BundleUnavailable, match="not a complete MediaPipe bundle") as caught:
        bundles.check_bundle("face", path)
    assert str(path) in str(caught.value) and "download it again" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("name", "front"), [("html-prefixed", 174813), ("json-prefixed", 4659)])
def test_a_bundle_behind_a_web_page_or_json_is_found_whole(tmp_path: Path, name: str, front: int) -> None:
    contents = bundles.check_bundle("face", broken_bundle(name, tmp_path))
    assert contents.blendshapes and contents.geometry
    assert contents.junk_in_front == front


def test_a_bundle_behind_a_web_page_loads_finds_the_face_and_says_what_is_odd(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    detector = LandmarkDetector("face", str(broken_bundle("html-prefixed", tmp_path)))
    try:
        detector.analyse(frame(portrait()))
    finally:
        detector.close()
    assert detector.error is None
    assert len(detector.result.landmarks) == 1 and detector.result.blendshapes
    assert [r for r in caplog.records if "in front of it" in r.getMessage()]


def test_another_detectors_bundle_is_refused_naming_what_it_lacks() -> None:
    with pytest.raises(BundleUnavailable, match="not a face landmarker bundle.*face_detector.tflite"):
        bundles.check_bundle("face", HAND_BUNDLE)


def test_a_model_damaged_inside_the_bundle_is_refused(tmp_path: Path) -> None:
    data = bytearray(FACE_BUNDLE.read_bytes())
    with zipfile.ZipFile(FACE_BUNDLE) as bundle:
        inside = bundle.getinfo("face_landmarks_detector.tflite")
    data[inside.header_offset + 1000] ^= 0xFF  # within the model's bytes: its CRC no longer matches
    path = tmp_path / "face_landmarker.task"
    path.write_bytes(bytes(data))
    with pytest.raises(BundleUnavailable, match="face_landmarks_detector.tflite inside the bundle is damaged"):
        bundles.check_bundle("face", path)


def test_a_model_claiming_to_be_huge_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bundles, "MAX_MODEL_BYTES", 1 << 20)  # the limit scaled down, so the test stays small
    path = tmp_path / "face_landmarker.task"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("face_detector.tflite", bytes(3 << 20))  # a zip bomb, in small: 3 MB of zeros in a few KB
        bundle.writestr("face_landmarks_detector.tflite", b"")
    with pytest.raises(BundleUnavailable, match="face_detector.tflite inside the bundle claims 3 MB"):
        bundles.check_bundle("face", path)


def test_a_zip_of_something_else_under_the_models_names_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "face_landmarker.task"
    with zipfile.ZipFile(path, "w") as bundle:
        for name in bundles.REQUIRED["face"]:
            bundle.writestr(name, "<html>not found</html>")
    with pytest.raises(BundleUnavailable, match="face_detector.tflite inside the bundle is not a TFLite model"):
        bundles.check_bundle("face", path)


# --- detectors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("picture", ["portrait", "pattern", "noise"])
def test_the_hand_model_finds_no_hand_where_there_is_none(picture: str) -> None:
    images = {
        "portrait": portrait,
        "pattern": test_pattern,
        "noise": lambda: np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8),
    }
    detector = LandmarkDetector("hands", str(HAND_BUNDLE))
    try:
        image = images[picture]()
        for index in range(3):  # as a video: the first frame and two tracked ones
            detector.analyse(Frame(image, index, 100.0 + index / 30))
            assert detector.result.landmarks == ()
            assert detector.result.frame_index == index
    finally:
        detector.close()


def test_a_file_that_is_not_a_bundle_turns_the_detector_off(tmp_path: Path) -> None:
    fake = tmp_path / "hand_landmarker.task"
    fake.write_text("not a model")
    detector = LandmarkDetector("hands", str(fake))
    assert detector.analyse(frame(portrait())) == {}
    assert "not a complete MediaPipe bundle" in detector.error
    assert "\n" not in detector.error
    assert detector.result is None


# --- the analyser -----------------------------------------------------------------------------------------------


def feed(analyser: LandmarkAnalyser, image: np.ndarray, seconds: float, start: int = 0) -> tuple[dict, int]:
    """Feed `image` as a 50 fps camera would for `seconds`; the last signals and the next frame index."""
    index, signals = start, {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        signals = analyser.analyse(frame(image, index))
        index += 1
        time.sleep(0.02)
    return signals, index


def feed_until(analyser: LandmarkAnalyser, image: np.ndarray, kind: str, count: int = 1, start: int = 0):
    """Feed frames until `count` detections of `kind` were turned into signals (at most a generous 60 s)."""
    fed = {"index": start, "signals": {}}

    def detected() -> bool:
        if analyser.detections.get(kind, 0) >= count:
            return True
        fed["signals"] = analyser.analyse(frame(image, fed["index"]))
        fed["index"] += 1
        return False

    assert wait_for(detected, 60, interval=0.01), f"fewer than {count} {kind} detections in 60 s"
    return fed["signals"], fed["index"]


def test_no_hand_in_view_gives_rest_values() -> None:
    analyser = LandmarkAnalyser({"hands": str(HAND_BUNDLE)}, rate=0)
    try:
        signals, _ = feed_until(analyser, test_pattern(), "hands", count=3)
        assert {name: signals[name] for name in hands.REST} == hands.REST
        assert analyser.latest_landmarks().hands.landmarks == ()
        assert analyser.latest_landmarks().active_hand is None
    finally:
        analyser.close()


def test_every_signal_is_published_even_with_detectors_off() -> None:
    analyser = LandmarkAnalyser(hands=False)
    try:
        signals = analyser.analyse(frame(portrait()))
        assert signals.keys() >= hands.REST.keys() | pose.REST.keys()
        assert analyser.latest_landmarks() == LandmarkView()
        assert analyser.detections == {}
    finally:
        analyser.close()


def test_a_missing_bundle_turns_only_that_detector_off() -> None:
    analyser = LandmarkAnalyser({"hands": "auto", "face": str(FACE_BUNDLE)}, face=True, rate=0)
    try:
        feed_until(analyser, portrait(), "face")
        assert set(analyser.unavailable) == {"hands"}
        assert "VJENGINE_OFFLINE" in analyser.unavailable["hands"]
        assert analyser.analyse(frame(portrait(), 10_000))["hand.present"] == 0.0
    finally:
        analyser.close()


def test_detectors_switch_on_and_off_live() -> None:
    analyser = LandmarkAnalyser({"face": str(FACE_BUNDLE)}, hands=False, face=False, rate=0, grace=0.1, release=0.0)
    image = portrait()
    try:
        feed(analyser, image, 0.2)
        assert analyser.detections == {}
        analyser.configure({"landmarks.face": True})
        signals, index = feed_until(analyser, image, "face")
        assert analyser.latest_landmarks().face is not None
        analyser.configure({"landmarks.face": False})
        signals, _ = feed(analyser, image, 0.3, start=index)
        assert analyser.latest_landmarks().face is None
        assert signals["face.present"] == 0.0
    finally:
        analyser.close()


def test_the_rate_limits_detections() -> None:
    analyser = LandmarkAnalyser({"hands": str(HAND_BUNDLE)}, rate=0)
    try:
        feed_until(analyser, test_pattern(), "hands")  # loaded
        analyser.configure({"landmarks.rate": 4.0})
        before = analyser.detections["hands"]
        started = time.monotonic()
        _, index = feed(analyser, test_pattern(), 1.0, start=1000)  # 50 frames a second, for at least a second
        feed_until(analyser, test_pattern(), "hands", count=before + 1, start=index)
        elapsed = time.monotonic() - started
        # At most 4 a second over the time it really took (a busy machine only stretches it), plus the one
        # under way when the rate changed; unlimited, the detector would take most of the 50 frames a second.
        assert analyser.detections["hands"] - before <= 4 * elapsed + 2
    finally:
        analyser.close()


def test_configure_passes_the_hand_settings_on() -> None:
    analyser = LandmarkAnalyser(hands=False)
    analyser.configure({"landmarks.hand_choice": "left", "landmarks.grace": 1.5, "landmarks.release": 0.7})
    assert (analyser.active_hand.choice, analyser.active_hand.grace, analyser.active_hand.release) == ("left", 1.5, 0.7)
    analyser.close()


def test_a_bad_hand_choice_is_logged_and_the_last_good_one_kept(caplog: pytest.LogCaptureFixture) -> None:
    analyser = LandmarkAnalyser(hands=False, hand_choice="right")
    for _ in range(3):  # every frame
        analyser.configure({"landmarks.hand_choice": "both"})
    assert analyser.active_hand.choice == "right"
    assert len([r for r in caplog.records if "hand_choice" in r.getMessage()]) == 1
    analyser.close()


def test_an_unknown_detector_in_the_bundles_is_refused() -> None:
    with pytest.raises(VJError, match="unknown landmark detector feet"):
        LandmarkAnalyser({"feet": "auto"})


# --- pose geometry ----------------------------------------------------------------------------------------------


def body(wrist_left_y: float, wrist_right_y: float) -> np.ndarray:
    landmarks = np.full((33, 3), 0.5)
    landmarks[:, 0] = np.linspace(0.3, 0.7, 33)
    landmarks[pose.LEFT_WRIST, 1] = wrist_left_y
    landmarks[pose.RIGHT_WRIST, 1] = wrist_right_y
    return landmarks


def test_wrist_height_is_one_at_the_top_of_the_frame() -> None:
    signals = pose.pose_signals(body(0.0, 0.75))
    assert (signals["pose.wrist_left"], signals["pose.wrist_right"]) == pytest.approx((1.0, 0.25))


def test_a_wrist_below_the_frame_reads_zero() -> None:
    assert pose.pose_signals(body(1.3, 0.5))["pose.wrist_left"] == 0.0


def test_the_pose_centre_uses_the_visible_landmarks() -> None:
    landmarks = body(0.5, 0.5)
    visibility = np.zeros(33)
    visibility[[11, 12]] = 0.9  # only the shoulders are in view
    landmarks[[11, 12], :2] = [[0.2, 0.3], [0.4, 0.3]]
    signals = pose.pose_signals(landmarks, visibility)
    assert (signals["pose.x"], signals["pose.y"]) == pytest.approx((0.3, 0.3))
    assert pose.pose_signals(landmarks, np.zeros(33))["pose.x"] == pytest.approx(landmarks[:, 0].mean())


# --- overlay ----------------------------------------------------------------------------------------------------


def a_hand_view(width: int = 640, height: int = 480) -> LandmarkView:
    wrist_to_tips = np.stack([np.full(21, 0.5), np.linspace(0.8, 0.3, 21), np.zeros(21)], axis=1)
    hands_seen = Detection("hands", 0, 0.0, width, height, landmarks=(wrist_to_tips,), sides=("right",), scores=(1.0,))
    return LandmarkView(hands=hands_seen, active_hand=0)


def test_the_overlay_draws_on_a_copy() -> None:
    image = test_pattern()
    original = image.copy()
    drawn = draw_overlay(image, a_hand_view())
    assert np.array_equal(image, original)
    assert drawn.shape == image.shape and drawn.dtype == np.uint8
    assert not np.array_equal(drawn, image)


def test_the_overlay_highlights_the_active_hand() -> None:
    drawn = draw_overlay(np.zeros((480, 640, 3), np.uint8), a_hand_view())
    column = drawn[int(0.3 * 480) : int(0.8 * 480), 320]
    assert (np.abs(column.astype(int) - ACTIVE).sum(axis=1) < 30).mean() > 0.3


def test_the_overlay_names_the_gestures_the_active_hand_holds() -> None:
    view = a_hand_view()
    plain = draw_overlay(np.zeros((480, 640, 3), np.uint8), view)
    named = draw_overlay(np.zeros((480, 640, 3), np.uint8), replace(view, gestures=("hand.fist",)))
    changed = np.argwhere(np.abs(named.astype(int) - plain).sum(axis=2) > 0)
    assert len(changed) > 50  # the word's strokes
    assert changed[:, 0].min() > 0.8 * 480  # below the hand, whose wrist is lowest at 0.8 of the height


def test_the_overlay_shrinks_large_frames_for_the_preview() -> None:
    drawn = draw_overlay(np.zeros((1080, 1920, 3), np.uint8), a_hand_view(1920, 1080), max_width=640)
    assert drawn.shape == (360, 640, 3)


def test_the_overlay_of_nothing_is_the_frame() -> None:
    image = portrait()
    assert np.array_equal(draw_overlay(image, LandmarkView()), image)
