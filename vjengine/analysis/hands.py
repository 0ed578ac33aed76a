"""Hand signals from MediaPipe's 21 hand landmarks, and the one stable "active hand".

Landmarks are MediaPipe's: x and y normalised to the frame's width and height (y down), z a
relative depth on roughly the scale of x. Geometry that depends on directions or lengths is done in
pixel proportions (x stretched by the frame's aspect ratio), so a 16:9 frame does not skew angles.

Signals (rest values, published when no hand is tracked, in brackets):

- `hand.present` 1 while a hand is tracked, gliding to 0 when it is lost (0)
- `hand.x`, `hand.y` centre of the palm (wrist and the four finger knuckles), 0..1 of the frame, y down (0.5)
- `hand.distance` palm centre to frame centre, 0 at the centre, 1 at a corner (0)
- `hand.angle` direction wrist to middle-finger knuckle, degrees: 0 = fingers up, +90 = pointing to
  the frame's left (counter-clockwise as seen), +-180 = down (0)
- `hand.area` area of the landmarks' convex hull, fraction of the frame (0)
- `hand.pinch` thumb tip to index tip over the palm length: 0 touching, 1 a palm length or more apart (0)
- `hand.openness` how far the four fingers are stretched: 0 fist, 1 open (0)
- `hand.side` 0 the performer's left hand, 1 the right (0.5: none)
- `hand.fist`, `hand.open`, `hand.point`, `hand.victory`, `hand.thumb_up`, `hand.pinch_hold` gestures,
  0..1 with hysteresis (see gestures.py) (0)

Left and right are MediaPipe's labels, which name the performer's own hands in an unmirrored camera
picture; a mirrored (selfie) picture swaps them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vjengine.analysis import gestures
from vjengine.analysis.base import Signals
from vjengine.analysis.hand_landmarks import FINGER_TIPS, INDEX_TIP, KNUCKLES, MIDDLE_KNUCKLE, PALM, THUMB_TIP, WRIST
from vjengine.analysis.tracked import SignalFade
from vjengine.errors import VJError

CHOICES = ("auto", "left", "right")

REST: Signals = {
    "hand.present": 0.0,
    "hand.x": 0.5,
    "hand.y": 0.5,
    "hand.distance": 0.0,
    "hand.angle": 0.0,
    "hand.area": 0.0,
    "hand.pinch": 0.0,
    "hand.openness": 0.0,
    "hand.side": 0.5,
    **gestures.REST,
}

# Fingertip-to-wrist distance over knuckle-to-wrist distance: about 1 for a fist (tips curled back to
# the knuckles' reach), about 1.8 for stretched fingers (a finger is roughly 0.8 of the palm's length).
_CURLED_REACH = 1.0
_OPEN_REACH = 1.8


@dataclass(frozen=True)
class HandObservation:
    """One detected hand: landmarks (21, 3) as MediaPipe gives them, its side, and the frame's shape."""

    landmarks: np.ndarray
    side: str  # "left" or "right"
    aspect: float = 1.0  # frame width / height
    score: float = 1.0

    @property
    def centre(self) -> np.ndarray:
        return palm_centre(self.landmarks)


def palm_centre(landmarks: np.ndarray) -> np.ndarray:
    """(x, y) of the palm's centre; steadier than all 21 points, which move with the fingers."""
    return landmarks[list(PALM), :2].mean(axis=0)


def centre_distance(x: float, y: float, aspect: float) -> float:
    """Distance of (x, y) from the frame's centre in pixels over half the diagonal: 1 at a corner."""
    dx, dy = (x - 0.5) * aspect, y - 0.5
    return min(1.0, math.hypot(dx, dy) / (0.5 * math.hypot(aspect, 1.0)))


