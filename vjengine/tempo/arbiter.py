"""Who may set `tempo.bpm`: the automatic sources (Link, a MIDI clock, the music's tempo) propose, and
`tempo.source` decides. Hands (OSC, a MIDI control, taps, the config) always set it directly.

With `tempo.source = auto`, a source outranks the ones below it while it keeps proposing: Link (only
with peers: alone, it is just our own tempo), then a running MIDI clock, then the music. A source that
fell silent for HOLD_SECONDS no longer holds the tempo, so the next one takes over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from vjengine.params import ParamStore

RANK = {"link": 3, "clock": 2, "audio": 1}
HOLD_SECONDS = 2.0
# Two tempos closer than this are one tempo: rounding between Link peers, a clock's last digit. Every
# "is this a tempo change?" in the engine (the arbiter, Link, a MIDI clock's follower) asks this one number.
JITTER_BPM = 0.05


def is_tempo_change(before: float, after: float) -> bool:
    """Whether going from `before` to `after` bpm is a new tempo rather than jitter."""
    return abs(after - before) >= JITTER_BPM


class TempoArbiter:
    """Decides, per proposal, whether an automatic source sets `tempo.bpm` now.

    Sources on their own threads (Link, MIDI) leave `state` out and the store is read; the render thread
    passes the frame's snapshot, so the per-frame path never polls the store.
    """

    def __init__(self, store: ParamStore, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.clock = store, clock
        self._heard: dict[str, float] = {}  # source -> when it was last heard from
        self._last: dict[str, float] = {}  # source -> the last tempo it measured
        self._lock = threading.Lock()
        self.accepted = dict.fromkeys(RANK, 0)  # proposals that set the tempo, per source
        self._anchors: dict[str, tuple[float, float]] = {}  # source -> (its beat count, when), for the phase

    def propose(self, source: str, bpm: float, at: float | None = None, state: Mapping[str, Any] | None = None) -> bool:
        """`source` (link, clock, audio) has measured `bpm` at time `at` (this arbiter's clock, now when
        left out); True when it holds tempo.bpm now."""
        self._last[source] = bpm
        return self.present(source, at, state)

    def present(self, source: str, at: float | None = None, state: Mapping[str, Any] | None = None) -> bool:
        """`source` is still running (a clock tick, a Link poll) though its tempo did not change; its last
        tempo is applied again if it holds the tempo now (it may have just been given it)."""
        now = self.clock() if at is None else at
        read = self.store.get if state is None else state.__getitem__
        with self._lock:
            self._heard[source] = now
            if not self._allowed(source, now, read("tempo.source")):
                return False
        bpm = self._last.get(source, 0.0)
        if bpm > 0 and is_tempo_change(read("tempo.bpm"), bpm):
            self.store.set("tempo.bpm", bpm, source=source)
            self.accepted[source] += 1
        return True

    def _allowed(self, source: str, now: float, chosen: str) -> bool:
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

    def beats(self, bpm: float, chosen: str) -> float | None:
        """The leading source's beat count extrapolated to now at `bpm`, or None when the leader keeps no
        count (the music) or nothing leads. `bpm` and `chosen` (tempo.source) come from the frame's snapshot."""
        anchor = self._anchors.get(self.leader(chosen))
        if anchor is None:
            return None
        beats, at = anchor
        return beats + (self.clock() - at) * bpm / 60.0

    def leader(self, chosen: str | None = None) -> str:
        """The automatic source holding the tempo now, or "" (for the status line); `chosen` is tempo.source
        (read from the store when left out)."""
        chosen = self.store.get("tempo.source") if chosen is None else chosen
        now = self.clock()
        with self._lock:
            live = [
                s for s, heard in self._heard.items() if now - heard < HOLD_SECONDS and self._allowed(s, now, chosen)
            ]
        return max(live, key=RANK.__getitem__, default="")
