"""The engine's one tempo: built once per run and handed to whoever feeds or reads it.

It holds who sets `tempo.bpm` (the arbiter, by `tempo.source`), the beat count and its phase, the
quantiser that holds actions for the next beat or bar, the LFOs, tap tempo, a MIDI clock's input, the
music's tempo and Ableton Link. Sources on their own threads feed it (MIDI, Link, taps); the render loop
ticks it once a frame (`update`), with the frame's snapshot and the engine's clock, and takes the
`tempo.*` and `lfo.*` signals back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from vjengine.params import ParamStore
from vjengine.tempo.arbiter import TempoArbiter
from vjengine.tempo.audio import AudioTempo
from vjengine.tempo.lfo import lfo_signals
from vjengine.tempo.link import LinkError, LinkSession
from vjengine.tempo.midiclock import MidiClockIn
from vjengine.tempo.phase import BeatCount, phase_signals
from vjengine.tempo.quantize import Action, BeatQuantizer
from vjengine.tempo.tap import TapTempo

log = logging.getLogger(__name__)


class SignalSource(Protocol):
    """What the music's tempo is read from: the audio analyser's newest signals."""

    def latest(self) -> dict[str, float]: ...


class Tempo:
    """One tempo for a run. `clock` (seconds, `time.monotonic` by default) times what sources report
    from their threads (a MIDI clock's ticks, how long a source has been silent); the beat count itself
    moves with the `now` each `update` is given."""

    name = "tempo"

    def __init__(self, store: ParamStore, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.clock = store, clock
        self.arbiter = TempoArbiter(store, clock)
        self.count = BeatCount()
        self.quantizer = BeatQuantizer(store, self.count, self._runs)
        self.tap = TapTempo(store, clock)
        self.midi_clock = MidiClockIn(self.arbiter)
        self.link: LinkSession | None = None
        self._audio: SignalSource | None = None
        self._audio_tempo = AudioTempo(self.arbiter)
        self._first_tick: float | None = None  # LFOs in Hz count their cycles from it

    # -- life cycle -------------------------------------------------------------------------------

    def start(self, link: bool = False) -> None:
        """With `link`, join the Ableton Link session (no aalink: one warning). Taps come as the `tempo.tap`
        action (`vjengine.control.actions`), whichever surface sends them."""
        if link:
            self.link = self._join_link()

    def close(self) -> None:
        """Leave the Link session."""
        if self.link is not None:
            self.link.close()
            self.link = None

    def _join_link(self) -> LinkSession | None:
        session = LinkSession(self.store, self.arbiter)
        try:
            session.start()
        except LinkError as exc:
            log.warning("Link: %s; going on without it", exc)
            return None
        log.info("Link: joined the session at %.1f bpm", session.tempo)
        return session

    # -- what feeds it ----------------------------------------------------------------------------

    def follow_audio(self, audio: SignalSource) -> None:
        """Propose the music's tempo (`audio.bpm` of `audio`'s newest signals) each frame, as tempo.source allows."""
        self._audio = audio

    def clock_message(self, kind: str, at: float) -> None:
        """A MIDI clock's clock/start/continue/stop message, stamped with this tempo's clock on arrival."""
        self.midi_clock.message(kind, at)

    @property
    def clock_bpm(self) -> float | None:
        """The followed MIDI clock's tempo, None before it has one."""
        return self.midi_clock.bpm

    def defer(self, action: Action) -> None:
        """Run `action` at the next beat or bar `preset.quantize` names (on a later tick), or now when it is
        off or no tempo runs."""
        self.quantizer.defer(action)

    def _runs(self) -> bool:
        return self.store.get("tempo.bpm") > 0 or self.link is not None

    # -- the tick ---------------------------------------------------------------------------------

    def update(self, frame: Any, snapshot: Mapping[str, Any], now: float) -> dict[str, float]:
        """Once a frame: the music's tempo offered, the beat count moved to `now` (the engine's clock),
        what the quantiser holds run when its boundary is reached; the `tempo.*` and `lfo.*` signals.
        Reads the frame's `snapshot`, never the store; `frame` is not looked at."""
        if self._audio is not None and snapshot["audio.enabled"]:
            self._audio_tempo.hear(self._audio.latest(), snapshot)
        bpm = snapshot["tempo.bpm"]
        shared = self.link.beats() if self.link is not None else None
        if shared is None:
            shared = self.arbiter.beats(bpm, snapshot["tempo.source"])
        beats = self.count.advance(now, bpm, shared)
        self.quantizer.run_due(beats)
        if self._first_tick is None:
            self._first_tick = now
        return {
            **phase_signals(beats, snapshot["tempo.quantum"]),
            **lfo_signals(snapshot, now - self._first_tick, beats),
        }

    def summary(self) -> str:
        """The status line's part: the tempo, and Link's peers when in a session."""
        bpm = self.store.get("tempo.bpm")
        parts = [f"tempo {bpm:.1f} bpm" if bpm > 0 else "no tempo"]
        if self.link is not None:
            parts.append(f"link {self.link.peers} peer{'s' if self.link.peers != 1 else ''}")
        return ", ".join(parts)
