"""`vjengine bench audio`: what the music's analysis costs (CPU share of one core) and how late it reports
onsets, on a generated 120 bpm click track with a noise floor, or on a file of the user's."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vjengine.audio.features import HOP, Features, Settings
from vjengine.audio.inputs import read_mono
from vjengine.params import default_store

RATE = 48000
NOISE_FLOOR = 0.01  # -40 dBFS of noise under the clicks: a room, not a DAW's digital silence


def click_track(seconds: float, bpm: float = 120.0) -> tuple[np.ndarray, np.ndarray]:
    """A 1 kHz click (10 ms) on every beat over a noise floor, and the clicks' times in seconds."""
    rng = np.random.default_rng(0)
    samples = rng.normal(0.0, NOISE_FLOOR, int(seconds * RATE)).astype(np.float32)
    t = np.arange(int(0.01 * RATE)) / RATE
    click = (0.8 * np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.002)).astype(np.float32)
    times = np.arange(0.25, seconds - 0.02, 60.0 / bpm)
    for at in times:
        start = int(at * RATE)
        samples[start : start + len(click)] += click
    return samples, times


def bench_audio(file: str | None = None, seconds: float = 60.0) -> dict:
    """Analyse `seconds` of the click track (or of `file`) hop by hop on this thread; cost and latency."""
    if file:
        (samples, rate), clicks = read_mono(Path(file).expanduser(), seconds), None
    else:
        (samples, clicks), rate = click_track(seconds), RATE
    features, settings = Features(rate), Settings.from_store(default_store())
    onsets, per_hop = [], []
    started = time.thread_time()
    for k in range(len(samples) // HOP):
        before = time.perf_counter()
        signals = features.process(samples[k * HOP : (k + 1) * HOP], settings)
        per_hop.append(time.perf_counter() - before)
        if signals["audio.onset"] == 1.0:
            onsets.append(features.samples / rate)
    cpu = time.thread_time() - started
    audio_seconds = features.samples / rate
    result = {
        "source": file or "click track, 120 bpm",
        "seconds": round(audio_seconds, 2),
        "cpu_percent_of_a_core": round(100.0 * cpu / audio_seconds, 2),
        "hop_us_median": round(float(np.median(per_hop)) * 1e6, 1),
        "onsets": len(onsets),
        "bpm": round(features.bpm, 2),
    }
    if clicks is not None:
        found = np.asarray(onsets)
        delays = [found[found >= c][0] - c for c in clicks if (found >= c).any()]
        result["clicks"] = len(clicks)
        result["onset_delay_ms_median"] = round(float(np.median(delays)) * 1000, 1) if delays else None
        result["onset_delay_ms_max"] = round(float(np.max(delays)) * 1000, 1) if delays else None
    return result


def summary(result: dict) -> str:
    """The human-readable lines of `bench_audio`'s result."""
    text = (
        f"audio analysis of {result['seconds']} s of {result['source']}: {result['cpu_percent_of_a_core']}% of a core "
        f"(median {result['hop_us_median']} us per {HOP}-sample hop); {result['onsets']} onsets, {result['bpm']} bpm"
    )
    if "clicks" in result:
        text += (
            f"\n{result['clicks']} clicks: onsets reported {result['onset_delay_ms_median']} ms after them "
            f"(median), {result['onset_delay_ms_max']} ms at most"
        )
    return text
