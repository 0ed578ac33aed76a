"""Hysteresis: an on/off state with two thresholds, so a value jittering between them changes nothing."""

from __future__ import annotations


class Hysteresis:
    """On once the value reaches `on`, off again only once it reaches `off`.

    With `on` above `off` it is on while the value is high (a gesture held: on at 0.6, off at 0.35); with
    `on` below `off` it is on while the value is low (a still picture: on under 1, off above 2). Between
    the two thresholds it keeps its state.
    """

    def __init__(self, on: float, off: float, state: bool = False) -> None:
        if on == off:
            raise ValueError(f"hysteresis needs two different thresholds, got {on} twice")
        self.on, self.off = on, off
        self.state = state

    def update(self, value: float) -> bool:
        """The state after seeing `value`."""
        high = self.on > self.off
        if (value >= self.on) if high else (value <= self.on):
            self.state = True
        elif (value <= self.off) if high else (value >= self.off):
            self.state = False
        return self.state

    def reset(self, state: bool = False) -> None:
        """Forget the past: start again in `state`."""
        self.state = state
