"""Face signals: the real FaceLandmarker on the fixture portrait, and the geometry on synthetic meshes.

The fixture bundle (see tests/fixtures/README.md) finds the face and its 478 landmarks in the right
place, but its mesh is not anatomically ordered, so mouth, eyes and head angles are tested on
synthetic meshes: a few named points of an average face, turned in 3D and projected.
"""

from __future__ import annotations

import math
import time

import cv2
import numpy as np
import pytest

from tests.conftest import FIXTURES
from vjengine.analysis import face
from vjengine.analysis.landmarks import LandmarkAnalyser, LandmarkDetector
from vjengine.sources import Frame

BUNDLE = FIXTURES / "mediapipe" / "face_landmarker.task"


def portrait() -> np.ndarray:
    image = cv2.imread(str(FIXTURES / "mediapipe" / "face_256.png"))
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def detect(image: np.ndarray):
    """One detection on a fresh detector (the first frame of a video: a full detection)."""
    detector = LandmarkDetector("face", str(BUNDLE))
    try:
        detector.analyse(Frame(image, 0, time.monotonic()))
        return detector.result
    finally:
        detector.close()


# --- the real model -----------------------------------------------------------------------------------------------


def test_the_portrait_has_one_face_with_478_landmarks() -> None:
    result = detect(portrait())
    assert len(result.landmarks) == 1
    assert result.landmarks[0].shape == (478, 3)
    assert (result.width, result.height) == (256, 256)


def test_shifting_the_picture_moves_the_face_centre_by_as_much() -> None:
    image = portrait()
    shifted = cv2.warpAffine(image, np.float32([[1, 0, 40], [0, 1, 20]]), (256, 256), borderMode=cv2.BORDER_REPLICATE)
    before = face.face_signals(detect(image).landmarks[0], 1.0)
    after = face.face_signals(detect(shifted).landmarks[0], 1.0)
    assert after["face.x"] - before["face.x"] == pytest.approx(40 / 256, abs=0.015)
    assert after["face.y"] - before["face.y"] == pytest.approx(20 / 256, abs=0.015)
    assert after["face.size"] == pytest.approx(before["face.size"], rel=0.1)


def test_no_face_gives_no_landmarks() -> None:
    assert detect(np.full((240, 320, 3), 128, np.uint8)).landmarks == ()


def test_no_face_gives_rest_values() -> None:
    analyser = LandmarkAnalyser({"face": str(BUNDLE)}, hands=False, face=True, rate=0)
    try:
        blank = np.full((240, 320, 3), 128, np.uint8)
        signals = run_until_detected(analyser, blank, "face")
        assert {name: signals[name] for name in face.REST} == face.REST
    finally:
        analyser.close()


def test_a_face_in_view_is_published_through_the_analyser() -> None:
    analyser = LandmarkAnalyser({"face": str(BUNDLE)}, hands=False, face=True, rate=0, release=0.0)
    try:
        image = portrait()
        signals = run_until_detected(analyser, image, "face", with_result=True)
        expected = face.face_signals(analyser.latest_landmarks().face.landmarks[0], 1.0)
        assert signals["face.present"] == 1.0
        assert signals["face.x"] == pytest.approx(expected["face.x"])
        assert 0.2 < signals["face.x"] < 0.6
    finally:
        analyser.close()


def run_until_detected(analyser: LandmarkAnalyser, image: np.ndarray, kind: str, with_result: bool = False) -> dict:
    """Feed frames as a camera would until the detector has turned one into signals (at most a generous 60 s)."""
    deadline = time.monotonic() + 60
    index = 0
    while time.monotonic() < deadline:
        signals = analyser.analyse(Frame(image, index, time.monotonic()))
        view = getattr(analyser.latest_landmarks(), kind)
        if analyser.detections.get(kind, 0) > 0 and (not with_result or (view is not None and view.landmarks)):
            return analyser.analyse(Frame(image, index + 1, time.monotonic())) if with_result else signals
        index += 1
        time.sleep(0.01)
    raise AssertionError(f"no {kind} detection within 60 s")


# --- geometry on synthetic meshes -------------------------------------------------------------------------------

# An average face in units of half the outer-eye-corner span: x to the subject's left (the frame's
# right), y down, z toward the camera; the eye corners at the origin's height and depth.
FACE_POINTS = {
    face.RIGHT_EYE_OUTER: (-1.0, 0.0, 0.0),
    face.LEFT_EYE_OUTER: (1.0, 0.0, 0.0),
    face.RIGHT_EYE_INNER: (-0.4, 0.0, 0.1),
    face.LEFT_EYE_INNER: (0.4, 0.0, 0.1),
    face.RIGHT_EYE_TOP: (-0.7, -0.1, 0.1),
    face.RIGHT_EYE_BOTTOM: (-0.7, 0.1, 0.1),
    face.LEFT_EYE_TOP: (0.7, -0.1, 0.1),
    face.LEFT_EYE_BOTTOM: (0.7, 0.1, 0.1),
    face.NOSE_TIP: (0.0, 0.9, 1.0),
    face.FOREHEAD: (0.0, -1.2, 0.3),
    face.CHIN: (0.0, 2.6, 0.3),
    face.LIP_TOP: (0.0, 1.6, 0.6),
    face.LIP_BOTTOM: (0.0, 1.6, 0.6),
    face.MOUTH_RIGHT: (-0.6, 1.7, 0.4),
    face.MOUTH_LEFT: (0.6, 1.7, 0.4),
}


