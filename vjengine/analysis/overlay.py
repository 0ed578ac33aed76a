"""What the engine sees: the landmarks drawn on a copy of the camera frame, for a preview output.

The active hand is drawn bright, with its palm centre, its angle axis, a line from the frame's
centre (the distance that drives the corruption) and the names of the gestures it holds; other
hands are drawn grey, the face as a cloud of points, the body as a stick figure.
"""

from __future__ import annotations

import cv2
import numpy as np

from vjengine.analysis.hand_landmarks import BONES, MIDDLE_KNUCKLE, WRIST
from vjengine.analysis.hands import palm_centre
from vjengine.analysis.landmarks import LandmarkView
from vjengine.analysis.pose import VISIBLE

POSE_BONES = (
    (11, 12), (11, 13), (13, 15), (12, 14), (14, 16),
    (11, 23), (12, 24), (23, 24),
    (23, 25), (25, 27), (24, 26), (26, 28),
)  # fmt: skip

ACTIVE = (255, 220, 0)
OTHER = (150, 150, 150)
FACE = (0, 220, 255)
BODY = (120, 255, 120)
CENTRE = (255, 80, 80)


def draw_overlay(image: np.ndarray, view: LandmarkView, max_width: int | None = 640) -> np.ndarray:
    """A copy of `image` (RGB uint8), shrunk to at most `max_width` wide, with `view` drawn on it."""
    height, width = image.shape[:2]
    if max_width is not None and width > max_width:
        size = (max_width, max(1, round(height * max_width / width)))
        canvas = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    else:
        canvas = image.copy()
    thickness = max(1, canvas.shape[1] // 320)
    if view.pose is not None:
        for i, body in enumerate(view.pose.landmarks):
            visibility = view.pose.visibility[i] if i < len(view.pose.visibility) else None
            _draw_body(canvas, body, visibility, thickness)
    if view.face is not None:
        for face in view.face.landmarks:
            for x, y in _pixels(canvas, face):
                cv2.circle(canvas, (x, y), thickness, FACE, -1, cv2.LINE_AA)
    if view.hands is not None:
        for i, hand in enumerate(view.hands.landmarks):
            if i != view.active_hand:
                _draw_hand(canvas, hand, OTHER, thickness)
        if view.active_hand is not None and view.active_hand < len(view.hands.landmarks):
            _draw_active_hand(canvas, view.hands.landmarks[view.active_hand], thickness)
            _label_gestures(canvas, view.hands.landmarks[view.active_hand], view.gestures, thickness)
    return canvas


def _pixels(canvas: np.ndarray, landmarks: np.ndarray) -> list[tuple[int, int]]:
    height, width = canvas.shape[:2]
    return [(round(float(x) * width), round(float(y) * height)) for x, y in landmarks[:, :2]]


def _draw_hand(canvas: np.ndarray, hand: np.ndarray, colour: tuple[int, int, int], thickness: int) -> None:
    points = _pixels(canvas, hand)
    for a, b in BONES:
        cv2.line(canvas, points[a], points[b], colour, thickness, cv2.LINE_AA)
    for point in points:
        cv2.circle(canvas, point, thickness + 1, colour, -1, cv2.LINE_AA)


def _draw_active_hand(canvas: np.ndarray, hand: np.ndarray, thickness: int) -> None:
    _draw_hand(canvas, hand, ACTIVE, thickness + 1)
    height, width = canvas.shape[:2]
    centre = (width // 2, height // 2)
    palm = _pixels(canvas, palm_centre(hand)[None, :])[0]
    cv2.drawMarker(canvas, centre, CENTRE, cv2.MARKER_CROSS, 6 * thickness + 6, thickness, cv2.LINE_AA)
    cv2.line(canvas, centre, palm, CENTRE, thickness, cv2.LINE_AA)
    cv2.circle(canvas, palm, 3 * thickness + 2, CENTRE, -1, cv2.LINE_AA)
    wrist, knuckle = _pixels(canvas, hand[[WRIST, MIDDLE_KNUCKLE]])
    cv2.arrowedLine(canvas, wrist, knuckle, CENTRE, thickness + 1, cv2.LINE_AA, tipLength=0.25)


def _label_gestures(canvas: np.ndarray, hand: np.ndarray, gestures: tuple[str, ...], thickness: int) -> None:
    """The held gestures' names ("fist", "thumb_up") just below the hand's lowest landmark."""
    if not gestures:
        return
    points = _pixels(canvas, hand)
    x = min(x for x, _ in points)
    y = max(y for _, y in points) + 14 * thickness
    text = " ".join(name.removeprefix("hand.") for name in gestures)
    scale = 0.45 * thickness
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, ACTIVE, thickness, cv2.LINE_AA)


def _draw_body(canvas: np.ndarray, body: np.ndarray, visibility: np.ndarray | None, thickness: int) -> None:
    points = _pixels(canvas, body)
    seen = np.ones(len(points), bool) if visibility is None else np.asarray(visibility) >= VISIBLE
    for a, b in POSE_BONES:
        if seen[a] and seen[b]:
            cv2.line(canvas, points[a], points[b], BODY, thickness + 1, cv2.LINE_AA)
    for point, visible in zip(points, seen, strict=True):
        if visible:
            cv2.circle(canvas, point, thickness + 1, BODY, -1, cv2.LINE_AA)