def hand_angle(landmarks: np.ndarray, aspect: float) -> float:
    """Degrees of the wrist-to-middle-knuckle axis from upright, counter-clockwise as seen (-180..180)."""
    dx = (landmarks[MIDDLE_KNUCKLE, 0] - landmarks[WRIST, 0]) * aspect
    dy = landmarks[MIDDLE_KNUCKLE, 1] - landmarks[WRIST, 1]
    return math.degrees(math.atan2(-dx, -dy))


def hull_area(landmarks: np.ndarray) -> float:
    """Area of the landmarks' convex hull as a fraction of the frame (normalised units are exactly that)."""
    points = np.ascontiguousarray(landmarks[:, :2], dtype=np.float32)
    return float(cv2.contourArea(cv2.convexHull(points)))


def pinch(landmarks: np.ndarray, aspect: float) -> float:
    """Thumb tip to index tip over the palm length, clipped to 0..1 (0 = touching)."""
    points = _proportional(landmarks, aspect)
    palm = np.linalg.norm(points[MIDDLE_KNUCKLE] - points[WRIST])
    if palm <= 0:
        return 0.0
    return float(min(1.0, np.linalg.norm(points[THUMB_TIP] - points[INDEX_TIP]) / palm))


def openness(landmarks: np.ndarray, aspect: float) -> float:
    """0 for a fist .. 1 for stretched fingers: how far the fingertips reach beyond their knuckles."""
    points = _proportional(landmarks, aspect)
    reaches = []
    for tip, knuckle in zip(FINGER_TIPS, KNUCKLES, strict=True):
        base = np.linalg.norm(points[knuckle] - points[WRIST])
        if base > 0:
            reaches.append(np.linalg.norm(points[tip] - points[WRIST]) / base)
    if not reaches:
        return 0.0
    return float(np.clip((np.mean(reaches) - _CURLED_REACH) / (_OPEN_REACH - _CURLED_REACH), 0.0, 1.0))


def hand_signals(hand: HandObservation) -> Signals:
    """Every `hand.*` signal of one observed hand (see the module docstring); gestures as raw scores, before
    the hysteresis that ActiveHand applies over time."""
    lm, aspect = hand.landmarks, hand.aspect
    x, y = (float(v) for v in palm_centre(lm))
    return {
        "hand.present": 1.0,
        "hand.x": x,
        "hand.y": y,
        "hand.distance": centre_distance(x, y, aspect),
        "hand.angle": hand_angle(lm, aspect),
        "hand.area": hull_area(lm),
        "hand.pinch": pinch(lm, aspect),
        "hand.openness": openness(lm, aspect),
        "hand.side": 1.0 if hand.side == "right" else 0.0,
        **gestures.gesture_scores(lm, aspect),
    }


def _proportional(landmarks: np.ndarray, aspect: float) -> np.ndarray:
    """Landmarks in units of the frame's height on every axis, so lengths compare across directions."""
    return landmarks * np.array([aspect, 1.0, aspect])


