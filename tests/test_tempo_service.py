"""The tempo service as the engine sees it: one object, ticked once a frame with the frame's snapshot and
the engine's clock (injected here), that MIDI's clock, taps, the music and Link feed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import FakeClock
from vjengine.control.actions import Actions, Targets
from vjengine.params import default_store
from vjengine.tempo.arbiter import JITTER_BPM, TempoArbiter, is_tempo_change
from vjengine.tempo.link import LinkSession
from vjengine.tempo.midiclock import TICKS_PER_BEAT, TempoFollower
from vjengine.tempo.phase import beats_to_next
from vjengine.tempo.service import Tempo


class Music:
    """Stands in for the audio analyser: its newest signals, a steady beat tracker's tempo."""

    def __init__(self, bpm: float) -> None:
        self.bpm = bpm

    def latest(self) -> dict[str, float]:
        return {"audio.bpm": self.bpm}


def tick(tempo: Tempo, store, now: float) -> dict[str, float]:
    return tempo.update(None, store.snapshot(now), now)


def test_each_tick_moves_the_beat_count_by_the_engine_clock():
    store = default_store()
    store.set("tempo.bpm", 90.0)
    tempo = Tempo(store, FakeClock())  # its own clock stands still: the count follows the `now` it is given
    tick(tempo, store, 10.0)
    signals = tick(tempo, store, 12.0)  # 3 beats at 90 bpm
    assert signals["tempo.count"] == pytest.approx(3.0)
    assert tick(tempo, store, 12.5)["tempo.count"] == pytest.approx(3.75)


def test_the_tick_reads_the_snapshot_and_never_polls_the_store(monkeypatch):
    store = default_store()
    store.set_many({"lfo.3.shape": "saw", "lfo.3.beats": 2.0})
    tempo = Tempo(store, FakeClock())
    tempo.follow_audio(Music(120.0))  # the music sets tempo.bpm on the first tick

    def polled(name):
        raise AssertionError(f"the per-frame tick read {name} from the store")

    monkeypatch.setattr(store, "get", polled)
    tempo.update(None, store.snapshot(0.0), 0.0)
    store.set("lfo.3.beats", 8.0)  # the store moved on; this frame's snapshot still says 2 beats
    signals = tempo.update(None, {**store.snapshot(0.5), "lfo.3.beats": 2.0}, 0.5)  # a beat: half of two
    assert signals["lfo.3"] == pytest.approx(0.5)
    assert tempo.arbiter.accepted["audio"] == 1  # the music's tempo was offered on the tick too


def test_a_deferred_action_runs_on_the_tick_that_crosses_its_beat():
    store = default_store()
    store.set_many({"tempo.bpm": 60.0, "preset.quantize": "beat"})
    tempo = Tempo(store, FakeClock())
    ran: list[float] = []
    tick(tempo, store, 0.0)
    tick(tempo, store, 0.3)
    tempo.defer(lambda: ran.append(tempo.count.beats))  # due at beat 1
    for now in (0.6, 0.9):
        tick(tempo, store, now)
        assert ran == []  # before the boundary: held
    tick(tempo, store, 1.2)
    assert ran == [pytest.approx(1.2)]  # the first tick at or after beat 1, and only once
    tick(tempo, store, 2.4)
    assert len(ran) == 1


def test_a_bar_quantised_action_waits_for_the_bar_of_tempo_quantum():
    store = default_store()
    store.set_many({"tempo.bpm": 60.0, "preset.quantize": "bar", "tempo.quantum": 3})
    tempo = Tempo(store, FakeClock())
    ran: list[float] = []
    tick(tempo, store, 0.0)
    tick(tempo, store, 1.5)
    tempo.defer(lambda: ran.append(tempo.count.beats))
    for now in (2.0, 2.5, 2.9):
        tick(tempo, store, now)
    assert ran == []
    tick(tempo, store, 3.0)
    assert ran == [pytest.approx(3.0)]


def test_defer_is_at_once_without_quantize_or_without_a_tempo():
    store = default_store()
    tempo = Tempo(store, FakeClock())
    ran: list[str] = []
    store.set("preset.quantize", "bar")  # but tempo.bpm is 0 and no Link: nothing would ever be reached
    tempo.defer(lambda: ran.append("no tempo"))
    store.set_many({"tempo.bpm": 120.0, "preset.quantize": "off"})
    tempo.defer(lambda: ran.append("off"))
    assert ran == ["no tempo", "off"]


