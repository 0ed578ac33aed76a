"""Walk steps land on beats: with a tempo, the render loop pulls the walk's keys onto every walk.beats-th
beat of the beat count (the real Engine on the fixture model, its clock and the beat count injected)."""

from __future__ import annotations

import pytest

from tests.conftest import FIXTURES, FakeClock
from vjengine.engine import assemble_engine
from vjengine.engine.rig import Rig
from vjengine.latent.walk import LatentWalk
from vjengine.models import load_generator
from vjengine.outputs.null import NullSink
from vjengine.params import default_store
from vjengine.sources import open_source
from vjengine.tempo.service import Tempo


def test_lock_glides_the_position_within_a_step_to_the_target():
    walk = LatentWalk()
    walk.position = 2.9
    for _ in range(100):
        walk.lock(5.1, dt=0.05, seconds_per_step=2.0)  # 0.2 of a step ahead, across the key
    assert walk.position == pytest.approx(3.1, abs=1e-3)


def test_falling_into_step_never_stops_or_reverses_the_walk():
    walk = LatentWalk()
    before = walk.position
    walk.advance(0.05, 2.0)
    walk.lock(0.6, dt=0.05, seconds_per_step=2.0)  # the walk is 0.4 of a step ahead of the beat: it slows
    assert walk.position - before == pytest.approx(0.5 * 0.05 / 2.0)  # half its own pace, still forward


@pytest.fixture(scope="module")
def generator():
    return load_generator(FIXTURES / "sg2_64.pkl")


def walk_position(generator, lock: bool) -> tuple[float, float]:
    """60 frames of 50 ms at 120 bpm from beat 1.5 on, walking in 4-beat steps: (position, beat count)."""
    store = default_store()
    store.set_many({"render.fps": 0, "walk.mode": "seeds", "tempo.bpm": 120.0, "walk.beats": 4.0}, immediate=True)
    clock = FakeClock(step=0.05)
    tempo = Tempo(store, clock)
    tempo.count.beats = 1.5  # the set was already playing when the walk started
    with open_source("pattern", 64, 48, 60).start() as source:
        source.wait_first(2.0)
        engine = assemble_engine(
            Rig.build(generator),
            store,
            source,
            [NullSink("none")],
            stages=[tempo] if lock else [],  # the engine ticks it as a stage: update(frame, snapshot, now)
            listeners=[clock.tick],
            clock=clock,
        )
        engine.run(60)
    return engine.director.walk.position, tempo.count.beats


@pytest.mark.slow  # 60 frames of the fixture model through the whole engine
def test_walk_keys_land_on_the_beat_count(generator):
    position, beats = walk_position(generator, lock=True)
    assert (position - beats / 4.0 + 0.5) % 1.0 - 0.5 == pytest.approx(0.0, abs=0.01)


@pytest.mark.slow  # 60 frames of the fixture model through the whole engine
def test_without_the_beat_count_the_walk_keeps_its_own_phase(generator):
    position, _ = walk_position(generator, lock=False)
    assert position == pytest.approx(60 * 0.05 / 2.0, abs=0.03)  # 3 s at 2 s a step, from 0