class ActiveHand:
    """Picks one hand and keeps it, so the hand that steers never switches unpredictably.

    A new hand is picked among those allowed by `choice` ("auto": either side; "left"/"right": only
    that side), the largest first (the one nearest the camera: usually the performer). Once picked, it
    is followed by proximity to where it is expected (its last position moved on by its recent
    velocity), whatever its label says; when two hands are about equally close, as when they cross,
    the one with the same label wins. A hand farther than `max_jump` (in frame heights) from where it
    is expected is a different hand. When detections have gone on without the followed hand for
    `grace` seconds it is let go; its signals then glide to rest values with time constant `release`
    (see SignalFade), and the next allowed hand may be picked. Feed every detection to `update`,
    also those with no hands, and `update([], now)` while the detector is off.
    """

    def __init__(
        self,
        choice: str = "auto",
        grace: float = 0.5,
        release: float = 0.3,
        max_jump: float = 0.3,
        tie_margin: float = 0.05,
    ) -> None:
        self.choice = _check_choice(choice)
        self.max_jump = max_jump
        self.tie_margin = tie_margin
        self.fade = SignalFade(REST, grace, release, angles=("hand.angle",))
        self.gestures = gestures.GestureLatch()
        self._side = ""
        self._track: list[tuple[float, np.ndarray]] = []  # the last two (time, centre) of the followed hand
        self.current: HandObservation | None = None

    @property
    def grace(self) -> float:
        return self.fade.grace

    @property
    def release(self) -> float:
        return self.fade.release

    def configure(self, choice: str, grace: float, release: float, t: float) -> None:
        """Apply live settings; a new choice that excludes the followed hand lets it go at once."""
        self.fade.grace, self.fade.release = max(0.0, grace), max(0.0, release)
        choice = _check_choice(choice)
        if choice != self.choice:
            self.choice = choice
            if self.current is not None and choice != "auto" and self._side != choice:
                self._let_go(t)

    def update(self, hands: Sequence[HandObservation], t: float) -> HandObservation | None:
        """Feed one detection (all hands seen at time `t`); returns the active hand among them, if any."""
        self._expire(t)
        if self.current is not None:
            match = self._follow(hands, t)
            if match is not None:
                self._see(match, t, new=False)
            return match
        allowed = [h for h in hands if self.choice == "auto" or h.side == self.choice]
        if not allowed:
            return None
        picked = max(allowed, key=lambda h: (hull_area(h.landmarks), h.score))
        self._side = picked.side
        self._see(picked, t, new=True)
        return picked

    def signals(self, t: float) -> Signals:
        """The `hand.*` signals at time `t`: live while tracked, gliding to rest when lost."""
        return self.fade.signals(t)

    def _see(self, hand: HandObservation, t: float, new: bool) -> None:
        values = hand_signals(hand)
        if new:
            self.gestures.reset()
        values.update(self.gestures.update({name: values[name] for name in gestures.SIGNALS}))
        values["hand.side"] = 1.0 if self._side == "right" else 0.0  # the side it had when picked: labels flicker
        self.fade.track(values, t, new=new)
        self.current = hand
        self._track = [*self._track[-1:], (t, hand.centre)] if not new else [(t, hand.centre)]

    def _follow(self, hands: Sequence[HandObservation], t: float) -> HandObservation | None:
        expected = self._expected_centre(t)
        aspect = self.current.aspect if self.current is not None else 1.0
        near = []
        for hand in hands:
            dx, dy = (hand.centre - expected) * (aspect, 1.0)
            distance = math.hypot(dx, dy)
            if distance <= self.max_jump:
                near.append((distance, hand))
        if not near:
            return None
        best_distance = min(distance for distance, _ in near)
        tied = [(distance, hand) for distance, hand in near if distance <= best_distance + self.tie_margin]
        if len(tied) == 1:
            return tied[0][1]
        # About equally near (crossing hands): the same label first, then the more similar size.
        size = hull_area(self.current.landmarks) if self.current is not None else 0.0
        ranked = min(
            tied, key=lambda item: (item[1].side != self._side, abs(hull_area(item[1].landmarks) - size), item[0])
        )
        return ranked[1]

    def _expected_centre(self, t: float) -> np.ndarray:
        """The last centre moved on by the last velocity, for at most a fifth of a second."""
        (t1, c1) = self._track[-1]
        if len(self._track) < 2:
            return c1
        (t0, c0) = self._track[0]
        if t1 <= t0:
            return c1
        velocity = (c1 - c0) / (t1 - t0)
        return c1 + velocity * min(max(0.0, t - t1), 0.2)

    def _expire(self, t: float) -> None:
        self.fade.expire(t)
        if self.current is not None and not self.fade.tracking:
            self._forget()

    def _let_go(self, t: float) -> None:
        self.fade.drop(t)
        self._forget()

    def _forget(self) -> None:
        self.current, self._side, self._track = None, "", []
        self.gestures.reset()


def _check_choice(choice: str) -> str:
    if choice not in CHOICES:
        raise VJError(f"hand choice {choice!r} is not one of {', '.join(CHOICES)}")
    return choice