def mesh(
    yaw: float = 0.0,
    pitch: float = 0.0,
    roll: float = 0.0,
    centre: tuple[float, float] = (0.5, 0.5),
    scale: float = 0.05,
    aspect: float = 1.0,
    mouth_gap: float = 0.0,
    lid_gap: float = 0.2,
) -> np.ndarray:
    """478 landmarks of the average face turned by (yaw, pitch, roll) degrees, seen in a frame of `aspect`."""
    points = np.zeros((478, 3))
    outline = np.linspace(0, 2 * math.pi, 478, endpoint=False)
    points[:, 0], points[:, 1] = 1.4 * np.cos(outline), 0.7 + 2.0 * np.sin(outline)  # the face's oval
    for index, xyz in FACE_POINTS.items():
        points[index] = xyz
    points[face.LIP_BOTTOM, 1] += mouth_gap
    points[[face.RIGHT_EYE_TOP, face.LEFT_EYE_TOP], 1] = -lid_gap / 2
    points[[face.RIGHT_EYE_BOTTOM, face.LEFT_EYE_BOTTOM], 1] = lid_gap / 2
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    tilt = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])  # nose up
    turn = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])  # nose right
    lean = np.array([[math.cos(r), math.sin(r), 0], [-math.sin(r), math.cos(r), 0], [0, 0, 1]])  # counter-clockwise
    posed = points @ (lean @ turn @ tilt).T * scale
    landmarks = np.zeros((478, 3))
    landmarks[:, 0] = centre[0] + posed[:, 0] / aspect
    landmarks[:, 1] = centre[1] + posed[:, 1]
    return landmarks


def test_an_upright_frontal_face_has_zero_angles() -> None:
    signals = face.face_signals(mesh(), 1.0)
    assert (signals["face.yaw"], signals["face.pitch"], signals["face.roll"]) == pytest.approx((0, 0, 0), abs=1e-6)


@pytest.mark.parametrize("roll", [-60.0, -10.0, 25.0, 170.0])
def test_roll_is_the_eye_line_counter_clockwise(roll: float) -> None:
    assert face.face_signals(mesh(roll=roll), 1.0)["face.roll"] == pytest.approx(roll)


@pytest.mark.parametrize("yaw", [-45.0, -15.0, 20.0, 40.0])
def test_yaw_is_positive_when_the_nose_turns_to_the_frame_right(yaw: float) -> None:
    signals = face.face_signals(mesh(yaw=yaw), 1.0)
    assert signals["face.yaw"] == pytest.approx(yaw, abs=1e-6)
    assert signals["face.pitch"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("pitch", [-30.0, -10.0, 15.0, 40.0])
def test_pitch_is_positive_when_the_head_tilts_up(pitch: float) -> None:
    signals = face.face_signals(mesh(pitch=pitch), 1.0)
    assert signals["face.pitch"] == pytest.approx(pitch, abs=1e-6)
    assert signals["face.yaw"] == pytest.approx(0.0, abs=1e-6)


def test_turned_and_tilted_at_once_is_roughly_right() -> None:
    signals = face.face_signals(mesh(yaw=25.0, pitch=15.0, roll=10.0), 1.0)
    assert signals["face.yaw"] == pytest.approx(25.0, abs=5.0)
    assert signals["face.pitch"] == pytest.approx(15.0, abs=5.0)
    assert signals["face.roll"] == pytest.approx(10.0, abs=1e-6)


def test_angles_do_not_depend_on_the_frame_shape() -> None:
    wide = face.face_signals(mesh(yaw=20.0, roll=30.0, aspect=16 / 9), 16 / 9)
    assert (wide["face.yaw"], wide["face.roll"]) == pytest.approx((20.0, 30.0), abs=1e-6)


def test_centre_and_size_of_a_face() -> None:
    signals = face.face_signals(mesh(centre=(0.3, 0.4), scale=0.05), 1.0)
    assert signals["face.x"] == pytest.approx(0.3, abs=1e-6)
    assert signals["face.y"] == pytest.approx(0.4 + 0.7 * 0.05, abs=1e-4)  # the middle of the oval
    assert signals["face.size"] == pytest.approx(3.8 * 0.05)  # forehead to chin


def test_mouth_reads_zero_closed_and_grows_when_open() -> None:
    assert face.face_signals(mesh(), 1.0)["face.mouth"] == 0.0
    half = face.face_signals(mesh(mouth_gap=0.36), 1.0)["face.mouth"]
    assert half == pytest.approx(0.36 / 1.2 / 0.6)
    assert face.face_signals(mesh(mouth_gap=1.0), 1.0)["face.mouth"] == 1.0


def test_eyes_read_one_open_and_zero_shut() -> None:
    assert face.face_signals(mesh(lid_gap=0.2), 1.0)["face.eyes"] == 1.0
    assert face.face_signals(mesh(lid_gap=0.02), 1.0)["face.eyes"] == 0.0
    assert 0.2 < face.face_signals(mesh(lid_gap=0.1), 1.0)["face.eyes"] < 0.8


def test_a_mesh_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="468"):
        face.face_signals(np.zeros((100, 3)), 1.0)
