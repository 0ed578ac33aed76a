"""One tempo for the engine: who sets tempo.bpm, the beat and bar phase, and the LFOs (injected clocks)."""

from __future__ import annotations

import math

import pytest

from tests.conftest import FakeClock
from vjengine.music import level_meter
from vjengine.params import default_store
from vjengine.tempo.arbiter import HOLD_SECONDS, TempoArbiter
from vjengine.tempo.audio import AudioTempo
from vjengine.tempo.lfo import shape_value
from vjengine.tempo.service import Tempo


def tick(tempo: Tempo, store, now: float) -> dict[str, float]:
    """What the render loop does once a frame: the tempo's stage call with the frame's snapshot."""
    return tempo.update(None, store.snapshot(now), now)


def test_auto_takes_the_music_tempo_when_nothing_else_runs():
    store = default_store()
    arbiter = TempoArbiter(store, FakeClock())
    assert arbiter.propose("audio", 128.0)
    assert store.get("tempo.bpm") == 128.0


def test_auto_prefers_a_running_midi_clock_to_the_music():
    store, clock = default_store(), FakeClock()
    arbiter = TempoArbiter(store, clock)
    arbiter.propose("clock", 100.0)
    assert not arbiter.propose("audio", 128.0)
    assert store.get("tempo.bpm") == 100.0


def test_the_music_takes_over_when_the_clock_stops():
    store, clock = default_store(), FakeClock()
    arbiter = TempoArbiter(store, clock)
    arbiter.propose("clock", 100.0)
    clock.now += HOLD_SECONDS + 0.1
    assert arbiter.propose("audio", 128.0)
    assert store.get("tempo.bpm") == 128.0


def test_a_steady_clock_keeps_its_rank_and_gets_the_tempo_back():
    store, clock = default_store(), FakeClock()
    arbiter = TempoArbiter(store, clock)
    arbiter.propose("audio", 128.0)
    arbiter.propose("clock", 100.0)  # the clock starts: it outranks the music
    store.set("tempo.bpm", 90.0, source="osc")  # a hand in auto mode: the running clock takes it back
    clock.now += 1.0
    arbiter.present("clock")
    assert store.get("tempo.bpm") == 100.0


def test_a_chosen_source_is_the_only_automatic_one():
    store, clock = default_store(), FakeClock()
    store.set("tempo.source", "audio")
    arbiter = TempoArbiter(store, clock)
    assert not arbiter.propose("link", 140.0)
    assert not arbiter.propose("clock", 100.0)
    assert arbiter.propose("audio", 128.0)
    assert store.get("tempo.bpm") == 128.0


def test_manual_keeps_the_tempo_set_by_hand():
    store, clock = default_store(), FakeClock()
    store.set_many({"tempo.source": "manual", "tempo.bpm": 96.0})
    arbiter = TempoArbiter(store, clock)
    for source in ("link", "clock", "audio"):
        assert not arbiter.propose(source, 150.0)
    assert store.get("tempo.bpm") == 96.0


def test_the_music_tempo_is_proposed_only_when_it_moves():
    store = default_store()
    arbiter = TempoArbiter(store, FakeClock())
    follow = AudioTempo(arbiter)
    for bpm in (120.0, 120.2, 119.9, 120.3):
        follow.hear({"audio.bpm": bpm})
    follow.hear({"audio.bpm": 126.0})
    assert store.get("tempo.bpm") == 126.0
    assert arbiter.accepted["audio"] == 2


def test_the_beat_phase_runs_at_the_tempo():
    store = default_store()
    store.set("tempo.bpm", 120.0)
    tempo = Tempo(store, FakeClock())
    tick(tempo, store, 0.0)
    signals = tick(tempo, store, 0.25)  # half a beat at 120 bpm
    assert signals["tempo.beat"] == pytest.approx(0.5)
    assert signals["tempo.bar"] == pytest.approx(0.5 / 4)


def test_the_bar_is_tempo_quantum_beats_long():
    store = default_store()
    store.set_many({"tempo.bpm": 60.0, "tempo.quantum": 3})
    tempo = Tempo(store, FakeClock())
    tick(tempo, store, 0.0)
    assert tick(tempo, store, 4.5)["tempo.bar"] == pytest.approx(0.5)  # a bar and a half of three beats


