"""Face signals from MediaPipe's face landmarker: the mesh (468 points, 478 with the irises), and with
Google's official bundle also the 52 expression scores (see expressions.py) and the facial
transformation matrix (the head's exact pose).

Landmarks are normalised to the frame (x right, y down). Lengths and directions are measured in
pixel proportions (x stretched by the frame's aspect ratio).

Signals (rest values, published when no face is tracked, in brackets):

- `face.present` 1 while a face is tracked, gliding to 0 when it is lost (0)
- `face.x`, `face.y` centre of the mesh's bounding box, 0..1 of the frame, y down (0.5)
- `face.size` forehead-to-chin length as a fraction of the frame's height, at most 1 (0)
- `face.mouth` lips apart: 0 closed, 1 wide open (inner-lip gap over mouth width, 0.6 or more; from the
  expression scores when the bundle gives them) (0)
- `face.eyes` both eyes' openness: 0 shut, 1 open (eyelid gap over eye width, from 0.06 to 0.28; from the
  scores when given) (1)
- `face.yaw` head turned so the nose points to the frame's right (the subject's left): positive degrees (0)
- `face.pitch` head tilted up (chin forward, nose up): positive degrees (0)
- `face.roll` head tilted counter-clockwise as seen in the frame: positive degrees (0)
- `face.blend.*`, `face.smile|jaw|brows|blink|pucker`: see expressions.py (0)

The angles compose as the head's rotation = roll (in the picture's plane) after yaw after pitch, so
roll is exactly the picture's rotation and a mirrored picture flips the signs of yaw and roll. With a
facial transformation matrix (the official bundle) they are the matrix's rotation decomposed that
way. Without one they are estimated from where the nose tip sits relative to the outer eye corners,
assuming average facial proportions (`_NOSE_DEPTH`, `_NOSE_DROP`): good to a few degrees for one
axis at a time and up to about 45 degrees, rougher when turned and tilted at once (roll is exact).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from vjengine.analysis import expressions
from vjengine.analysis.base import Signals

# Mesh indices (the subject's right is on the frame's left in an unmirrored picture).
NOSE_TIP = 1
FOREHEAD, CHIN = 10, 152
RIGHT_EYE_OUTER, RIGHT_EYE_INNER, RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM = 33, 133, 159, 145
LEFT_EYE_OUTER, LEFT_EYE_INNER, LEFT_EYE_TOP, LEFT_EYE_BOTTOM = 263, 362, 386, 374
LIP_TOP, LIP_BOTTOM, MOUTH_RIGHT, MOUTH_LEFT = 13, 14, 61, 291
MESH_POINTS = 468

REST: Signals = {
    "face.present": 0.0,
    "face.x": 0.5,
    "face.y": 0.5,
    "face.size": 0.0,
    "face.mouth": 0.0,
    "face.eyes": 1.0,
    "face.yaw": 0.0,
    "face.pitch": 0.0,
    "face.roll": 0.0,
    **expressions.REST,
}
ANGLES = ("face.yaw", "face.pitch", "face.roll")

# Average proportions, in units of half the distance between the outer eye corners: how far the nose
# tip stands in front of the eye corners, and how far below the line between them.
_NOSE_DEPTH = 1.0
_NOSE_DROP = 0.9
_MOUTH_WIDE = 0.6
_EYE_SHUT, _EYE_OPEN = 0.06, 0.28


def face_signals(
    landmarks: np.ndarray,
    aspect: float,
    scores: Mapping[str, float] | None = None,
    matrix: np.ndarray | None = None,
) -> Signals:
    """Every `face.*` signal of one face: its landmarks ((N, 2 or 3), N >= 468), and when the bundle gives
    them its blendshape scores by name and its facial transformation matrix (4x4)."""
    signals = {**expressions.REST, **mesh_signals(landmarks, aspect)}
    if matrix is not None:
        signals.update(zip(ANGLES, matrix_angles(matrix), strict=True))
    if scores:
        signals.update(expressions.expression_signals(scores))
    else:
        signals.update(expressions.estimated_from_landmarks(signals))
    return signals


def mesh_signals(landmarks: np.ndarray, aspect: float) -> Signals:
    """The `face.*` signals the mesh alone gives ((N, 2 or 3) landmarks, N >= 468), head angles estimated."""
    if len(landmarks) < MESH_POINTS:
        raise ValueError(f"a face mesh has at least {MESH_POINTS} landmarks, got {len(landmarks)}")
    points = landmarks[:, :2] * (aspect, 1.0)  # in frame heights
    low, high = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
    yaw, pitch, roll = head_angles(points)
    return {
        "face.present": 1.0,
        "face.x": float((low[0] + high[0]) / 2),
        "face.y": float((low[1] + high[1]) / 2),
        "face.size": float(min(1.0, _length(points, FOREHEAD, CHIN))),
        "face.mouth": mouth_open(points),
        "face.eyes": eyes_open(points),
        "face.yaw": yaw,
        "face.pitch": pitch,
        "face.roll": roll,
    }


def mouth_open(points: np.ndarray) -> float:
    """Inner-lip gap over mouth width, scaled so 0.6 (wide open) reads 1."""
    width = _length(points, MOUTH_RIGHT, MOUTH_LEFT)
    if width <= 0:
        return 0.0
    return float(np.clip(_length(points, LIP_TOP, LIP_BOTTOM) / width / _MOUTH_WIDE, 0.0, 1.0))


def eyes_open(points: np.ndarray) -> float:
    """Mean eyelid gap over eye width of both eyes, mapped from shut (0) to open (1)."""
    ratios = []
    for outer, inner, top, bottom in (
        (RIGHT_EYE_OUTER, RIGHT_EYE_INNER, RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM),
        (LEFT_EYE_OUTER, LEFT_EYE_INNER, LEFT_EYE_TOP, LEFT_EYE_BOTTOM),
    ):
        width = _length(points, outer, inner)
        if width > 0:
            ratios.append(_length(points, top, bottom) / width)
    if not ratios:
        return 1.0
    return float(np.clip((np.mean(ratios) - _EYE_SHUT) / (_EYE_OPEN - _EYE_SHUT), 0.0, 1.0))


def head_angles(points: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from mesh points in pixel proportions (see the module docstring)."""
    right_eye, left_eye = points[RIGHT_EYE_OUTER], points[LEFT_EYE_OUTER]
    across = left_eye - right_eye  # the subject's right to left: points to the frame's right when upright
    half_width = float(np.hypot(*across)) / 2
    if half_width <= 0:
        return 0.0, 0.0, 0.0
    u = across / (2 * half_width)
    v = np.array([-u[1], u[0]])  # the face's "down", perpendicular to the eye line
    roll = math.degrees(math.atan2(-u[1], u[0]))
    nose = points[NOSE_TIP] - (right_eye + left_eye) / 2
    sideways = float(nose @ u) / half_width
    # Turning by yaw moves the nose sideways by depth*sin while the eye span shrinks by cos.
    yaw = math.atan2(sideways, _NOSE_DEPTH)
    drop = float(nose @ v) / half_width * math.cos(yaw)  # in the unturned face's half-widths
    # Tilting by pitch turns the nose's (drop, depth) vector about the eye line: drop = r*cos(pitch + a).
    reach = math.hypot(_NOSE_DROP, _NOSE_DEPTH)
    bend = math.atan2(_NOSE_DEPTH, _NOSE_DROP)
    pitch = math.degrees(math.acos(float(np.clip(drop / reach, -1.0, 1.0))) - bend)
    return math.degrees(yaw), pitch, roll


def matrix_angles(matrix: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a facial transformation matrix (see the module docstring).

    MediaPipe's matrix takes the canonical face (x to the subject's left, y up, z out of the face) into
    the camera's space (x to the frame's right, y up, z toward the viewer). Its rotation is read as
    Rz(roll) @ Ry(yaw) @ Rx(-pitch): Ry turns the nose toward +x, Rx by a positive angle turns it down.
    """
    rotation = np.asarray(matrix, dtype=np.float64)[:3, :3]
    u, _, vt = np.linalg.svd(rotation)  # the nearest pure rotation: strips any scale the fit left in
    r = u @ vt
    yaw = math.atan2(-r[2, 0], math.hypot(r[2, 1], r[2, 2]))
    pitch = -math.atan2(r[2, 1], r[2, 2])
    roll = math.atan2(r[1, 0], r[0, 0])
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def _length(points: np.ndarray, a: int, b: int) -> float:
    return float(np.hypot(*(points[a] - points[b])))
