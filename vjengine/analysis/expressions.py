"""Facial expressions from MediaPipe's 52 blendshape scores (face bundles with `face_blendshapes.tflite`).

Each score is 0..1, named as MediaPipe names it (ARKit's names, plus `_neutral`; left and right are
the subject's own). Every score is a signal `face.blend.<name>`, and a few a performer reaches for
first are combined from them (rest values, published when no face is tracked, in brackets):

- `face.smile` both mouth corners up: mean of `mouthSmileLeft` and `mouthSmileRight` (0)
- `face.jaw` jaw dropped: `jawOpen` (0)
- `face.brows` brows raised: the larger of `browInnerUp` and the mean of `browOuterUpLeft/Right` (0)
- `face.blink` eyes shut: mean of `eyeBlinkLeft` and `eyeBlinkRight`, so a wink reads about half (0)
- `face.pucker` lips pushed forward as for a kiss: `mouthPucker` (0)

With the scores at hand, `face.mouth` (lips apart) is `jawOpen` less `mouthClose` (lips kept together
while the jaw drops) and `face.eyes` is 1 - `face.blink`.
"""

from __future__ import annotations

from collections.abc import Mapping

from vjengine.analysis.base import Signals

# MediaPipe's blendshape categories, in the order its model outputs them.
BLENDSHAPES: tuple[str, ...] = (
    "_neutral",
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeLookDownLeft",
    "eyeLookDownRight",
    "eyeLookInLeft",
    "eyeLookInRight",
    "eyeLookOutLeft",
    "eyeLookOutRight",
    "eyeLookUpLeft",
    "eyeLookUpRight",
    "eyeSquintLeft",
    "eyeSquintRight",
    "eyeWideLeft",
    "eyeWideRight",
    "jawForward",
    "jawLeft",
    "jawOpen",
    "jawRight",
    "mouthClose",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthFunnel",
    "mouthLeft",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthPucker",
    "mouthRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "noseSneerLeft",
    "noseSneerRight",
)
PREFIX = "face.blend."
SUMMARY = ("face.smile", "face.jaw", "face.brows", "face.blink", "face.pucker")

REST: Signals = {**{PREFIX + name: 0.0 for name in BLENDSHAPES}, **dict.fromkeys(SUMMARY, 0.0)}


def expression_signals(scores: Mapping[str, float]) -> Signals:
    """`face.blend.*`, the summary signals, `face.mouth` and `face.eyes` from one face's scores by name.

    Scores a bundle does not give read 0; values are clipped to 0..1 (the model's are, nearly)."""

    def score(name: str) -> float:
        return min(1.0, max(0.0, float(scores.get(name, 0.0))))

    blink = (score("eyeBlinkLeft") + score("eyeBlinkRight")) / 2
    signals = {PREFIX + name: score(name) for name in BLENDSHAPES}
    signals.update(
        {
            "face.smile": (score("mouthSmileLeft") + score("mouthSmileRight")) / 2,
            "face.jaw": score("jawOpen"),
            "face.brows": max(score("browInnerUp"), (score("browOuterUpLeft") + score("browOuterUpRight")) / 2),
            "face.blink": blink,
            "face.pucker": score("mouthPucker"),
            "face.mouth": max(0.0, score("jawOpen") - score("mouthClose")),
            "face.eyes": 1.0 - blink,
        }
    )
    return signals


def estimated_from_landmarks(geometry: Mapping[str, float]) -> Signals:
    """The summary signals a bundle without scores can still give, from the landmark estimates: the jaw
    follows `face.mouth` and the blink `face.eyes`; smile, brows and pucker stay at rest."""
    return {"face.jaw": float(geometry["face.mouth"]), "face.blink": 1.0 - float(geometry["face.eyes"])}
