"""Hand gestures from landmarks: each gesture high for its own pose and low for the others, the same however
the hand is turned or far away, and steady while held (hysteresis).

There is no photo of a hand among the fixtures, so the hands are built from joint angles: a palm of four
knuckles and a thumb base, each finger a chain of three bones bent at its joints toward the camera (the
palm faces it), then turned, scaled and placed in a frame as MediaPipe's normalised landmarks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vjengine.analysis import gestures
from vjengine.analysis.gestures import ON, GestureLatch, gesture_scores
from vjengine.analysis.hands import ActiveHand, HandObservation

# The hand in palm lengths: wrist at the origin, fingers toward +y, the palm facing +z (the camera).
KNUCKLES = {5: (-0.3, 0.95), 9: (0.0, 1.0), 13: (0.25, 0.95), 17: (0.45, 0.85)}
BONES = {5: (0.4, 0.25, 0.2), 9: (0.45, 0.28, 0.2), 13: (0.4, 0.25, 0.2), 17: (0.3, 0.2, 0.17)}
THUMB_BASE, THUMB_BONES = np.array([-0.2, 0.2, 0.0]), (0.35, 0.3, 0.25)
STRAIGHT, CURLED = (5.0, 5.0, 5.0), (90.0, 100.0, 60.0)  # bends at the knuckle, middle and end joints
TUCKED = {"thumb": (-0.5, 1.0, 0.0), "thumb_bend": (40.0, 60.0)}  # folded over the curled fingers


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def _chain(start: np.ndarray, direction: np.ndarray, bend_toward: np.ndarray, bones, bends) -> list[np.ndarray]:
    """Joint positions of a chain of bones, each bent from the last by its angle toward `bend_toward`."""
    points, heading, position = [], 0.0, start
    for length, bend in zip(bones, bends, strict=True):
        heading += math.radians(bend)
        position = position + length * (math.cos(heading) * direction + math.sin(heading) * bend_toward)
        points.append(position)
    return points


def hand_shape(fingers, thumb=(-1.0, 0.6, 0.0), thumb_bend=(0.0, 0.0), spread=(0.0, 0.0, 0.0, 0.0)) -> np.ndarray:
    """(21, 3) joints of a hand: `fingers` the bends of index..pinky, `spread` their sideways angles
    (degrees, positive toward the thumb), `thumb` its direction and `thumb_bend` its two joints' bends."""
    points = np.zeros((21, 3))
    for (knuckle, xy), bends, splay in zip(KNUCKLES.items(), fingers, spread, strict=True):
        a = math.radians(splay)
        direction = np.array([-math.sin(a), math.cos(a), 0.0])
        points[knuckle] = (*xy, 0.0)
        points[knuckle + 1 : knuckle + 4] = _chain(
            points[knuckle], direction, np.array([0, 0, 1.0]), BONES[knuckle], bends
        )
    u = _unit(thumb)
    across = _unit([1.0, 0.0, 0.8])  # over the palm, toward the camera
    across = _unit(across - (across @ u) * u)
    points[1] = THUMB_BASE
    points[2:5] = _chain(THUMB_BASE, u, across, THUMB_BONES, (0.0, *thumb_bend))
    return points


def pinching() -> np.ndarray:
    index = (55.0, 65.0, 20.0)
    tip = hand_shape([index, STRAIGHT, STRAIGHT, STRAIGHT])[8]
    return hand_shape([index, STRAIGHT, STRAIGHT, STRAIGHT], thumb=tip - THUMB_BASE)


POSES = {
    "fist": hand_shape([CURLED] * 4, **TUCKED),
    "open": hand_shape([STRAIGHT] * 4, spread=(6, 2, -2, -6)),
    "point": hand_shape([STRAIGHT, CURLED, CURLED, CURLED], **TUCKED),
    "victory": hand_shape([STRAIGHT, STRAIGHT, CURLED, CURLED], spread=(12, -12, 0, 0), **TUCKED),
    "thumb_up": hand_shape([CURLED] * 4, thumb=(-1.0, 0.3, 0.0)),
    "pinch_hold": pinching(),
}


def landmarks(
    shape: np.ndarray,
    size: float = 0.2,
    angle: float = 0.0,
    turn: float = 0.0,
    centre=(0.5, 0.6),
    aspect: float = 1.0,
) -> np.ndarray:
    """MediaPipe landmarks of `shape` with a palm `size` frame heights long, turned `turn` degrees about the
    vertical (away from facing the camera), then `angle` degrees counter-clockwise as seen."""
    t, a = math.radians(turn), math.radians(angle)
    about_vertical = np.array([[math.cos(t), 0, math.sin(t)], [0, 1, 0], [-math.sin(t), 0, math.cos(t)]])
    in_picture = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    posed = shape @ (in_picture @ about_vertical).T * size
    # MediaPipe: y down, and a smaller z is nearer the camera; x in frame widths, z on x's scale.
    return np.stack([centre[0] + posed[:, 0] / aspect, centre[1] - posed[:, 1], -posed[:, 2] / aspect], axis=1)


