"""Face signals: Google's official FaceLandmarker bundle on the fixture portrait (landmarks, the 52
expression scores, the head pose from the facial transformation matrix), and the landmark estimates
(for bundles without those) on synthetic meshes: a few named points of an average face, turned in 3D
and projected. Each real detection opens a detector of its own (a fresh video: a full detection);
the portrait's detections are made once per module.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import FIXTURES, wait_for
from vjengine.analysis import expressions, face
from vjengine.analysis.bundles import REQUIRED
from vjengine.analysis.landmarks import Detection, LandmarkAnalyser, LandmarkDetector
from vjengine.sources import Frame

BUNDLE = FIXTURES / "mediapipe" / "face_landmarker.task"


def portrait() -> np.ndarray:
    image = cv2.imread(str(FIXTURES / "mediapipe" / "face_256.png"))
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def detect(image: np.ndarray, bundle: Path = BUNDLE) -> Detection:
    """One detection on a fresh detector (the first frame of a video: a full detection)."""
    detector = LandmarkDetector("face", str(bundle))
    try:
        detector.analyse(Frame(image, 0, time.monotonic()))
        return detector.result
    finally:
        detector.close()


def turned(image: np.ndarray, degrees: float) -> np.ndarray:
    """The picture turned counter-clockwise as seen by `degrees` about its centre."""
    turn = cv2.getRotationMatrix2D((image.shape[1] / 2, image.shape[0] / 2), degrees, 1.0)
    return cv2.warpAffine(image, turn, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


@pytest.fixture(scope="module")
def seen() -> dict[str, dict[str, float]]:
    """The official bundle's face signals of the portrait: as it is, mirrored, and turned by +-20 degrees."""
    image = portrait()
    pictures = {
        "portrait": image,
        "mirrored": image[:, ::-1],
        "turned +20": turned(image, 20),
        "turned -20": turned(image, -20),
    }
    out = {}
    for name, picture in pictures.items():
        found = detect(np.ascontiguousarray(picture))
        assert len(found.landmarks) == 1 and found.blendshapes and found.matrices, name
        out[name] = face.face_signals(found.landmarks[0], 1.0, found.blendshapes[0], found.matrices[0])
    return out


# --- the real model -----------------------------------------------------------------------------------------------


def test_the_official_bundle_reads_the_portraits_smile(seen) -> None:
    signals = seen["portrait"]
    assert signals["face.smile"] > 0.5
    assert signals["face.blend.mouthSmileLeft"] > 0.5 and signals["face.blend.mouthSmileRight"] > 0.5
    assert signals["face.jaw"] < 0.3 and signals["face.pucker"] < 0.3  # a closed-mouth smile, not a kiss


def test_every_expression_score_mediapipe_gives_is_a_signal() -> None:
    scores = detect(portrait()).blendshapes[0]
    assert set(scores) == set(expressions.BLENDSHAPES) and len(scores) == 52
    assert all(f"face.blend.{name}" in face.REST for name in scores)


def test_the_portrait_looks_nearly_straight_at_the_camera(seen) -> None:
    assert abs(seen["portrait"]["face.yaw"]) < 15
    assert abs(seen["portrait"]["face.roll"]) < 15


def test_a_mirrored_picture_flips_yaw_and_roll(seen) -> None:
    portrait_, mirrored = seen["portrait"], seen["mirrored"]
    assert mirrored["face.yaw"] == pytest.approx(-portrait_["face.yaw"], abs=1.0)
    assert mirrored["face.roll"] == pytest.approx(-portrait_["face.roll"], abs=1.0)
    assert mirrored["face.pitch"] == pytest.approx(portrait_["face.pitch"], abs=3.0)


@pytest.mark.parametrize("degrees", [20, -20])
def test_turning_the_picture_counter_clockwise_adds_to_roll(seen, degrees: int) -> None:
    change = seen[f"turned {degrees:+d}"]["face.roll"] - seen["portrait"]["face.roll"]
    assert change == pytest.approx(degrees, abs=4.0)


def without_expressions(tmp_path: Path) -> Path:
    """The official bundle with only its detector and mesh models: what a face bundle of the first
    generation holds (no expression model, no face-geometry data)."""
    path = tmp_path / "face_landmarker_v1.task"
    with zipfile.ZipFile(BUNDLE) as official, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as bundle:
        for name in REQUIRED["face"]:
            bundle.writestr(name, official.read(name))
    return path


