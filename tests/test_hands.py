"""Hand signals from landmarks, and the one active hand that stays put when hands cross, swap and vanish.

There is no photo of a hand among the fixtures, so the hands here are synthetic landmark sets: an
upright open hand drawn in palm lengths, moved, turned and scaled onto the frame.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vjengine.analysis.hands import (
    REST,
    ActiveHand,
    HandObservation,
    centre_distance,
    hand_angle,
    hand_signals,
    hull_area,
    openness,
    palm_centre,
    pinch,
)
from vjengine.analysis.tracked import SignalFade
from vjengine.errors import VJError

# An upright open hand, palm to the camera: (x, y) in palm lengths from the wrist, y down.
OPEN_HAND = np.array(
    [
        (0.0, 0.0),
        (-0.3, -0.2), (-0.5, -0.4), (-0.65, -0.6), (-0.8, -0.75),  # thumb
        (-0.3, -0.95), (-0.33, -1.3), (-0.35, -1.55), (-0.37, -1.75),  # index
        (0.0, -1.0), (0.0, -1.4), (0.0, -1.65), (0.0, -1.85),  # middle
        (0.25, -0.95), (0.27, -1.3), (0.28, -1.52), (0.3, -1.7),  # ring
        (0.45, -0.85), (0.5, -1.1), (0.53, -1.28), (0.55, -1.42),  # pinky
    ]
)  # fmt: skip


def fist() -> np.ndarray:
    """The open hand with every finger folded back to its knuckle."""
    shape = OPEN_HAND.copy()
    for knuckle in (5, 9, 13, 17):
        shape[knuckle + 1 : knuckle + 4] = shape[knuckle] * (0.95, 0.8)
    return shape


def pinching() -> np.ndarray:
    shape = OPEN_HAND.copy()
    shape[4] = shape[8] + (0.02, 0.0)
    return shape


def place(shape: np.ndarray, x: float, y: float, size: float = 0.2, angle: float = 0.0, aspect: float = 1.0):
    """`shape` with its wrist at (x, y), palm length `size` frame heights, turned `angle` degrees
    counter-clockwise as seen; returned as MediaPipe landmarks (21, 3) for a frame of `aspect`."""
    a = math.radians(angle)
    # counter-clockwise on screen, with y pointing down
    turn = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    pixels = shape @ turn.T * size  # in frame heights
    landmarks = np.zeros((len(shape), 3))
    landmarks[:, 0] = x + pixels[:, 0] / aspect
    landmarks[:, 1] = y + pixels[:, 1]
    return landmarks


def hand(x: float, y: float, side: str = "right", size: float = 0.2, shape: np.ndarray = OPEN_HAND) -> HandObservation:
    """A hand whose palm centre is at about (x, y)."""
    landmarks = place(shape, 0.0, 0.0, size)
    landmarks[:, :2] += np.array([x, y]) - palm_centre(landmarks)
    return HandObservation(landmarks, side)


# --- geometry ---------------------------------------------------------------------------------------------------


def test_distance_is_zero_at_the_centre_and_one_at_a_corner() -> None:
    assert centre_distance(0.5, 0.5, 16 / 9) == 0.0
    assert centre_distance(1.0, 1.0, 16 / 9) == pytest.approx(1.0)
    assert centre_distance(0.0, 0.0, 1.0) == pytest.approx(1.0)


def test_distance_is_measured_in_pixels_on_the_diagonal() -> None:
    # Middle of the right edge of a square frame: half the width over half the diagonal.
    assert centre_distance(1.0, 0.5, 1.0) == pytest.approx(1 / math.sqrt(2))
    # On a 2:1 frame the same point is farther out in pixels, relative to the diagonal.
    assert centre_distance(1.0, 0.5, 2.0) == pytest.approx(2 / math.sqrt(5))


def test_distance_of_a_hand_follows_its_palm() -> None:
    assert hand_signals(hand(0.5, 0.5))["hand.distance"] == pytest.approx(0.0, abs=1e-6)
    assert hand_signals(hand(0.9, 0.9))["hand.distance"] == pytest.approx(0.8, abs=1e-6)


def test_upright_hand_has_angle_zero() -> None:
    assert hand_angle(place(OPEN_HAND, 0.5, 0.8), 1.0) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("angle", [90.0, 45.0, -30.0, -135.0])
def test_angle_is_counter_clockwise_as_seen(angle: float) -> None:
    assert hand_angle(place(OPEN_HAND, 0.5, 0.5, angle=angle), 1.0) == pytest.approx(angle)


def test_hand_pointing_left_has_angle_plus_90() -> None:
    landmarks = place(OPEN_HAND, 0.8, 0.5, angle=90.0)
    assert landmarks[9, 0] < landmarks[0, 0]  # the knuckles are left of the wrist
    assert hand_angle(landmarks, 1.0) == pytest.approx(90.0)


def test_angle_is_measured_in_pixels_on_a_wide_frame() -> None:
    assert hand_angle(place(OPEN_HAND, 0.5, 0.5, angle=45.0, aspect=16 / 9), 16 / 9) == pytest.approx(45.0)


def test_area_grows_with_the_square_of_the_hand_size() -> None:
    small = hull_area(place(OPEN_HAND, 0.5, 0.5, size=0.1))
    large = hull_area(place(OPEN_HAND, 0.5, 0.5, size=0.2))
    assert large == pytest.approx(4 * small, rel=1e-4)
    assert 0.0 < large < 1.0


def test_area_is_a_fraction_of_the_frame() -> None:
    corners = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.5, 0.0]] * 5 + [[0.25, 0.25, 0]])
    assert hull_area(corners) == pytest.approx(0.25)


def test_pinch_is_zero_touching_and_one_apart() -> None:
    assert pinch(place(pinching(), 0.5, 0.5), 1.0) < 0.05
    assert pinch(place(OPEN_HAND, 0.5, 0.5), 1.0) == 1.0


def test_pinch_does_not_depend_on_the_hand_size() -> None:
    shape = OPEN_HAND.copy()
    shape[4] = (shape[4] + shape[8]) / 2 + (0.0, 0.1)
    near, far = pinch(place(shape, 0.5, 0.5, size=0.3), 1.0), pinch(place(shape, 0.5, 0.5, size=0.1), 1.0)
    assert 0.2 < near < 0.8
    assert near == pytest.approx(far)


def test_openness_is_high_for_an_open_hand_and_zero_for_a_fist() -> None:
    assert openness(place(OPEN_HAND, 0.5, 0.5), 1.0) > 0.85
    assert openness(place(fist(), 0.5, 0.5), 1.0) == 0.0


def test_openness_does_not_depend_on_the_hand_angle() -> None:
    upright = openness(place(OPEN_HAND, 0.5, 0.5, aspect=16 / 9), 16 / 9)
    turned = openness(place(OPEN_HAND, 0.5, 0.5, angle=70, aspect=16 / 9), 16 / 9)
    assert turned == pytest.approx(upright)


def test_signals_of_a_hand_include_every_name_and_its_side() -> None:
    signals = hand_signals(hand(0.3, 0.6, side="left"))
    assert set(signals) == set(REST)
    assert signals["hand.present"] == 1.0
    assert signals["hand.side"] == 0.0
    assert (signals["hand.x"], signals["hand.y"]) == pytest.approx((0.3, 0.6))


# --- the active hand --------------------------------------------------------------------------------------------


def test_nothing_tracked_gives_rest_values() -> None:
    active = ActiveHand()
    assert active.update([], 0.0) is None
    assert active.signals(0.0) == REST


def test_auto_picks_the_largest_hand() -> None:
    near_camera = hand(0.7, 0.5, "left", size=0.3)
    assert ActiveHand("auto").update([hand(0.3, 0.5, "right", size=0.15), near_camera], 0.0) is near_camera


def test_a_chosen_side_is_picked_even_when_smaller() -> None:
    right = hand(0.3, 0.5, "right", size=0.1)
    assert ActiveHand("right").update([hand(0.7, 0.5, "left", size=0.3), right], 0.0) is right


def test_a_chosen_side_ignores_the_other_hand_alone() -> None:
    active = ActiveHand("left")
    assert active.update([hand(0.5, 0.5, "right")], 0.0) is None
    assert active.signals(0.0)["hand.present"] == 0.0


@pytest.mark.parametrize("other_side", ["left", "right"])
def test_crossing_hands_keep_the_active_hand(other_side: str) -> None:
    """The hands pass through each other, even with the same label (two performers' right hands):
    the one that was picked is the one that stays active, followed by its motion."""
    active = ActiveHand("auto", release=0.0)
    first = active.update([hand(0.2, 0.5, "right", size=0.25), hand(0.8, 0.5, other_side)], 0.0)
    assert first.side == "right"
    for step in range(1, 13):
        x = 0.2 + 0.05 * step
        mine, other = hand(x, 0.5, "right", size=0.25), hand(1.0 - x, 0.5, other_side)
        assert active.update([other, mine], step / 30) is mine
        assert active.signals(step / 30)["hand.x"] == pytest.approx(x)


def test_swapped_labels_do_not_swap_the_active_hand() -> None:
    """MediaPipe sometimes swaps left and right for a frame: the active hand is followed by position."""
    active = ActiveHand("right", release=0.0)
    active.update([hand(0.3, 0.5, "right"), hand(0.7, 0.5, "left")], 0.0)
    for step in range(1, 5):
        relabelled = hand(0.3, 0.5, "left")
        assert active.update([relabelled, hand(0.7, 0.5, "right")], step / 30) is relabelled
    signals = active.signals(4 / 30)
    assert signals["hand.x"] == pytest.approx(0.3)
    assert signals["hand.side"] == 1.0


def settled(active: ActiveHand, hands: list[HandObservation], until: float, start: float = 0.0) -> float:
    """Feed the same hands at 30 Hz from `start` until `until` (a newly picked hand has glided in);
    returns the time of the next frame."""
    t = start
    while t < until:
        active.update(hands, t)
        t += 1 / 30
    return t


def absent(active: ActiveHand, start: float, until: float) -> None:
    """Detections at 30 Hz from `start` to `until` that see no hand."""
    for t in np.arange(start, until, 1 / 30):
        active.update([], float(t))


def test_a_new_hand_glides_in_from_rest() -> None:
    active = ActiveHand("auto", release=0.3)
    picked = hand(0.9, 0.2)
    active.update([picked], 0.0)
    assert active.signals(0.0) == REST
    assert 0.5 < active.signals(0.3)["hand.x"] < 0.9
    assert active.signals(3.0)["hand.x"] == pytest.approx(0.9, abs=1e-3)


def test_a_still_picture_keeps_its_hand() -> None:
    """No new frames, no new detections: nothing says the hand has gone, so it stays."""
    active = ActiveHand("auto", grace=0.5, release=0.0)
    active.update([hand(0.3, 0.4)], 0.0)
    assert active.signals(60.0)["hand.x"] == pytest.approx(0.3)


def test_a_vanished_hand_is_held_during_the_grace_period() -> None:
    active = ActiveHand("auto", grace=0.5, release=0.3)
    mine, other = hand(0.3, 0.4, "right", size=0.3), hand(0.7, 0.5, "left")
    t = settled(active, [mine, other], until=4.0)
    held = active.signals(t)
    assert held == pytest.approx(hand_signals(mine), abs=1e-4)
    for dt in (0.1, 0.3, 0.45):
        assert active.update([other], t + dt) is None  # the other hand is not taken over
        assert active.signals(t + dt) == pytest.approx(held, abs=1e-5)


def test_a_hand_back_within_the_grace_period_continues_without_a_glide() -> None:
    active = ActiveHand("auto", grace=0.5, release=0.3)
    t = settled(active, [hand(0.3, 0.4)], until=4.0)
    active.update([], t + 0.2)
    back = hand(0.32, 0.41)
    assert active.update([back], t + 0.4) is back
    assert active.signals(t + 0.4)["hand.x"] == pytest.approx(0.32)


def test_a_lost_hand_decays_smoothly_to_rest() -> None:
    grace, release = 0.5, 0.3
    active = ActiveHand("auto", grace=grace, release=release)
    t = settled(active, [hand(0.9, 0.1)], until=4.0)
    last_seen = t - 1 / 30
    last = active.signals(last_seen)
    absent(active, t, t + 3.0)
    released = last_seen + grace
    values = [active.signals(released + dt)["hand.x"] for dt in np.linspace(0.0, 2.0, 41)]
    assert values[0] == pytest.approx(last["hand.x"])
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))  # no jump, no overshoot
    one_tau = active.signals(released + release)
    for name, rest in REST.items():
        assert one_tau[name] == pytest.approx(rest + (last[name] - rest) * math.exp(-1), abs=1e-6)
    assert active.signals(released + 10 * release) == pytest.approx(REST, abs=1e-3)


def test_a_loss_noticed_late_still_glides_from_what_was_published() -> None:
    """The detection that notices the loss comes after the grace period ended (and after the render
    loop published the held values): the glide starts from those, without a jump."""
    active = ActiveHand("auto", grace=0.5, release=0.3)
    t = settled(active, [hand(0.9, 0.1)], until=4.0)
    held = active.signals(t + 0.8)["hand.x"]
    active.update([], t + 0.7)  # a detection of a frame captured before that publication
    assert active.signals(t + 0.8)["hand.x"] == pytest.approx(held)
    assert active.signals(t + 0.8 + 0.3)["hand.x"] == pytest.approx(0.5 + (held - 0.5) * math.exp(-1))


def test_after_the_grace_period_another_hand_glides_in() -> None:
    grace, release = 0.5, 0.3
    active = ActiveHand("auto", grace=grace, release=release)
    mine, other = hand(0.2, 0.5, "right", size=0.3), hand(0.8, 0.5, "left")
    t = settled(active, [mine, other], until=4.0)
    picked_at = None
    for step in range(30):
        now = t + step / 30
        before = active.signals(now)["hand.x"]
        if active.update([other], now) is other:
            picked_at = now
            assert active.signals(now)["hand.x"] == pytest.approx(before)  # no jump
            break
        assert before == pytest.approx(0.2, abs=1e-4)  # held until then
    assert picked_at == pytest.approx(t - 1 / 30 + grace, abs=1 / 30)
    t = settled(active, [other], start=picked_at + 1 / 30, until=picked_at + 10 * release)
    assert active.signals(t)["hand.x"] == pytest.approx(0.8, abs=1e-3)
    assert active.signals(t)["hand.side"] == pytest.approx(0.0, abs=1e-3)


def test_a_far_jump_is_another_hand() -> None:
    active = ActiveHand("auto", grace=0.5, max_jump=0.3)
    active.update([hand(0.2, 0.5)], 0.0)
    assert active.update([hand(0.8, 0.5)], 0.05) is None


def test_changing_the_choice_to_the_other_side_lets_go_at_once() -> None:
    active = ActiveHand("auto", grace=5.0, release=0.0)
    active.update([hand(0.3, 0.5, "right")], 0.0)
    active.configure("left", grace=5.0, release=0.0, t=0.1)
    assert active.signals(0.1) == REST
    left = hand(0.7, 0.5, "left")
    assert active.update([hand(0.3, 0.5, "right"), left], 0.2) is left


def test_an_unknown_choice_is_a_one_line_error() -> None:
    with pytest.raises(VJError, match="auto, left, right"):
        ActiveHand("both")


# --- fading ---------------------------------------------------------------------------------------------------


def test_angles_glide_the_short_way_round() -> None:
    fade = SignalFade({"a": 0.0}, grace=10.0, release=0.5, angles=["a"])
    fade.track({"a": 170.0}, 0.0)
    fade.track({"a": 170.0}, 9.0)
    fade.track({"a": -170.0}, 9.0, new=True)
    midway = [fade.signals(9.0 + dt)["a"] for dt in (0.05, 0.2, 0.5)]
    assert all(abs(a) >= 170.0 for a in midway)  # through 180, not through 0


def test_release_zero_switches_at_once() -> None:
    fade = SignalFade({"v": 0.0}, grace=0.2, release=0.0)
    fade.track({"v": 1.0}, 0.0)
    assert fade.signals(0.0) == {"v": 1.0}
    fade.expire(0.21)
    assert fade.signals(0.21) == {"v": 0.0}