# --- each gesture from its pose ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pose", list(POSES))
def test_each_gesture_is_high_for_its_pose_and_low_for_the_others(pose: str) -> None:
    scores = gesture_scores(landmarks(POSES[pose]))
    assert scores[f"hand.{pose}"] > 0.8, scores
    assert all(score < 0.3 for name, score in scores.items() if name != f"hand.{pose}"), scores


@pytest.mark.parametrize("pose", list(POSES))
@pytest.mark.parametrize(
    "variant",
    [{"angle": 90.0}, {"size": 0.1}, {"angle": -90.0, "size": 0.1, "centre": (0.2, 0.3)}, {"turn": 40.0},
     {"angle": 30.0, "aspect": 16 / 9}],
    ids=["turned 90", "half the size", "both, elsewhere", "turned in depth", "wide frame"],
)  # fmt: skip
def test_gestures_do_not_depend_on_how_the_hand_is_turned_or_how_far_it_is(pose: str, variant: dict) -> None:
    aspect = variant.get("aspect", 1.0)
    assert gesture_scores(landmarks(POSES[pose], **variant), aspect) == pytest.approx(
        gesture_scores(landmarks(POSES[pose])), abs=1e-6
    )


def test_half_curled_fingers_are_neither_a_fist_nor_open() -> None:
    claw = gesture_scores(landmarks(hand_shape([(45.0, 45.0, 30.0)] * 4, **TUCKED)))
    assert 0.2 < claw["hand.fist"] < ON
    assert claw["hand.open"] == 0.0


def test_two_fingers_held_together_are_not_a_victory() -> None:
    together = hand_shape([STRAIGHT, STRAIGHT, CURLED, CURLED], **TUCKED)
    assert gesture_scores(landmarks(together))["hand.victory"] < 0.3


def test_a_degenerate_hand_reads_rest_values() -> None:
    assert gesture_scores(np.zeros((21, 3))) == gestures.REST


# --- hysteresis -------------------------------------------------------------------------------------------------


def test_a_gesture_is_held_from_on_until_it_falls_to_off() -> None:
    latch = GestureLatch(on=0.6, off=0.35)
    sequence = [0.2, 0.55, 0.65, 0.5, 0.4, 0.36, 0.3, 0.55, 0.9]
    read = [latch.update({"hand.fist": score})["hand.fist"] for score in sequence]
    assert read == pytest.approx([0.2, 0.55, 0.65, 0.6, 0.6, 0.6, 0.3, 0.55, 0.9])


def test_reset_forgets_held_gestures() -> None:
    latch = GestureLatch()
    latch.update({"hand.fist": 0.9})
    latch.reset()
    assert latch.update({"hand.fist": 0.5})["hand.fist"] == 0.5


def test_levels_the_wrong_way_round_are_refused() -> None:
    with pytest.raises(ValueError, match="below"):
        GestureLatch(on=0.3, off=0.5)


def test_a_held_fist_reads_steadily_through_jittering_landmarks() -> None:
    """A real tracker's landmarks jitter: the raw score dips below ON now and then, the signal never does."""
    rng = np.random.default_rng(7)
    tracked = ActiveHand(release=0.0)
    loose = hand_shape([(55.0, 50.0, 25.0)] * 4, **TUCKED)  # a loose fist: the raw score sits just above ON
    raw, read = [], []
    for frame in range(200):
        jittered = landmarks(loose) + rng.normal(0.0, 0.004, (21, 3))
        raw.append(gesture_scores(jittered)["hand.fist"])
        tracked.update([HandObservation(jittered, "right")], frame / 30)
        read.append(tracked.signals(frame / 30)["hand.fist"])
    held_from = next(i for i, score in enumerate(raw) if score >= ON)
    assert min(raw[held_from:]) < ON - 0.05  # the jitter would make a plain threshold flicker
    assert min(read[held_from:]) >= ON


def test_another_hand_starts_with_nothing_held() -> None:
    tracked = ActiveHand(release=0.0, grace=0.1)
    tracked.update([HandObservation(landmarks(POSES["fist"]), "right")], 0.0)
    tracked.update([], 1.0)  # lost for longer than the grace period
    half = landmarks(hand_shape([(45.0, 45.0, 20.0)] * 4, **TUCKED), centre=(0.2, 0.4))  # between OFF and ON
    tracked.update([HandObservation(half, "left")], 1.1)
    assert gestures.OFF < gesture_scores(half)["hand.fist"] < ON
    assert tracked.signals(1.1)["hand.fist"] == pytest.approx(gesture_scores(half)["hand.fist"])