def test_a_bundle_without_expressions_keeps_the_landmark_estimates_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    detector = LandmarkDetector("face", str(without_expressions(tmp_path)))
    try:
        for index in range(3):
            detector.analyse(Frame(portrait(), index, 100.0 + index / 30))
        found = detector.result
    finally:
        detector.close()
    assert len(found.landmarks) == 1 and found.blendshapes == () and found.matrices == ()
    signals = face.face_signals(found.landmarks[0], 1.0)
    assert signals["face.smile"] == 0.0 and signals["face.blend.mouthSmileLeft"] == 0.0
    assert signals["face.yaw"] == face.mesh_signals(found.landmarks[0], 1.0)["face.yaw"]
    said = [r.getMessage() for r in caplog.records if "no expression model" in r.getMessage()]
    assert len(said) == 1 and "face.smile" in said[0]


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
    frames, fed = itertools.count(), {}

    def detected() -> bool:
        fed["signals"] = analyser.analyse(Frame(image, next(frames), time.monotonic()))
        view = getattr(analyser.latest_landmarks(), kind)
        return analyser.detections.get(kind, 0) > 0 and (not with_result or (view is not None and view.landmarks))

    assert wait_for(detected, 60, interval=0.01), f"no {kind} detection within 60 s"
    return analyser.analyse(Frame(image, next(frames), time.monotonic())) if with_result else fed["signals"]


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


# --- head pose from a transformation matrix ---------------------------------------------------------------------


def pose_matrix(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """A facial transformation matrix (camera space: x right, y up, z toward the viewer) of a head turned
    so the nose points to the frame's right by `yaw`, up by `pitch` and turned counter-clockwise by `roll`."""
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    nod = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])  # nose up
    turn = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])  # nose right
    lean = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])  # counter-clockwise
    matrix = np.eye(4)
    matrix[:3, :3] = lean @ turn @ nod
    matrix[:3, 3] = (2.0, -5.0, -50.0)  # somewhere in front of the camera: the position plays no part
    return matrix


@pytest.mark.parametrize(("yaw", "pitch", "roll"), [(30, 0, 0), (0, 25, 0), (0, 0, -40), (-35, -20, 15)])
def test_the_matrix_gives_yaw_pitch_and_roll(yaw: float, pitch: float, roll: float) -> None:
    assert face.matrix_angles(pose_matrix(yaw, pitch, roll)) == pytest.approx((yaw, pitch, roll), abs=1e-6)


def test_a_positive_yaw_points_the_nose_to_the_frames_right_and_pitch_up() -> None:
    nose = pose_matrix(yaw=30)[:3, :3] @ (0, 0, 1)
    assert nose[0] > 0.4 and face.matrix_angles(pose_matrix(yaw=30))[0] > 0
    nose = pose_matrix(pitch=30)[:3, :3] @ (0, 0, 1)
    assert nose[1] > 0.4 and face.matrix_angles(pose_matrix(pitch=30))[1] > 0


def test_a_scaled_matrix_gives_the_same_angles() -> None:
    matrix = pose_matrix(20, 10, 5)
    matrix[:3, :3] *= 1.3
    assert face.matrix_angles(matrix) == pytest.approx((20, 10, 5), abs=1e-6)


def test_the_matrix_replaces_the_estimated_angles() -> None:
    signals = face.face_signals(mesh(yaw=10.0), 1.0, matrix=pose_matrix(yaw=-25.0, roll=5.0))
    assert (signals["face.yaw"], signals["face.roll"]) == pytest.approx((-25.0, 5.0), abs=1e-6)


# --- expressions from the scores --------------------------------------------------------------------------------


def test_the_summary_signals_come_from_the_scores() -> None:
    scores = {
        "mouthSmileLeft": 0.8, "mouthSmileRight": 0.6, "jawOpen": 0.7, "mouthClose": 0.2, "browInnerUp": 0.3,
        "browOuterUpLeft": 0.9, "browOuterUpRight": 0.5, "eyeBlinkLeft": 1.0, "eyeBlinkRight": 0.0, "mouthPucker": 0.4,
    }  # fmt: skip
    signals = expressions.expression_signals(scores)
    assert signals["face.smile"] == pytest.approx(0.7)
    assert signals["face.jaw"] == pytest.approx(0.7)
    assert signals["face.brows"] == pytest.approx(0.7)  # the outer brows' mean beats the inner brows
    assert signals["face.blink"] == pytest.approx(0.5)  # a wink is half a blink
    assert signals["face.pucker"] == pytest.approx(0.4)
    assert signals["face.mouth"] == pytest.approx(0.5)  # jaw open less lips kept closed
    assert signals["face.eyes"] == pytest.approx(0.5)
    assert signals["face.blend.browOuterUpLeft"] == pytest.approx(0.9)


def test_scores_a_bundle_lacks_read_zero_and_all_are_clipped() -> None:
    signals = expressions.expression_signals({"jawOpen": 1.2, "cheekPuff": -0.1})
    assert signals["face.jaw"] == 1.0 and signals["face.blend.cheekPuff"] == 0.0
    assert signals["face.blend.mouthPucker"] == 0.0 and signals["face.eyes"] == 1.0


def test_without_scores_jaw_and_blink_follow_the_landmarks() -> None:
    signals = face.face_signals(mesh(mouth_gap=0.36, lid_gap=0.02), 1.0)
    assert signals["face.jaw"] == pytest.approx(signals["face.mouth"]) and signals["face.jaw"] > 0.3
    assert signals["face.blink"] == pytest.approx(1.0)
    assert signals["face.smile"] == 0.0


def test_a_mesh_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="468"):
        face.face_signals(np.zeros((100, 3)), 1.0)
