"""Hand gestures from MediaPipe's 21 hand landmarks, as 0..1 signals that hold steady while a gesture is held.

Each finger's extension comes from the angles at its joints in 3D (0 curled into the palm, 1
stretched), and the thumb's from its joints and how far its tip stands out from the index knuckle;
so a gesture reads the same whichever way the hand is turned and however near the camera it is.
Each gesture's score is the weakest of the finger states it needs (a fuzzy AND):

- `hand.fist` all four fingers curled, the thumb in
- `hand.open` all five stretched
- `hand.point` the index stretched, middle, ring and pinky curled (the thumb either way)
- `hand.victory` index and middle stretched and spread apart in a V, ring and pinky curled
- `hand.thumb_up` the thumb stretched out of a fist (the shape in any direction: combine it with
  `hand.angle` when the direction matters)
- `hand.pinch_hold` thumb tip on index tip, the index reaching out from the palm (not a fist)

Hysteresis (`GestureLatch`): a gesture is held once its score reaches `ON` and let go only when it
falls to `OFF`; while held its signal reads at least `ON`. So the signal is at or above `ON` exactly
while the gesture is held, and jitter between the two thresholds changes nothing a trigger sees.
"""

from __future__ import annotations

import numpy as np

from vjengine.analysis.base import Signals
from vjengine.analysis.hand_landmarks import FINGERS, INDEX, MIDDLE, MIDDLE_KNUCKLE, PINKY, RING, THUMB, WRIST
from vjengine.kit import Hysteresis

NAMES = ("fist", "open", "point", "victory", "thumb_up", "pinch_hold")
SIGNALS = tuple(f"hand.{name}" for name in NAMES)
REST: Signals = dict.fromkeys(SIGNALS, 0.0)

ON, OFF = 0.6, 0.35

# Every joint whose bend counts, as (before, joint, after): three per finger (knuckle, middle, end, the
# knuckle's bend measured from the wrist), then the thumb's two (MCP and IP). One vectorised pass.
_JOINTS = np.array(
    [(chain[i], chain[i + 1], chain[i + 2]) for finger in FINGERS for chain in [(WRIST, *finger)] for i in range(3)]
    + [(THUMB[0], THUMB[1], THUMB[2]), (THUMB[1], THUMB[2], THUMB[3])]
)

# Total bend (degrees) over a finger's three joints (knuckle, middle, end): a stretched finger bends
# little, one curled into a fist about 90 + 100 + 60. Between the two the extension falls linearly.
_FINGER_STRAIGHT, _FINGER_CURLED = 40.0, 180.0
# The thumb bends at two joints (MCP and IP): about 20 degrees stretched, over 100 folded over the palm.
_THUMB_STRAIGHT, _THUMB_FOLDED = 35.0, 100.0
# Thumb tip to index knuckle over the palm's length: tucked against the fingers below, sticking out above.
_THUMB_TUCKED, _THUMB_OUT = 0.4, 0.6
# Index and middle finger directions at least this far apart (degrees) make a V.
_SPREAD_NONE, _SPREAD_V = 8.0, 18.0
# Thumb tip to index tip over the palm's length: touching below the first, apart beyond the second.
_TOUCH, _APART = 0.2, 0.45
# Index tip to wrist over the palm's length: a fist keeps it within the palm, a pinch reaches beyond.
_IN_PALM, _REACHING = 0.85, 1.05


