"""The music's signals, computed hop by hop from a mono stream: causal, so nothing waits for the future.

Onsets, beats and the tempo come from aubio (the maintained `aubio-ledfx` fork: C, causal, made for
live input). Loudness, the three bands and the brightness are our own few lines on one FFT per hop:
aubio has no automatic gain, and its filter banks are fixed mel/triangle shapes where a VJ moves two
band edges live; a sum over FFT bins is all that takes.

Latency at 48 kHz with the default hop of 256 samples: a hop is 5.3 ms, the FFT window 1024 samples
(21 ms, centred 10.7 ms back); aubio reports an onset one or two hops after it (measured: 18-21 ms
after the click's first sample).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from vjengine.kit import Smoother

HOP = 256  # samples per analysis step: 5.3 ms at 48 kHz
SLOW = 2  # the spectrum and the beat tracker step every SLOW hops
WINDOW = 1024  # FFT length: 47 Hz bins at 48 kHz, fine enough for a bass band below 200 Hz

SIGNALS = (
    "audio.level",
    "audio.low",
    "audio.mid",
    "audio.high",
    "audio.onset",
    "audio.beat",
    "audio.bpm",
    "audio.centroid",
)
REST: dict[str, float] = dict.fromkeys(SIGNALS, 0.0)

SILENCE_DB = -60.0  # RMS below this (dBFS) is silence: the gain never lifts the noise floor into a picture
REFERENCE_FLOOR = 10 ** (-40.0 / 20)  # the automatic gain never boosts more than a -40 dBFS signal to full scale
ONSET_SILENCE_DB = -120.0  # the dither keeps every hop above it
DITHER = 1e-5  # -100 dBFS
DITHER_HOPS = 61  # hops of noise cycled through: a repeating pattern would be a spectrum of its own
BEAT_PULSE_SECONDS = 0.1  # audio.beat falls from 1 to 1/e in this time: a flash, whatever audio.release is
FLYWHEEL_BEATS = 8  # beats the pulse runs on without the tracker
MIN_TEMPO_CONFIDENCE = 0.1  # aubio's confidence below this: the tempo estimate is a guess, keep the last one
CENTROID_LOW, CENTROID_HIGH = 50.0, 12000.0  # Hz mapped to audio.centroid 0 and 1, on a log scale


@dataclass
class Settings:
    """The audio.* parameters the analysis reads, taken from a snapshot each block batch."""

    gain: float = 1.0
    attack: float = 0.01
    release: float = 0.25
    adapt: float = 8.0
    low_edge: float = 200.0
    high_edge: float = 2000.0

    @classmethod
    def from_store(cls, store: Any) -> Settings:
        """The targets set now (`store.get`): the analysis thread must not take the render loop's snapshots."""
        return cls(*(store.get(f"audio.{name}") for name in _FIELDS))


_FIELDS = ("gain", "attack", "release", "adapt", "low_edge", "high_edge")


def follow(envelope: Smoother, target: float, dt: float, s: Settings) -> float:
    """Move an envelope `dt` seconds toward `target`: with `audio.attack` rising, `audio.release` falling."""
    envelope.rise, envelope.fall = s.attack, s.release
    return envelope.step(target, dt)


class AutoGain:
    """The loudest recent value, falling back over `adapt` seconds: dividing by it puts a quiet room mic
    and a hot line input on the same 0..1 scale within seconds, while a drop stays a drop for a while."""

    def __init__(self, floor: float) -> None:
        self.floor = floor
        self.reference = floor

    def normalise(self, value: float, dt: float, adapt: float) -> float:
        """`value` over the loudest recent one (`adapt` 0: as it is); the reference decays `dt` seconds."""
        if adapt <= 0:  # off: full scale is full scale
            return value
        self.reference = max(value, self.floor, self.reference * math.exp(-dt / adapt))
        return value / self.reference


