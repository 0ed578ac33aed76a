"""The music's tempo (the beat tracker's `audio.bpm`) proposed for `tempo.bpm`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vjengine.tempo.arbiter import TempoArbiter

# The beat tracker's estimate of a steady tempo wanders by up to this (its accuracy, measured on click tracks).
# Within it the estimate is the same tempo measured again, so it is not proposed anew; past it, the arbiter's
# JITTER_BPM decides as for every source.
TRACKER_WANDER_BPM = 0.5


class AudioTempo:
    """Hands the beat tracker's tempo to the arbiter, once a frame, from the audio signals."""

    def __init__(self, arbiter: TempoArbiter) -> None:
        self.arbiter = arbiter
        self._last = 0.0

    def hear(self, signals: Mapping[str, float], state: Mapping[str, Any] | None = None) -> None:
        """The newest audio signals; `state` is the frame's snapshot (the store when left out)."""
        bpm = signals.get("audio.bpm", 0.0)
        if bpm <= 0:
            return
        if abs(bpm - self._last) >= TRACKER_WANDER_BPM:
            self._last = round(bpm, 1)
            self.arbiter.propose("audio", self._last, state=state)
        else:
            self.arbiter.present("audio", state=state)
