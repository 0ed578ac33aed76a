"""The music's signals from real sound files through `--audio file:` (played as fast as the analysis
takes them, so the stream's own sample count is the clock: no wall-clock intervals are measured)."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import soundfile

from tests.conftest import wait_for
from vjengine.audio import AudioAnalyser, open_input
from vjengine.audio.features import Features, Settings
from vjengine.audio.inputs import FileInput
from vjengine.errors import VJError
from vjengine.params import default_store

RATE = 48000


def click_track(seconds: float, bpm: float = 120.0, first: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """A 1 kHz click (10 ms, sharp decay) on every beat, and the clicks' times in seconds."""
    samples = np.zeros(int(seconds * RATE), dtype=np.float32)
    t = np.arange(int(0.01 * RATE)) / RATE
    click = (0.8 * np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.002)).astype(np.float32)
    times = np.arange(first, seconds - 0.02, 60.0 / bpm)
    for at in times:
        start = int(at * RATE)
        samples[start : start + len(click)] += click
    return samples, times


def tone(hz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)


def write(tmp_path, name: str, samples: np.ndarray) -> str:
    path = tmp_path / name
    soundfile.write(str(path), samples, RATE)
    return str(path)


class Recorder:
    """Every hop's signals with the stream time (seconds) they were published at."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.values: list[dict[str, float]] = []

    def __call__(self, samples: int, signals: dict[str, float]) -> None:
        self.times.append(samples / RATE)
        self.values.append(dict(signals))

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.times), np.array([v[name] for v in self.values])

    def at(self, seconds: float) -> dict[str, float]:
        return self.values[int(np.searchsorted(self.times, seconds))]


def analyse_file(path: str, seconds: float, store=None) -> Recorder:
    """Play `path` (looped) into an AudioAnalyser until `seconds` of it were analysed."""
    store = store or default_store()
    recorder = Recorder()
    analyser = AudioAnalyser(FileInput(path, realtime=False), store, on_hop=recorder)
    analyser.start()
    try:
        assert wait_for(lambda: bool(recorder.times) and recorder.times[-1] >= seconds, timeout=120)
    finally:
        analyser.close()
    return recorder


def onset_times(recorder: Recorder) -> np.ndarray:
    """When audio.onset jumped to 1 (the hop that detected it)."""
    times, onset = recorder.series("audio.onset")
    return times[onset == 1.0]


def test_every_click_is_an_onset_within_30_ms(tmp_path):
    samples, clicks = click_track(4.0)
    recorder = analyse_file(write(tmp_path, "clicks.wav", samples), 3.9)
    found = onset_times(recorder)
    assert len(found) == len(clicks)
    delays = found - clicks
    assert np.all(delays >= 0) and np.all(delays < 0.030), delays


def test_the_tempo_of_a_120_bpm_click_track_is_found_within_8_seconds(tmp_path):
    samples, _ = click_track(9.0)
    recorder = analyse_file(write(tmp_path, "clicks.wav", samples), 8.0)
    assert abs(recorder.at(8.0)["audio.bpm"] - 120.0) <= 2.0


def test_the_beat_pulses_once_per_beat_after_locking(tmp_path):
    samples, _ = click_track(14.0)
    recorder = analyse_file(write(tmp_path, "clicks.wav", samples), 13.9)
    times, beat = recorder.series("audio.beat")
    pulses = times[beat == 1.0]
    late = pulses[pulses >= 7.0]
    assert len(late) in (13, 14)  # 7 s at 120 bpm, none skipped
    assert np.allclose(np.diff(late), 0.5, atol=0.03)


def test_level_is_silent_in_the_silence_between_sections(tmp_path):
    clicks, _ = click_track(2.0, bpm=480)  # dense clicks: a loud section
    samples = np.concatenate((clicks, np.zeros(2 * RATE, dtype=np.float32), clicks))
    recorder = analyse_file(write(tmp_path, "sections.wav", samples), 5.9)
    assert recorder.at(1.9)["audio.level"] > 0.2
    assert recorder.at(3.9)["audio.level"] < 0.01
    assert recorder.at(5.9)["audio.level"] > 0.2


@pytest.mark.parametrize(("hz", "band"), [(80.0, "audio.low"), (1000.0, "audio.mid"), (6000.0, "audio.high")])
def test_a_tone_fills_its_own_band(tmp_path, hz, band):
    recorder = analyse_file(write(tmp_path, f"{hz}.wav", tone(hz, 2.0)), 1.9)
    values = recorder.at(1.9)
    others = [values[name] for name in ("audio.low", "audio.mid", "audio.high") if name != band]
    assert values[band] > 0.5
    assert max(others) < 0.2 * values[band]


def test_band_edges_are_parameters(tmp_path):
    store = default_store()
    store.set("audio.low_edge", 1500.0)  # a 1 kHz tone is now bass
    recorder = analyse_file(write(tmp_path, "1k.wav", tone(1000.0, 2.0)), 1.9, store)
    values = recorder.at(1.9)
    assert values["audio.low"] > 0.5 and values["audio.mid"] < 0.2 * values["audio.low"]


def test_the_centroid_rises_with_brightness(tmp_path):
    dull = analyse_file(write(tmp_path, "dull.wav", tone(100.0, 1.0)), 0.9).at(0.9)["audio.centroid"]
    bright = analyse_file(write(tmp_path, "bright.wav", tone(5000.0, 1.0)), 0.9).at(0.9)["audio.centroid"]
    assert 0.0 < dull < bright <= 1.0
    assert bright - dull > 0.5


def test_automatic_gain_brings_a_quiet_input_up_to_full_scale(tmp_path):
    quiet = tone(440.0, 3.0, amplitude=0.02)  # -34 dBFS
    recorder = analyse_file(write(tmp_path, "quiet.wav", quiet), 2.9)
    assert recorder.at(2.9)["audio.level"] > 0.6


def test_without_automatic_gain_a_quiet_input_stays_quiet(tmp_path):
    store = default_store()
    store.set("audio.adapt", 0.0)
    recorder = analyse_file(write(tmp_path, "quiet.wav", tone(440.0, 3.0, amplitude=0.02)), 2.9, store)
    assert recorder.at(2.9)["audio.level"] < 0.05


def test_the_onset_envelope_decays_with_audio_release(tmp_path):
    store = default_store()
    store.set("audio.release", 0.2)
    samples, clicks = click_track(2.0, bpm=60)  # one click a second
    recorder = analyse_file(write(tmp_path, "slow.wav", samples), 1.9, store)
    onset = onset_times(recorder)[0]
    after = recorder.at(onset + 0.2)["audio.onset"]
    assert after == pytest.approx(math.exp(-1), abs=0.05)


def test_the_gain_scales_the_level(tmp_path):
    store = default_store()
    store.set("audio.gain", 0.5)
    recorder = analyse_file(write(tmp_path, "tone.wav", tone(440.0, 2.0)), 1.9, store)
    assert recorder.at(1.9)["audio.level"] == pytest.approx(0.5, abs=0.05)


def test_disabled_analysis_reads_rest(tmp_path):
    store = default_store()
    analyser = AudioAnalyser(FileInput(write(tmp_path, "tone.wav", tone(440.0, 1.0)), realtime=False), store)
    analyser.start()
    try:
        assert wait_for(lambda: analyser.analyse()["audio.level"] > 0.3)
        store.set("audio.enabled", False)
        assert set(analyser.analyse().values()) == {0.0}
    finally:
        analyser.close()


def test_signals_glide_to_rest_when_the_audio_stops():
    store = default_store()
    features = Features(RATE)
    settings = Settings.from_store(store)
    hop = tone(440.0, features.hop / RATE)
    for _ in range(200):
        loud = features.process(hop, settings)
    rested = features.rest(settings.release, settings)
    assert loud["audio.level"] > 0.5
    assert rested["audio.level"] == pytest.approx(loud["audio.level"] * math.exp(-1), rel=0.05)
    assert features.rest(10 * settings.release, settings)["audio.level"] < 0.001


def test_a_file_loops(tmp_path):
    path = write(tmp_path, "short.wav", tone(440.0, 0.5))
    source = FileInput(path, realtime=False)
    analyser = AudioAnalyser(source, default_store())
    analyser.start()
    try:
        assert wait_for(lambda: source.loops >= 3)
    finally:
        analyser.close()


def test_a_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(VJError, match="no such file"):
        open_input(f"file:{tmp_path / 'nope.wav'}")


def test_a_file_that_is_not_sound_is_a_one_line_error(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("not audio")
    with pytest.raises(VJError, match="cannot read it as sound"):
        open_input(f"file:{path}")


def test_a_missing_device_is_one_warning_and_the_signals_rest(caplog):
    store = default_store()
    analyser = AudioAnalyser(open_input("no such sound card 12345"), store)
    with caplog.at_level(logging.WARNING, logger="vjengine.audio"):
        analyser.start()
        try:
            assert wait_for(lambda: any("no such sound card" in r.getMessage() for r in caplog.records))
            assert analyser.analyse()["audio.level"] == 0.0 and not analyser.connected
        finally:
            analyser.close()
    lines = [r for r in caplog.records if "no such sound card" in r.getMessage()]
    assert len(lines) == 1
    assert "going on without audio" in lines[0].getMessage()


def test_bench_audio_reports_every_click_and_its_latency():
    from vjengine.audio.bench import bench_audio

    result = bench_audio(seconds=6.0)
    assert result["onsets"] == result["clicks"] == 12
    assert 0.0 <= result["onset_delay_ms_median"] <= result["onset_delay_ms_max"] < 30.0


def test_a_failing_analysis_is_said_once_and_keeps_the_last_signals(tmp_path, caplog):
    store = default_store()
    analyser = AudioAnalyser(FileInput(write(tmp_path, "tone.wav", tone(440.0, 1.0)), realtime=False), store)
    analyser.start()
    try:
        assert wait_for(lambda: analyser.latest()["audio.level"] > 0.3)
        with caplog.at_level(logging.ERROR, logger="vjengine.audio"):
            analyser.features.process = None  # the analysis itself breaks (a stand-in for a library fault)
            assert wait_for(lambda: analyser.failures >= 2, timeout=60)
        assert analyser.latest()["audio.level"] > 0.3
        assert len([r for r in caplog.records if "audio analysis failed" in r.getMessage()]) == 1
    finally:
        analyser.close()
