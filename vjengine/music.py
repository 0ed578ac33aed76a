"""The music's parts of a run, assembled in one place: the audio input and its analysis, the tempo's
phase and LFOs, Ableton Link, and the music's tempo proposed for `tempo.bpm`.

Every part is optional and none stops the show: a missing sound card or JACK server is retried in the
background, a missing aalink is one line and the engine runs without Link.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vjengine.audio import AudioAnalyser, open_input
from vjengine.params import ParamStore
from vjengine.tempo.arbiter import TempoArbiter, arbiter_for
from vjengine.tempo.lfo import Lfos
from vjengine.tempo.link import LinkError, LinkSession
from vjengine.tempo.phase import TempoPhase
from vjengine.tempo.quantize import BeatQuantizer

log = logging.getLogger(__name__)

AUDIO_TEMPO_STEP = 0.5  # bpm: the beat tracker's estimate wanders by less than this; it is not a tempo change


class AudioTempo:
    """A signal listener: the beat tracker's `audio.bpm` proposed as the engine's tempo."""

    def __init__(self, arbiter: TempoArbiter) -> None:
        self.arbiter = arbiter
        self._last = 0.0

    def __call__(self, signals: dict[str, float]) -> None:
        bpm = signals.get("audio.bpm", 0.0)
        if bpm <= 0:
            return
        if abs(bpm - self._last) >= AUDIO_TEMPO_STEP:
            self._last = round(bpm, 1)
            self.arbiter.propose("audio", self._last)
        else:
            self.arbiter.present("audio")


@dataclass
class Music:
    """What the engine runs for the music; `analysers` go before the modulation, in this order."""

    phase: TempoPhase
    quantizer: BeatQuantizer
    audio: AudioAnalyser | None = None
    link: LinkSession | None = None
    analysers: list[Any] = field(default_factory=list)
    signal_listeners: list[Callable[[dict[str, float]], None]] = field(default_factory=list)

    def summary(self) -> str:
        """The status line's part: tempo, Link peers, the level meter."""
        bpm = self.phase.store.get("tempo.bpm")
        parts = [f"tempo {bpm:.1f} bpm" if bpm > 0 else "no tempo"]
        if self.link is not None:
            parts.append(f"link {self.link.peers} peer{'s' if self.link.peers != 1 else ''}")
        if self.audio is not None:
            level = self.audio.latest().get("audio.level", 0.0)
            parts.append(f"audio {level_meter(level)}" if self.audio.connected else "audio DOWN")
        return ", ".join(parts)

    def close(self) -> None:
        """Close the audio input and leave the Link session."""
        for part in (self.audio, self.link):
            if part is not None:
                part.close()


def level_meter(level: float, width: int = 8) -> str:
    """A text meter for the status line: `[####    ]`."""
    filled = max(0, min(width, round(level * width)))
    return "[" + "#" * filled + " " * (width - filled) + "]"


def open_music(audio_spec: str, link: bool, store: ParamStore, clock: Callable[[], float] = time.monotonic) -> Music:
    """Start the music's parts for a run (`--audio SPEC`, `--link`); a bad file spec is a VJError."""
    arbiter = arbiter_for(store)
    session = _join_link(store, arbiter) if link else None
    phase = TempoPhase(store, clock, source=session, leader=arbiter)
    quantizer = BeatQuantizer(store, phase)
    music = Music(phase, quantizer, link=session, analysers=[phase, Lfos(store, phase, clock), quantizer])
    source = open_input(audio_spec)
    if source is not None:
        music.audio = AudioAnalyser(source, store)
        music.audio.start()
        music.analysers.insert(0, music.audio)
        music.signal_listeners.append(AudioTempo(arbiter))
        log.info("audio input: %s (its tempo proposed for tempo.bpm as tempo.source allows)", source.name)
    return music


def _join_link(store: ParamStore, arbiter: TempoArbiter) -> LinkSession | None:
    session = LinkSession(store, arbiter)
    try:
        session.start()
    except LinkError as exc:
        log.warning("Link: %s; going on without it", exc)
        return None
    log.info("Link: joined the session at %.1f bpm", session.tempo)
    return session