def test_without_a_tempo_the_phase_stands_still():
    store = default_store()
    tempo = Tempo(store, FakeClock())
    tick(tempo, store, 0.0)
    signals = tick(tempo, store, 10.0)
    assert {name: signals[name] for name in ("tempo.beat", "tempo.bar", "tempo.count")} == {
        "tempo.beat": 0.0,
        "tempo.bar": 0.0,
        "tempo.count": 0.0,
    }


class SharedBeats:
    """Stands in for a joined Link session (aalink's own session is tested in test_link.py)."""

    def __init__(self, beats: float) -> None:
        self.count = beats

    def beats(self) -> float:
        return self.count

    def close(self) -> None:
        pass


def test_a_link_session_sets_the_phase():
    store = default_store()
    store.set("tempo.bpm", 120.0)
    tempo = Tempo(store, FakeClock())
    tempo.link = SharedBeats(6.25)  # type: ignore[assignment]
    signals = tick(tempo, store, 0.0)
    assert signals["tempo.count"] == 6.25
    assert signals["tempo.beat"] == pytest.approx(0.25) and signals["tempo.bar"] == pytest.approx(2.25 / 4)


def test_a_leading_midi_clock_sets_the_phase_from_its_count():
    store, clock = default_store(), FakeClock()
    tempo = Tempo(store, clock)
    tempo.arbiter.propose("clock", 120.0)
    tempo.arbiter.anchor("clock", 4.0, at=0.0)  # the clock's tick at its fifth beat (the next bar's downbeat)
    clock.now = 0.125  # a quarter beat later at 120 bpm
    signals = tick(tempo, store, 0.125)
    assert signals["tempo.count"] == pytest.approx(4.25)
    assert signals["tempo.bar"] == pytest.approx(0.25 / 4)


def test_a_count_is_not_taken_from_a_source_that_does_not_lead():
    store, clock = default_store(), FakeClock()
    arbiter = TempoArbiter(store, clock)
    arbiter.anchor("clock", 4.0, at=0.0)
    assert arbiter.beats(120.0, "audio") is None


@pytest.mark.parametrize(
    ("shape", "values"),
    [
        ("sine", (0.0, 0.5, 1.0, 0.5)),
        ("triangle", (0.0, 0.5, 1.0, 0.5)),
        ("saw", (0.0, 0.25, 0.5, 0.75)),
        ("square", (1.0, 1.0, 0.0, 0.0)),
        ("pulse", (1.0, math.exp(-1.5), math.exp(-3.0), math.exp(-4.5))),
    ],
)
def test_lfo_shapes_over_a_cycle(shape, values):
    assert [shape_value(shape, x) for x in (0.0, 0.25, 0.5, 0.75)] == pytest.approx(values, abs=1e-9)


def test_an_lfo_in_beats_follows_the_beat_count():
    store = default_store()
    store.set_many({"tempo.bpm": 120.0, "lfo.1.shape": "saw", "lfo.1.beats": 4.0})
    tempo = Tempo(store, FakeClock())
    tick(tempo, store, 0.0)
    assert tick(tempo, store, 1.0)["lfo.1"] == pytest.approx(0.5)  # two beats: half of a four-beat cycle


def test_an_lfo_in_hz_runs_on_the_clock_with_its_phase_offset():
    store = default_store()
    store.set_many({"lfo.2.shape": "saw", "lfo.2.hz": 2.0, "lfo.2.phase": 0.25})
    tempo = Tempo(store, FakeClock())
    tick(tempo, store, 0.0)
    assert tick(tempo, store, 0.125)["lfo.2"] == pytest.approx(0.5)  # a quarter cycle at 2 Hz, plus the offset


def test_the_level_meter():
    assert level_meter(0.0) == "[        ]"
    assert level_meter(0.5) == "[####    ]"
    assert level_meter(1.0) == "[########]"


def test_the_status_fragment_shows_tempo_peers_and_the_meter():
    from types import SimpleNamespace

    from vjengine.music import Music

    store = default_store()
    store.set("tempo.bpm", 128.0)
    tempo = Tempo(store, FakeClock())
    tempo.link = SimpleNamespace(peers=2)  # type: ignore[assignment]
    audio = SimpleNamespace(connected=True, latest=lambda: {"audio.level": 0.5})  # stands in for the analyser
    music = Music(tempo, audio=audio)  # type: ignore[arg-type]
    assert music.summary() == "tempo 128.0 bpm, link 2 peers, audio [####    ]"
    audio.connected = False
    assert music.summary().endswith("audio DOWN")
