"""The spring and the stillness hold behind the camera's steady latents."""

from __future__ import annotations

import torch

from vjengine.latent.smoothing import CriticallyDamped, StillnessHold


def step_response(tau: float, seconds: float, fps: float = 60) -> list[float]:
    spring = CriticallyDamped(tau)
    spring(torch.zeros(1), 0.0)
    return [float(spring(torch.ones(1), i / fps)) for i in range(1, int(seconds * fps) + 1)]


def test_spring_never_overshoots_a_step():
    assert max(step_response(0.2, 3.0)) <= 1.0


def test_spring_settles_within_5_percent_after_five_time_constants():
    response = step_response(0.2, 1.0)
    assert response[-1] > 0.95 and response[5] < 0.5


def test_zero_time_constant_passes_through():
    spring = CriticallyDamped(0.0)
    assert float(spring(torch.tensor([3.0]), 0.0)) == 3.0 and float(spring(torch.tensor([5.0]), 0.1)) == 5.0


def test_hold_needs_stillness_for_a_while():
    hold = StillnessHold(threshold=1.0, hold_after=0.5)
    assert [hold(0.2, t) for t in (0.0, 0.3, 0.6)] == [False, False, True]


def test_hold_releases_on_motion_but_not_on_breathing():
    hold = StillnessHold(threshold=1.0, hold_after=0.5)
    hold(0.2, 0.0)
    hold(0.2, 1.0)
    assert hold(1.5, 1.1) is True  # between 1x and 2x the threshold: autofocus breathing
    assert hold(5.0, 1.2) is False