def test_beats_to_the_next_boundary():
    assert beats_to_next(5.25, "beat", 4) == pytest.approx(0.75)
    assert beats_to_next(5.25, "bar", 4) == pytest.approx(2.75)
    assert beats_to_next(8.0, "bar", 4) == pytest.approx(4.0)  # on the boundary: the next one


def test_one_jitter_threshold_for_every_tempo_source():
    below, above = 120.0 + JITTER_BPM * 0.8, 120.0 + JITTER_BPM * 1.2
    assert not is_tempo_change(120.0, below) and is_tempo_change(120.0, above)

    store = default_store()  # the arbiter: a proposal within the jitter leaves tempo.bpm alone
    store.set("tempo.bpm", 120.0)
    arbiter = TempoArbiter(store, FakeClock())
    arbiter.propose("clock", below)
    assert store.get("tempo.bpm") == 120.0 and arbiter.accepted["clock"] == 0
    arbiter.propose("clock", above)
    assert store.get("tempo.bpm") == above

    follower = TempoFollower()  # a MIDI clock's follower: the same number says when it publishes anew
    follower.bpm = round(above, 1) - JITTER_BPM * 0.8
    assert not is_tempo_change(follower.bpm, round(above, 1))

    sent = []  # Link: a tempo set here within the jitter of the session's is not sent to the other peers
    session = LinkSession(store, arbiter)
    session._link = SimpleNamespace(tempo=120.0)  # the session's tempo, as aalink's Link reports it
    session._call = lambda function, *args: sent.append(args[-1])
    session._changed("tempo.bpm", below, "osc")
    session._changed("tempo.bpm", above, "osc")
    assert sent == [above]


def test_the_music_tempo_reaches_tempo_bpm_on_the_tick_while_audio_is_enabled():
    store = default_store()
    tempo = Tempo(store, FakeClock())
    tempo.follow_audio(Music(126.0))
    store.set("audio.enabled", False)
    tick(tempo, store, 0.0)
    assert store.get("tempo.bpm") == 0.0
    store.set("audio.enabled", True)
    tick(tempo, store, 0.1)
    assert store.get("tempo.bpm") == 126.0


def play(tempo: Tempo, clock: FakeClock, bpm: float, beats: int) -> None:
    """A MIDI clock's Start and `beats` beats of ticks, as MIDI hands them over (stamped on arrival)."""
    tempo.clock_message("start", clock())
    for _ in range(beats * TICKS_PER_BEAT):
        clock.now += 60.0 / (bpm * TICKS_PER_BEAT)
        tempo.clock_message("clock", clock())


def test_a_running_midi_clock_outranks_the_music_and_leads_the_phase():
    store, clock = default_store(), FakeClock()
    tempo = Tempo(store, clock)
    tempo.follow_audio(Music(90.0))
    play(tempo, clock, 125.0, 4)
    assert store.get("tempo.bpm") == 125.0 and tempo.clock_bpm == 125.0
    signals = tick(tempo, store, clock.now)  # the music proposes 90 on this tick, and is outranked
    assert store.get("tempo.bpm") == 125.0
    assert signals["tempo.count"] == pytest.approx(4.0 - 1 / TICKS_PER_BEAT)  # the clock's beats since Start
    assert tempo.arbiter.leader() == "clock"


def test_a_silent_midi_clock_hands_the_tempo_to_the_music():
    store, clock = default_store(), FakeClock()
    tempo = Tempo(store, clock)
    tempo.follow_audio(Music(90.0))
    play(tempo, clock, 125.0, 2)
    clock.now += 3.0  # the clock stopped longer than the arbiter holds a source
    tick(tempo, store, clock.now)
    assert store.get("tempo.bpm") == 90.0


def test_a_chosen_source_is_the_only_one_the_tick_listens_to():
    store, clock = default_store(), FakeClock()
    store.set("tempo.source", "audio")
    tempo = Tempo(store, clock)
    tempo.follow_audio(Music(90.0))
    play(tempo, clock, 125.0, 2)
    assert store.get("tempo.bpm") == 0.0  # the clock is not the chosen one
    tick(tempo, store, clock.now)
    assert store.get("tempo.bpm") == 90.0


def test_taps_from_the_tempo_tap_action_set_tempo_bpm_on_the_services_clock():
    store, clock = default_store(), FakeClock()
    tempo = Tempo(store, clock)
    actions = Actions(Targets(store, tap=tempo.tap.tap))  # as a run wires it: the action taps the service
    actions.listen()
    try:
        for t in (0.0, 0.5, 1.0):
            clock.now = t
            store.set("tempo.tap", True, source="osc")
        assert store.get("tempo.bpm") == 120.0 and store.get("tempo.tap") is False
    finally:
        actions.close()
