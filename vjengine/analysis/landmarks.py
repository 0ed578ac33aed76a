"""Hands, face and body landmarks with MediaPipe Tasks, each detector in its own thread.

`LandmarkAnalyser` is a cheap analyser for the render thread: each frame it hands the frame to the
enabled detectors (each an AsyncAnalyser: its own thread, its own pace, at most `landmarks.rate`
detections a second), takes whatever detections are newest, and returns the `hand.*`, `face.*` and
`pose.*` signals (see hands.py, face.py and pose.py for their meaning and rest values). It never
waits for a detector. A detector is created in its own thread the first time it is enabled (loading
a bundle, maybe downloading it, takes a while) and pauses when disabled; its signals then glide to
rest. Without a bundle, or without mediapipe, a detector says why in one line and stays off. A bundle
is checked before MediaPipe opens it (bundles.check_bundle); a face bundle with the expression model
and the face-geometry data gives the 52 expression scores and the exact head pose as well.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vjengine.analysis import face as face_geometry
from vjengine.analysis import pose as pose_geometry
from vjengine.analysis.base import AsyncAnalyser, Signals
from vjengine.analysis.bundles import KINDS, BundleContents, check_bundle, resolve_bundle
from vjengine.analysis.hands import ActiveHand, HandObservation
from vjengine.analysis.tracked import SignalFade
from vjengine.errors import VJError
from vjengine.kit import SayOnce
from vjengine.sources import Frame

log = logging.getLogger(__name__)

# How many of each a detector looks for: two hands, so the active one can be chosen and kept.
MAX_COUNT = {"hands": 2, "face": 1, "pose": 1}


@dataclass(frozen=True)
class Detection:
    """What one detector found in one frame: a (N, 3) landmark array per hand, face or body."""

    kind: str
    frame_index: int
    time: float  # the frame's capture time (time.monotonic())
    width: int
    height: int
    landmarks: tuple[np.ndarray, ...] = ()
    sides: tuple[str, ...] = ()  # hands: "left" or "right", one per hand
    scores: tuple[float, ...] = ()  # hands: handedness confidence
    visibility: tuple[np.ndarray, ...] = ()  # pose: (33,) per body
    blendshapes: tuple[dict[str, float], ...] = ()  # face: expression scores by name, when the bundle has them
    matrices: tuple[np.ndarray, ...] = ()  # face: 4x4 facial transformation matrix, when the bundle has it

    @property
    def aspect(self) -> float:
        return self.width / self.height


@dataclass(frozen=True)
class LandmarkView:
    """The newest detections for drawing, which hand is the active one (an index into hands), and the
    gestures it holds (signal names, e.g. "hand.fist")."""

    hands: Detection | None = None
    face: Detection | None = None
    pose: Detection | None = None
    active_hand: int | None = None
    gestures: tuple[str, ...] = ()


class LandmarkDetector:
    """One MediaPipe landmarker (hands, face or pose) as an Analyser, for an AsyncAnalyser's thread.

    `analyse` opens the bundle on first use and stores the newest `Detection` in `result`; it returns
    no signals itself. If the bundle or mediapipe is missing, `error` says why and it stays idle.
    """

    def __init__(self, kind: str, bundle: str) -> None:
        self.kind = kind
        self.name = f"landmarks.{kind}"
        self.bundle = bundle
        self.result: Detection | None = None
        self.error: str | None = None
        self._task: Any = None
        self._last_timestamp = -1

    def analyse(self, frame: Frame) -> Signals:
        if self.error is not None:
            return {}
        if self._task is None and not self._open():
            return {}
        import mediapipe as mp

        # VIDEO mode tracks between frames (cheaper than detecting afresh) and needs rising timestamps.
        timestamp = max(self._last_timestamp + 1, int(frame.time * 1000))
        self._last_timestamp = timestamp
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame.image))
        self.result = _CONVERTERS[self.kind](self._task.detect_for_video(image, timestamp), frame)
        return {}

    def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.close()

    def _open(self) -> bool:
        try:
            self._task = open_landmarker(self.kind, self.bundle)
        except VJError as exc:
            self.error = str(exc)
            log.warning("%s landmarks off: %s", self.kind, exc)
            return False
        return True


def open_landmarker(kind: str, bundle: str) -> Any:
    """A MediaPipe HandLandmarker/FaceLandmarker/PoseLandmarker in VIDEO mode for the bundle spec.

    The bundle is checked first (a one-line VJError if it cannot be used); a face bundle's optional
    outputs are asked for only when it holds them, and what it lacks is said once."""
    path = resolve_bundle(kind, bundle, progress=True)
    if path is None:
        raise VJError(f'switched off ([landmarks] {kind} = "none")')
    contents = check_bundle(kind, path)
    _say_what_is_missing(kind, path, contents)
    try:
        from mediapipe.tasks.python import BaseOptions, vision
    except ImportError:
        raise VJError("mediapipe is not installed; pip install 'mediapipe>=1.0,<2'") from None
    base = BaseOptions(model_asset_path=str(path))
    video = vision.RunningMode.VIDEO
    try:
        if kind == "hands":
            options = vision.HandLandmarkerOptions(base_options=base, running_mode=video, num_hands=MAX_COUNT[kind])
            return vision.HandLandmarker.create_from_options(options)
        if kind == "face":
            options = vision.FaceLandmarkerOptions(
                base_options=base,
                running_mode=video,
                num_faces=MAX_COUNT[kind],
                output_face_blendshapes=contents.blendshapes,
                output_facial_transformation_matrixes=contents.geometry,
            )
            return vision.FaceLandmarker.create_from_options(options)
        options = vision.PoseLandmarkerOptions(base_options=base, running_mode=video, num_poses=MAX_COUNT[kind])
        return vision.PoseLandmarker.create_from_options(options)
    except (RuntimeError, ValueError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VJError(f"{path} is not a usable {kind} landmarker bundle ({reason})") from None


def _say_what_is_missing(kind: str, path: Any, contents: BundleContents) -> None:
    if contents.junk_in_front:
        log.warning(
            "%s bundle %s has %d bytes of something else (a web page, JSON) in front of it; it loads, "
            "but download it again to be sure it is the real file",
            kind,
            path,
            contents.junk_in_front,
        )
    if kind != "face":
        return
    if not contents.blendshapes:
        log.warning(
            "face bundle %s has no expression model: face.blend.*, face.smile, face.brows and face.pucker stay 0, "
            "face.mouth, face.eyes, face.jaw and face.blink are estimated from the landmarks "
            '(Google\'s official bundle, [landmarks] face = "auto", has it)',
            path,
        )
    if not contents.geometry:
        log.warning(
            "face bundle %s has no face-geometry data: face.yaw and face.pitch are estimated from the landmarks "
            '(Google\'s official bundle, [landmarks] face = "auto", gives the exact head pose)',
            path,
        )


def _points(landmarks: Any) -> np.ndarray:
    return np.array([(p.x, p.y, p.z or 0.0) for p in landmarks], dtype=np.float32)


def _frame_fields(kind: str, frame: Frame) -> dict[str, Any]:
    height, width = frame.image.shape[:2]
    return {"kind": kind, "frame_index": frame.index, "time": frame.time, "width": width, "height": height}


def _hands(result: Any, frame: Frame) -> Detection:
    sides, scores = [], []
    for categories in result.handedness:
        best = categories[0] if categories else None
        sides.append("right" if best is not None and best.category_name.lower() == "right" else "left")
        scores.append(float(best.score) if best is not None and best.score is not None else 0.0)
    landmarks = tuple(_points(hand) for hand in result.hand_landmarks)
    return Detection(**_frame_fields("hands", frame), landmarks=landmarks, sides=tuple(sides), scores=tuple(scores))


def _faces(result: Any, frame: Frame) -> Detection:
    # Lists MediaPipe leaves empty (or None) when the bundle cannot give them.
    scores = tuple(
        {c.category_name: float(c.score) for c in categories if c.category_name}
        for categories in (result.face_blendshapes or ())
    )
    matrices = tuple(np.asarray(m, dtype=np.float64) for m in (result.facial_transformation_matrixes or ()))
    return Detection(
        **_frame_fields("face", frame),
        landmarks=tuple(_points(face) for face in result.face_landmarks),
        blendshapes=scores,
        matrices=matrices,
    )


def _poses(result: Any, frame: Frame) -> Detection:
    landmarks = tuple(_points(body) for body in result.pose_landmarks)
    visibility = tuple(
        np.array([p.visibility if p.visibility is not None else 1.0 for p in body], dtype=np.float32)
        for body in result.pose_landmarks
    )
    return Detection(**_frame_fields("pose", frame), landmarks=landmarks, visibility=visibility)


_CONVERTERS: dict[str, Callable[[Any, Frame], Detection]] = {"hands": _hands, "face": _faces, "pose": _poses}


class LandmarkAnalyser:
    """Hands, face and pose signals from detectors in their own threads (see the module docstring).

    `bundles` maps "hands"/"face"/"pose" to a bundle spec ("auto", "none", a URL or a path; see
    bundles.py). The engine calls `configure(snapshot)` each frame before `analyse(frame)`, with the
    parameters named in `configure`; `latest_landmarks()` feeds the overlay.
    """

    name = "landmarks"

    def __init__(
        self,
        bundles: Mapping[str, str] | None = None,
        *,
        hands: bool = True,
        face: bool = False,
        pose: bool = False,
        rate: float = 30.0,
        hand_choice: str = "auto",
        grace: float = 0.5,
        release: float = 0.3,
    ) -> None:
        unknown = set(bundles or {}) - set(KINDS)
        if unknown:
            raise VJError(f"unknown landmark detector {', '.join(sorted(unknown))}; choose from {', '.join(KINDS)}")
        self.bundles = {kind: "auto" for kind in KINDS} | dict(bundles or {})
        self.enabled = {"hands": hands, "face": face, "pose": pose}
        self.rate = rate
        self.active_hand = ActiveHand(hand_choice, grace, release)
        self._fades = {
            "face": SignalFade(face_geometry.REST, grace, release, angles=face_geometry.ANGLES),
            "pose": SignalFade(pose_geometry.REST, grace, release),
        }
        self._said = SayOnce(log)
        self._detectors: dict[str, LandmarkDetector] = {}
        self._runners: dict[str, AsyncAnalyser] = {}
        self._fresh_from: dict[str, int] = {}  # first frame index submitted since the detector was (re)enabled
        self._consumed: dict[str, int] = {}  # frame index of the last detection turned into signals
        self._view: dict[str, Detection] = {}
        self.detections: dict[str, int] = {}  # detections turned into signals, by kind
        self._active_index: int | None = None

    def configure(self, values: Mapping[str, Any]) -> None:
        """Apply live settings from a parameter snapshot; names it lacks keep their current value.

        Reads `landmarks.hands`, `landmarks.face`, `landmarks.pose` (on/off), `landmarks.rate` (most
        detections a second per detector, 0 = as many as it can), `landmarks.hand_choice` (auto, left,
        right), `landmarks.grace` and `landmarks.release` (seconds; see ActiveHand and SignalFade).
        """
        for kind in KINDS:
            self.enabled[kind] = bool(values.get(f"landmarks.{kind}", self.enabled[kind]))
        self.rate = float(values.get("landmarks.rate", self.rate))
        grace = float(values.get("landmarks.grace", self.active_hand.grace))
        release = float(values.get("landmarks.release", self.active_hand.release))
        choice = str(values.get("landmarks.hand_choice", self.active_hand.choice))
        try:
            self.active_hand.configure(choice, grace, release, time.monotonic())
        except VJError as exc:  # runs every frame: say it once, keep the last good choice
            self._said(choice, "landmarks.hand_choice: %s; keeping %s", exc, self.active_hand.choice)
        for fade in self._fades.values():
            fade.grace, fade.release = max(0.0, grace), max(0.0, release)
        for runner in self._runners.values():
            runner.max_rate = self.rate if self.rate > 0 else None

    def analyse(self, frame: Frame) -> Signals:
        """Submit `frame` to the enabled detectors and return every landmark signal, never waiting."""
        now = time.monotonic()
        for kind in KINDS:
            if self.enabled[kind] and self.bundles[kind].strip().lower() != "none":
                self._submit(kind, frame)
                self._take_newest(kind)
            else:
                self._fresh_from.pop(kind, None)
                self._view.pop(kind, None)
                self._see_nothing(kind, now)  # a switched-off detector's signals glide to rest
        signals = self.active_hand.signals(now)
        for fade in self._fades.values():
            signals.update(fade.signals(now))
        return signals

    def latest_landmarks(self) -> LandmarkView:
        """The newest detections of the enabled detectors, for the overlay."""
        active = self._active_index if "hands" in self._view else None
        return LandmarkView(
            hands=self._view.get("hands"),
            face=self._view.get("face"),
            pose=self._view.get("pose"),
            active_hand=active,
            gestures=tuple(sorted(self.active_hand.gestures.held)) if active is not None else (),
        )

    @property
    def unavailable(self) -> dict[str, str]:
        """Why each detector that could not start is off, by kind."""
        return {kind: d.error for kind, d in self._detectors.items() if d.error is not None}

    def close(self) -> None:
        """Stop the detector threads, then release the detectors."""
        for runner in self._runners.values():
            runner.close()
        for detector in self._detectors.values():
            detector.close()
        self._runners.clear()
        self._detectors.clear()

    def _submit(self, kind: str, frame: Frame) -> None:
        if kind not in self._runners:
            self._detectors[kind] = LandmarkDetector(kind, self.bundles[kind])
            self._runners[kind] = AsyncAnalyser(self._detectors[kind], max_rate=self.rate if self.rate > 0 else None)
        if self._detectors[kind].error is None:
            self._fresh_from.setdefault(kind, frame.index)
            self._runners[kind].submit(frame)

    def _take_newest(self, kind: str) -> None:
        """Turn a detection that is new, and from a frame since the detector was enabled, into signals."""
        detection = self._detectors[kind].result
        fresh_from = self._fresh_from.get(kind)
        if detection is None or fresh_from is None or detection.frame_index < fresh_from:
            return
        self._view[kind] = detection
        if self._consumed.get(kind) == detection.frame_index:
            return
        self._consumed[kind] = detection.frame_index
        self.detections[kind] = self.detections.get(kind, 0) + 1
        if kind == "hands":
            self._track_hands(detection)
        elif detection.landmarks:
            self._fades[kind].track(self._signals_of(detection), detection.time)
        else:
            self._see_nothing(kind, detection.time)

    def _see_nothing(self, kind: str, t: float) -> None:
        if kind == "hands":
            self.active_hand.update([], t)
            self._active_index = None
        else:
            self._fades[kind].expire(t)

    def _track_hands(self, detection: Detection) -> None:
        observations = [
            HandObservation(landmarks, side, detection.aspect, score)
            for landmarks, side, score in zip(detection.landmarks, detection.sides, detection.scores, strict=True)
        ]
        active = self.active_hand.update(observations, detection.time)
        self._active_index = next((i for i, hand in enumerate(observations) if hand is active), None)

    @staticmethod
    def _signals_of(detection: Detection) -> Signals:
        if detection.kind == "face":
            scores = detection.blendshapes[0] if detection.blendshapes else None
            matrix = detection.matrices[0] if detection.matrices else None
            return face_geometry.face_signals(detection.landmarks[0], detection.aspect, scores, matrix)
        visibility = detection.visibility[0] if detection.visibility else None
        return pose_geometry.pose_signals(detection.landmarks[0], visibility)
