"""The music's parts of a run, assembled in one place: the audio input and its analysis, and the tempo
service started (taps, Ableton Link) and told to follow the music's tempo.

Every part is optional and none stops the show: a missing sound card or JACK server is retried in the
background, a missing aalink is one line and the engine runs without Link.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from vjengine.audio import AudioAnalyser, open_input
from vjengine.params import ParamStore
from vjengine.tempo.service import Tempo

log = logging.getLogger(__name__)


@dataclass
class Music:
    """What the engine runs for the music; `analysers` go before the modulation, in this order (the
    audio analyser, then the tempo's per-frame tick)."""

    tempo: Tempo
    audio: AudioAnalyser | None = None
    analysers: list[Any] = field(default_factory=list)

    def summary(self) -> str:
        """The status line's part: tempo, Link peers, the level meter."""
        parts = [self.tempo.summary()]
        if self.audio is not None:
            level = self.audio.latest().get("audio.level", 0.0)
            parts.append(f"audio {level_meter(level)}" if self.audio.connected else "audio DOWN")
        return ", ".join(parts)

    def close(self) -> None:
        """Close the audio input and the tempo (taps, the Link session)."""
        if self.audio is not None:
            self.audio.close()
        self.tempo.close()


def level_meter(level: float, width: int = 8) -> str:
    """A text meter for the status line: `[####    ]`."""
    filled = max(0, min(width, round(level * width)))
    return "[" + "#" * filled + " " * (width - filled) + "]"


def open_music(audio_spec: str, link: bool, store: ParamStore, tempo: Tempo | None = None) -> Music:
    """Start the music's parts for a run (`--audio SPEC`, `--link`) around `tempo`, the run's tempo (a new
    one when left out, for a run without controllers); a bad file spec is a VJError."""
    tempo = tempo or Tempo(store)
    source = open_input(audio_spec)
    tempo.start(link=link)
    music = Music(tempo, analysers=[tempo])
    if source is not None:
        music.audio = AudioAnalyser(source, store)
        music.audio.start()
        music.analysers.insert(0, music.audio)
        tempo.follow_audio(music.audio)
        log.info("audio input: %s (its tempo proposed for tempo.bpm as tempo.source allows)", source.name)
    return music
