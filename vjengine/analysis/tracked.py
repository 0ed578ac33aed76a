"""Signals of a tracked thing (a hand, a face, a body) that never jump when it is lost or found.

While the thing is seen, its live values pass straight through. When detections have gone on
without it for longer than the grace period it is released: the signals glide exponentially to
their rest values. Only detections release it, not the clock, so a still picture (no new frames,
no new detections) keeps its hand. When a thing is (re)acquired, the signals glide from wherever
they were to the new live values. Both glides are a decaying offset on top of the target, so a
tracked hand's motion is never delayed, only the jumps are softened; a glide never starts before
the last published value, so publishing never jumps either. Time is passed in, so the behaviour is
deterministic and testable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from vjengine.analysis.base import Signals
from vjengine.kit import approach


def wrap_degrees(angle: float) -> float:
    """`angle` in degrees, wrapped into [-180, 180)."""
    return (angle + 180.0) % 360.0 - 180.0


class SignalFade:
    """Holds, releases and blends one tracked thing's signals (see the module docstring).

    `rest` names every signal and its value when nothing is tracked; `angles` names the signals in
    degrees, which glide the short way round. `grace` is how long (s) a lost thing is held before it
    is released; `release` is the time constant (s) of the glides (0: jump at once).
    """

    def __init__(self, rest: Mapping[str, float], grace: float, release: float, angles: Iterable[str] = ()) -> None:
        self.rest = dict(rest)
        self.grace = grace
        self.release = release
        self.angles = frozenset(angles)
        self._live: Signals = dict(self.rest)
        self._offset: Signals = dict.fromkeys(self.rest, 0.0)
        self._offset_since = 0.0
        self._last_seen: float | None = None
        self._last_published = -math.inf

    @property
    def tracking(self) -> bool:
        """True from `track` until the grace period after the last sighting ends (or `drop`)."""
        return self._last_seen is not None

    def track(self, values: Mapping[str, float], t: float, new: bool = False) -> None:
        """A detection at `t` saw the thing with these values; `new` marks a different thing than before."""
        self.expire(t)
        if new or not self.tracking:
            self._glide_to(values, t)
        self._live = {name: float(values.get(name, rest)) for name, rest in self.rest.items()}
        self._last_seen = t if self._last_seen is None else max(self._last_seen, t)

    def drop(self, t: float) -> None:
        """Release now, without waiting for the grace period (e.g. the choice of hand changed)."""
        if self.tracking:
            self._glide_to(self.rest, t)
            self._live, self._last_seen = dict(self.rest), None

    def signals(self, t: float) -> Signals:
        """The values to publish at time `t`."""
        self._last_published = max(self._last_published, t)
        return self._value(t)

    def expire(self, t: float) -> None:
        """A detection at `t` did not see the thing: release it if the grace period has ended."""
        if self._last_seen is not None and t - self._last_seen > self.grace:
            released_at = self._last_seen + self.grace
            self._glide_to(self.rest, released_at)
            self._live, self._last_seen = dict(self.rest), None

    def _glide_to(self, target: Mapping[str, float], t: float) -> None:
        """Start a glide at `t` (or the last publication, if later) from the output then to `target`."""
        t = max(t, self._last_published)
        now = self._value(t)
        self._offset = {name: self._difference(name, now[name], float(target.get(name, now[name]))) for name in now}
        self._offset_since = t

    def _value(self, t: float) -> Signals:
        if self.release <= 0:
            return dict(self._live)
        elapsed = t - self._offset_since
        out = {}
        for name, live in self._live.items():
            value = approach(live + self._offset[name], live, elapsed, self.release)  # the offset decays
            out[name] = wrap_degrees(value) if name in self.angles else value
        return out

    def _difference(self, name: str, a: float, b: float) -> float:
        return wrap_degrees(a - b) if name in self.angles else a - b