def gesture_scores(landmarks: np.ndarray, aspect: float = 1.0) -> Signals:
    """Every gesture's raw score (0..1) for one hand's landmarks ((21, 3), MediaPipe's normalised units)."""
    points = np.asarray(landmarks, dtype=np.float64)[:, :3] * (aspect, 1.0, aspect)  # one unit on every axis
    palm = float(np.linalg.norm(points[MIDDLE_KNUCKLE] - points[WRIST]))
    if palm <= 0:
        return dict(REST)
    bends = joint_bends(points)
    extended = [_ramp(float(bend), _FINGER_CURLED, _FINGER_STRAIGHT) for bend in bends[:12].reshape(4, 3).sum(axis=1)]
    curled = [1.0 - e for e in extended]
    thumb = thumb_extension(points, palm, float(bends[12:].sum()))
    touch = _ramp(float(np.linalg.norm(points[THUMB[-1]] - points[FINGERS[INDEX][-1]])) / palm, _APART, _TOUCH)
    reach = _ramp(float(np.linalg.norm(points[FINGERS[INDEX][-1]] - points[WRIST])) / palm, _IN_PALM, _REACHING)
    four_curled = min(curled)
    scores = {
        "fist": min(four_curled, 1.0 - thumb),
        "open": min(*extended, thumb),
        "point": min(extended[INDEX], curled[MIDDLE], curled[RING], curled[PINKY]),
        "victory": min(extended[INDEX], extended[MIDDLE], curled[RING], curled[PINKY], _v_spread(points)),
        "thumb_up": min(four_curled, thumb),
        "pinch_hold": min(touch, reach),
    }
    return {f"hand.{name}": float(score) for name, score in scores.items()}


def joint_bends(points: np.ndarray) -> np.ndarray:
    """The bend (degrees, 0 = straight on) at each joint of `_JOINTS`; a zero-length bone bends nothing."""
    before, joint, after = (points[_JOINTS[:, k]] for k in range(3))
    a, b = joint - before, after - joint
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosines = np.einsum("ij,ij->i", a, b) / np.where(norms > 0, norms, 1.0)
    return np.degrees(np.arccos(np.clip(np.where(norms > 0, cosines, 1.0), -1.0, 1.0)))


def thumb_extension(points: np.ndarray, palm: float, bend: float) -> float:
    """0 folded or tucked against the fingers .. 1 stretched (its joints' `bend`) and standing out from the hand."""
    straight = _ramp(bend, _THUMB_FOLDED, _THUMB_STRAIGHT)
    out = _ramp(float(np.linalg.norm(points[THUMB[-1]] - points[FINGERS[INDEX][0]])) / palm, _THUMB_TUCKED, _THUMB_OUT)
    return min(straight, out)


def _v_spread(points: np.ndarray) -> float:
    index = points[FINGERS[INDEX][-1]] - points[FINGERS[INDEX][0]]
    middle = points[FINGERS[MIDDLE][-1]] - points[FINGERS[MIDDLE][0]]
    return _ramp(_angle(index, middle), _SPREAD_NONE, _SPREAD_V)


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norms <= 0:
        return 0.0
    return float(np.degrees(np.arccos(np.clip(float(a @ b) / norms, -1.0, 1.0))))


def _ramp(value: float, zero: float, one: float) -> float:
    """0 at `zero`, 1 at `one`, linear between and clipped (either may be the larger)."""
    return min(1.0, max(0.0, (value - zero) / (one - zero)))


class GestureLatch:
    """Hysteresis for every gesture of one followed hand (see the module docstring): a kit Hysteresis each."""

    def __init__(self, on: float = ON, off: float = OFF) -> None:
        if not 0.0 <= off < on <= 1.0:
            raise ValueError(f"a gesture's let-go level ({off}) must be below its hold level ({on})")
        self.on, self.off = on, off
        self._latches: dict[str, Hysteresis] = {}

    @property
    def held(self) -> set[str]:
        """The gestures held now."""
        return {name for name, latch in self._latches.items() if latch.state}

    def update(self, scores: Signals) -> Signals:
        """The signals for this detection's raw scores: held gestures read at least `on`."""
        out = {}
        for name, score in scores.items():
            latch = self._latches.setdefault(name, Hysteresis(self.on, self.off))
            out[name] = max(score, self.on) if latch.update(score) else score
        return out

    def reset(self) -> None:
        """Forget every held gesture (another hand is followed now)."""
        self._latches.clear()
