"""Who may set `tempo.bpm`: the automatic sources (Link, a MIDI clock, the music's tempo) propose, and
`tempo.source` decides. Hands (OSC, a MIDI control, taps, the config) always set it directly.

With `tempo.source = auto`, a source outranks the ones below it while it keeps proposing: Link (only
with peers: alone, it is just our own tempo), then a running MIDI clock, then the music. A source that
fell silent for HOLD_SECONDS no longer holds the tempo, so the next one takes over.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

from vjengine.params import ParamStore

RANK = {"link": 3, "clock": 2, "audio": 1}
HOLD_SECONDS = 2.0
MIN_CHANGE_BPM = 0.05  # smaller differences are rounding between peers, not a tempo change


class TempoArbiter:
    """Decides, per proposal, whether an automatic source sets `tempo.bpm` now."""

    def __init__(self, store: ParamStore, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.clock = store, clock
        self._heard: dict[str, float] = {}  # source -> when it was last heard from
        self._last: dict[str, float] = {}  # source -> the last tempo it measured
        self._lock = threading.Lock()
        self.accepted = dict.fromkeys(RANK, 0)  # proposals that set the tempo, per source
        self._anchors: dict[str, tuple[float, float]] = {}  # source -> (its beat count, when), for the phase

    def propose(self, source: str, bpm: float) -> bool:
        """`source` (link, clock, audio) has measured `bpm`; True when it holds tempo.bpm now."""
        self._last[source] = bpm
        return self.present(source)

    def present(self, source: str) -> bool:
        """`source` is still running (a clock tick, a Link poll) though its tempo did not change; its last
        tempo is applied again if it holds the tempo now (it may have just been given it)."""
        now = self.clock()
        with self._lock:
            self._heard[source] = now
            if not self._allowed(source, now):
                return False
        bpm = self._last.get(source, 0.0)
        if bpm > 0 and abs(self.store.get("tempo.bpm") - bpm) >= MIN_CHANGE_BPM:
            self.store.set("tempo.bpm", bpm, source=source)
            self.accepted[source] += 1
        return True

    def _allowed(self, source: str, now: float) -> bool:
        chosen = self.store.get("tempo.source")
        if chosen != "auto":
            return chosen == source
        return not any(
            RANK[other] > RANK[source] and now - heard < HOLD_SECONDS for other, heard in self._heard.items()
        )

    def anchor(self, source: str, beats: float, at: float) -> None:
        """`source` counted `beats` beats at time `at` (this arbiter's clock): a MIDI clock's ticks since Start."""
        self._anchors[source] = (beats, at)

    def anchors(self) -> dict[str, tuple[float, float]]:
        """Each counting source's last (beat count, time), e.g. {"clock": (7.96, 12.3)}."""
        return dict(self._anchors)

    def beats(self) -> float | None:
        """The leading source's beat count extrapolated to now at tempo.bpm, or None when the leader keeps
        no count (the music) or nothing leads."""
        anchor = self._anchors.get(self.leader())
        if anchor is None:
            return None
        beats, at = anchor
        return beats + (self.clock() - at) * self.store.get("tempo.bpm") / 60.0

    def leader(self) -> str:
        """The automatic source holding the tempo now, or "" (for the status line)."""
        now = self.clock()
        with self._lock:
            live = [s for s, heard in self._heard.items() if now - heard < HOLD_SECONDS and self._allowed(s, now)]
        return max(live, key=RANK.__getitem__, default="")


_ARBITERS: weakref.WeakKeyDictionary[ParamStore, TempoArbiter] = weakref.WeakKeyDictionary()
_ARBITERS_LOCK = threading.Lock()


def arbiter_for(store: ParamStore) -> TempoArbiter:
    """The one arbiter of `store`'s tempo, made on first use: every source of one engine shares it."""
    with _ARBITERS_LOCK:
        arbiter = _ARBITERS.get(store)
        if arbiter is None:
            arbiter = _ARBITERS[store] = TempoArbiter(store)
        return arbiter
