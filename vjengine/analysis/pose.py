"""Body signals from MediaPipe's 33 pose landmarks.

Landmarks are normalised to the frame (x right, y down); MediaPipe also guesses points outside the
picture, with a low visibility, so the centre uses only the points it sees.

Signals (rest values, published when no body is tracked, in brackets):

- `pose.present` 1 while a body is tracked, gliding to 0 when it is lost (0)
- `pose.x`, `pose.y` mean of the visible landmarks (all of them if none is clearly visible),
  0..1 of the frame, y down (0.5)
- `pose.wrist_left`, `pose.wrist_right` height of the performer's left/right wrist: 1 at the top of
  the frame, 0 at the bottom or below (0)
"""

from __future__ import annotations

import numpy as np

from vjengine.analysis.base import Signals

LEFT_WRIST, RIGHT_WRIST = 15, 16
POSE_POINTS = 33
VISIBLE = 0.5

REST: Signals = {
    "pose.present": 0.0,
    "pose.x": 0.5,
    "pose.y": 0.5,
    "pose.wrist_left": 0.0,
    "pose.wrist_right": 0.0,
}


def pose_signals(landmarks: np.ndarray, visibility: np.ndarray | None = None) -> Signals:
    """Every `pose.*` signal of one body: landmarks (33, 2 or 3), visibility (33,) in 0..1 if known."""
    if len(landmarks) < POSE_POINTS:
        raise ValueError(f"a pose has {POSE_POINTS} landmarks, got {len(landmarks)}")
    xy = landmarks[:, :2]
    seen = xy if visibility is None else xy[np.asarray(visibility) >= VISIBLE]
    centre = np.clip((seen if len(seen) else xy).mean(axis=0), 0.0, 1.0)
    return {
        "pose.present": 1.0,
        "pose.x": float(centre[0]),
        "pose.y": float(centre[1]),
        "pose.wrist_left": _height(xy[LEFT_WRIST, 1]),
        "pose.wrist_right": _height(xy[RIGHT_WRIST, 1]),
    }


def _height(y: float) -> float:
    return float(np.clip(1.0 - y, 0.0, 1.0))