class Features:
    """Turns hops of mono samples into the audio.* signals; one instance per stream, one thread."""

    def __init__(self, samplerate: int, hop: int = HOP, window: int = WINDOW) -> None:
        import aubio  # the maintained fork aubio-ledfx installs as `aubio`

        self.samplerate, self.hop, self.window = samplerate, hop, window
        self.dt = hop / samplerate
        self._onset = aubio.onset("specflux", window, hop, samplerate)
        self._onset.set_delay(0)  # report when detected, not the earlier time it estimates the onset began
        # aubio's default gate (-70 dB) also swallows the first onset after digital silence (a DAW's
        # render, a muted channel); with a lower gate and a dither far below any converter's noise it
        # sees every click of a click track.
        self._onset.set_silence(ONSET_SILENCE_DB)
        self._dither = np.random.default_rng(0).normal(0.0, DITHER, hop * DITHER_HOPS).astype(np.float32)
        # The tempo and the spectrum run every SLOW hops (10.7 ms at 48 kHz): a beat tracker predicts beats
        # anyway, and bands read at 90 Hz are smoother than any frame rate needs; it halves the cost.
        self._tempo = aubio.tempo("default", window, hop * SLOW, samplerate)
        self.slow_dt = self.dt * SLOW
        self._frame = np.zeros(window, dtype=np.float32)
        self._taper = np.hanning(window).astype(np.float32)
        self._freqs = np.fft.rfftfreq(window, 1.0 / samplerate)
        self._level, self._level_gain = Smoother(0.0, start=0.0), AutoGain(REFERENCE_FLOOR)
        self._bands = [Smoother(0.0, start=0.0) for _ in range(3)]
        self._band_gains = [AutoGain(REFERENCE_FLOOR**2 * window) for _ in range(3)]
        self._centroid = Smoother(0.0, start=0.0)
        self._slow: dict[str, float] = {name: 0.0 for name in SIGNALS if name not in ("audio.level", "audio.onset")}
        self.onset, self.beat, self.bpm = 0.0, 0.0, 0.0
        self._tracked_at = self._pulsed_at = -math.inf  # seconds of stream: aubio's last beat, our last pulse
        self._next_beat: float | None = None
        self.onsets = self.beats = 0  # counts since the start, for tests and the status line
        self.samples = 0  # samples analysed: the stream's own clock

    def process(self, hop: np.ndarray, settings: Settings) -> dict[str, float]:
        """One hop (exactly `self.hop` float32 samples) in; every signal's value after it out."""
        self.samples += len(hop)
        self._frame = np.concatenate((self._frame[len(hop) :], hop))
        rms = math.sqrt(float(hop @ hop) / len(hop))
        self._detect_onset(hop, settings)
        self.beat *= math.exp(-self.dt / BEAT_PULSE_SECONDS)
        if self.samples % (self.hop * SLOW) == 0:
            self._slow = {**self._spectrum(rms, settings), **self._track_beats()}
        self._slow["audio.beat"] = self.beat
        return {"audio.level": self._loudness(rms, settings), "audio.onset": self.onset, **self._slow}

    def rest(self, elapsed: float, settings: Settings) -> dict[str, float]:
        """No samples for `elapsed` seconds: every envelope falls toward rest; the tempo is kept."""
        s = settings
        self.onset *= math.exp(-elapsed / s.release) if s.release > 0 else 0.0
        self.beat *= math.exp(-elapsed / BEAT_PULSE_SECONDS)
        values = {"audio.level": follow(self._level, 0.0, elapsed, s)}
        for name, env in zip(("low", "mid", "high"), self._bands, strict=True):
            values[f"audio.{name}"] = follow(env, 0.0, elapsed, s)
        values["audio.centroid"] = follow(self._centroid, 0.0, elapsed, s)
        return {**values, "audio.onset": self.onset, "audio.beat": self.beat, "audio.bpm": self.bpm}

    def _loudness(self, rms: float, s: Settings) -> float:
        silent = rms < 10 ** (SILENCE_DB / 20)
        level = 0.0 if silent else min(1.0, s.gain * self._level_gain.normalise(rms, self.dt, s.adapt))
        return follow(self._level, level, self.dt, s)

    def _spectrum(self, rms: float, s: Settings) -> dict[str, float]:
        power = np.square(np.abs(np.fft.rfft(self._frame * self._taper)))
        cumulative = np.concatenate(([0.0], np.cumsum(power)))
        edges = np.searchsorted(self._freqs, sorted((s.low_edge, s.high_edge)))
        bounds = (0, int(edges[0]), int(edges[1]), len(power))
        silent = rms < 10 ** (SILENCE_DB / 20)
        values = {}
        for k, (name, env, agc) in enumerate(zip(("low", "mid", "high"), self._bands, self._band_gains, strict=True)):
            energy = float(cumulative[bounds[k + 1]] - cumulative[bounds[k]])
            # Square root: the bands move like the level (amplitude), not like power, which jumps 100x for 10x.
            target = 0.0 if silent else min(1.0, s.gain * math.sqrt(agc.normalise(energy, self.slow_dt, s.adapt)))
            values[f"audio.{name}"] = follow(env, target, self.slow_dt, s)
        total = float(cumulative[-1])
        hz = float((power * self._freqs).sum() / total) if total > 0 and not silent else CENTROID_LOW
        bright = math.log(max(hz, CENTROID_LOW) / CENTROID_LOW) / math.log(CENTROID_HIGH / CENTROID_LOW)
        values["audio.centroid"] = follow(self._centroid, min(1.0, bright), self.slow_dt, s)
        return values

    def _detect_onset(self, hop: np.ndarray, s: Settings) -> None:
        self.onset *= math.exp(-self.dt / s.release) if s.release > 0 else 0.0
        at = (self.samples // self.hop % DITHER_HOPS) * self.hop  # a different stretch of noise each hop
        if self._onset(hop + self._dither[at : at + self.hop])[0]:
            self.onset, self.onsets = 1.0, self.onsets + 1

    def _track_beats(self) -> dict[str, float]:
        """aubio's beat tracker on the last SLOW hops, with a flywheel of our own: aubio's tracker skips
        beats while it re-estimates (measured on a steady 120 bpm click track: gaps of 1.5 to 3 s every few
        seconds), so between its beats the pulse goes on at the tracked tempo, re-aligned by each of its
        beats, for FLYWHEEL_BEATS beats at most (then the music has stopped or changed)."""
        now = self.samples / self.samplerate
        period = 60.0 / self.bpm if self.bpm > 0 else 0.0
        if self._tempo(self._frame[-self.hop * SLOW :])[0]:
            if self._tempo.get_confidence() >= MIN_TEMPO_CONFIDENCE:
                self.bpm = float(self._tempo.get_bpm())
                period = 60.0 / self.bpm
            self._tracked_at = now
            if now - self._pulsed_at > period / 2:
                self._pulse(now)
            self._next_beat = now + period
        elif period and self._next_beat is not None and now >= self._next_beat:
            if now - self._tracked_at <= FLYWHEEL_BEATS * period:
                self._pulse(now)
            self._next_beat += period
        return {"audio.bpm": self.bpm}

    def _pulse(self, now: float) -> None:
        self.beat, self.beats, self._pulsed_at = 1.0, self.beats + 1, now
