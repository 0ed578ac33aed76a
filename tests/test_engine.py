"""The render loop, driven directly: frames flow, stages are timed, nothing slow stalls it."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from tests.conftest import FIXTURES, FakeClock, FakeSink
from vjengine.analysis import AsyncAnalyser
from vjengine.engine import assemble_engine
from vjengine.engine.loop import MAX_FAILING_FRAMES_OFFLINE
from vjengine.engine.rig import Rig
from vjengine.models import load_generator
from vjengine.outputs.frames import to_frame, to_frames
from vjengine.params import default_store
from vjengine.sources import open_source


@pytest.fixture(scope="module")
def generator():
    return load_generator(FIXTURES / "sg2_64.pkl")


@pytest.fixture
def pattern():
    with open_source("pattern", 64, 48, 60).start() as source:
        source.wait_first(2.0)
        yield source


def fast_store():
    store = default_store()
    store.set("render.fps", 0, immediate=True)
    return store


def test_frames_reach_the_sinks_as_rgb_bytes(generator, pattern):
    sink = FakeSink(live=True)
    assemble_engine(Rig.build(generator), fast_store(), pattern, [sink]).run(5)
    sink.close()
    assert len(sink.frames) >= 1
    frame = sink.frames[-1]
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8


def render(generator, store, source, frames: int, step: float) -> list[np.ndarray]:
    """`frames` frames of a run whose clock moves `step` seconds a frame, as the sink received them."""
    clock, sink = FakeClock(step=step), FakeSink()
    assemble_engine(Rig.build(generator), store, source, [sink], listeners=[clock.tick], clock=clock).run(frames)
    sink.close()
    assert len(sink.frames) == frames
    return sink.frames


def differ(a: np.ndarray, b: np.ndarray) -> bool:
    return np.abs(a.astype(int) - b.astype(int)).mean() > 0.5


def test_drift_moves_the_picture_from_frame_to_frame(generator, pattern):
    store = fast_store()
    store.set("latent.drift", 60, immediate=True)  # a turn a minute: a tenth of a turn per 0.1 s frame
    frames = render(generator, store, pattern, 4, step=0.1)
    assert all(differ(a, b) for a, b in zip(frames, frames[1:], strict=False))


def test_drift_follows_time_not_frames(generator, pattern):
    store = fast_store()
    store.set("latent.drift", 60, immediate=True)
    frames = render(generator, store, pattern, 4, step=0.0)  # frames rendered, but no time passed
    assert all(np.array_equal(f, frames[0]) for f in frames)


def test_without_drift_the_picture_holds_still(generator, pattern):
    store = fast_store()
    store.set("latent.drift", 0, immediate=True)
    frames = render(generator, store, pattern, 4, step=0.1)
    assert all(np.array_equal(f, frames[0]) for f in frames)


def test_truncation_zero_renders_the_average_latent(generator, pattern):
    store = fast_store()
    store.set("truncation.psi", 0.0, immediate=True)
    ws = Rig.build(generator).composer.compose(store.snapshot(), {}, 0.3)
    assert np.allclose(ws[0].numpy(), generator.mapping.w_avg.numpy()[None], atol=1e-6)


def test_seed_zero_matches_nvidia_seed_convention(generator, pattern):
    from tests.conftest import reference

    store = fast_store()
    store.set_many({"truncation.psi": 1.0, "latent.drift": 0.0}, immediate=True)
    ws = Rig.build(generator).composer.compose(store.snapshot(), {}, 0.0)
    assert np.abs(ws.numpy()[0] - reference("sg2_64")["ws_psi1.0"][0]).max() < 1e-4


def test_every_stage_is_timed(generator, pattern):
    engine = assemble_engine(Rig.build(generator), fast_store(), pattern, [])
    stats = engine.run(4)
    assert stats.frames == 4
    assert all(len(stats.stage_ms[s]) == 4 for s in ("source", "analyse", "compose", "generate", "copy", "publish"))
    assert stats.median_ms("generate") > 0


def test_paused_keeps_publishing_the_last_frame_while_time_goes_on(generator, pattern):
    store, sink, clock = fast_store(), FakeSink(), FakeClock(step=0.1)
    store.set("latent.drift", 60, immediate=True)  # unpaused, every frame would differ from the last
    engine = assemble_engine(Rig.build(generator), store, pattern, [sink], listeners=[clock.tick], clock=clock)
    engine.run(1)
    store.set("render.paused", True)
    engine.run(5)
    sink.close()
    assert len(sink.frames) == 5
    assert all(np.array_equal(f, sink.frames[0]) for f in sink.frames)


def test_paused_does_not_run_the_generator(generator, pattern):
    store, calls = fast_store(), []
    engine = assemble_engine(Rig.build(generator), store, pattern, [])
    hook = generator.synthesis.register_forward_hook(lambda *_: calls.append(1))
    try:
        engine.run(1)
        store.set("render.paused", True)
        engine.run(5)
    finally:
        hook.remove()
    assert len(calls) == 1 and engine.stats.frames == 5


@pytest.mark.slow  # paced frames take the time they take
def test_frame_pacing_holds_the_target_rate(generator, pattern):
    store = default_store()
    store.set("render.fps", 20, immediate=True)
    engine = assemble_engine(Rig.build(generator), store, pattern, [])
    start = time.perf_counter()
    engine.run(10)
    elapsed = time.perf_counter() - start
    assert elapsed >= 9 / 20  # 10 frames at 20 fps never take less than nine frame intervals


class StuckAnalyser:
    """An analyser that does not return until released: as slow as an analyser can be."""

    name = "stuck"

    def __init__(self):
        self.release = threading.Event()
        self.calls = 0

    def analyse(self, frame):
        self.calls += 1
        self.release.wait(30)
        return {"stuck.value": 1.0}


def test_a_slow_analyser_does_not_stall_the_loop(generator, pattern):
    stuck = StuckAnalyser()
    analyser = AsyncAnalyser(stuck)
    engine = assemble_engine(Rig.build(generator), fast_store(), pattern, [], stages=[analyser])
    thread = engine.start(20)
    thread.join(120)  # a generous deadline: the analyser stays stuck far longer unless the loop goes on
    finished = not thread.is_alive()
    stuck.release.set()
    analyser.close()
    assert finished and engine.stats.frames == 20 and stuck.calls == 1


def test_a_failing_sink_does_not_stop_the_loop_or_the_others(generator, pattern):
    class Broken(FakeSink):
        def _write(self, frame):
            raise OSError("disk full")

    healthy, broken = FakeSink(live=True), Broken(live=True)
    stats = assemble_engine(Rig.build(generator), fast_store(), pattern, [broken, healthy]).run(6)
    healthy.close()
    broken.close()
    assert stats.frames == 6 and healthy.frames and broken.stats.failed


class Glitch:
    """A signal listener that raises on the frames it is told to: a stand-in for any part that fails."""

    def __init__(self, failing: range) -> None:
        self.failing, self.calls = failing, 0

    def __call__(self, signals) -> None:
        self.calls += 1
        if self.calls in self.failing:
            raise RuntimeError("glitch")


def test_a_frame_that_fails_mid_show_is_skipped_and_the_loop_renders_on(generator, pattern, caplog):
    sink = FakeSink(live=True)
    engine = assemble_engine(Rig.build(generator), fast_store(), pattern, [sink], listeners=[Glitch(range(3, 6))])
    stats = engine.run(8)
    sink.close()
    assert engine.error is None and stats.frames == 8 and stats.failed == 3
    assert caplog.text.count("a frame failed and was skipped (RuntimeError: glitch)") == 1


def test_a_failure_before_any_frame_stops_the_loop_with_the_error(generator, pattern):
    engine = assemble_engine(Rig.build(generator), fast_store(), pattern, [], listeners=[Glitch(range(1, 10**6))])
    stats = engine.run(8)
    assert isinstance(engine.error, RuntimeError) and stats.frames == 0


def test_an_offline_run_whose_frames_keep_failing_stops(generator, pattern):
    engine = assemble_engine(Rig.build(generator), fast_store(), pattern, [], listeners=[Glitch(range(2, 10**6))])
    stats = engine.run(100)
    assert isinstance(engine.error, RuntimeError) and stats.frames == 1 and stats.failed == MAX_FAILING_FRAMES_OFFLINE


def test_a_blocking_sink_does_not_stop_the_loop(generator, pattern):
    release = threading.Event()

    class Stuck(FakeSink):
        def _write(self, frame):
            release.wait()  # until the test lets go: the loop must finish while this write still hangs

    stuck = Stuck(live=True)
    engine = assemble_engine(Rig.build(generator), fast_store(), pattern, [stuck])
    thread = engine.start(8)
    thread.join(120)
    finished = not thread.is_alive()
    release.set()
    stuck.close()
    assert finished and engine.stats.frames == 8 and stuck.stats.dropped > 0


def test_to_frame_maps_minus_one_to_one_onto_bytes():
    import torch

    img = torch.tensor([-1.0, 0.0, 1.0, 3.0]).reshape(1, 1, 1, 4).expand(1, 3, 1, 4)
    frame = to_frame(img)
    assert frame.shape == (1, 4, 3) and frame[0, :, 0].tolist() == [0, 128, 255, 255]


def test_to_frames_makes_each_layout_once_from_the_same_pixels():
    img = torch.rand(1, 3, 4, 5) * 2 - 1
    frames = to_frames(img, ["RGB", "RGBA", "BGRA", "RGBA"])
    rgb = frames["RGB"]
    assert set(frames) == {"RGB", "RGBA", "BGRA"} and rgb.shape == (4, 5, 3)
    assert np.array_equal(frames["RGBA"][..., :3], rgb) and (frames["RGBA"][..., 3] == 255).all()
    assert np.array_equal(frames["BGRA"][..., :3], rgb[..., ::-1]) and (frames["BGRA"][..., 3] == 255).all()


def test_sinks_get_frames_in_their_own_layout_when_the_engine_converts(generator, pattern):
    class RGBASink(FakeSink):
        layout = "RGBA"

    # Recording sinks keep every frame, so frame k of one is frame k of the other (live ones may skip).
    rgba, rgb = RGBASink(), FakeSink()
    # convert_layouts is the default for a CUDA generator; on the CPU sinks convert in their own threads
    assemble_engine(Rig.build(generator), fast_store(), pattern, [rgba, rgb], convert_layouts=True).run(2)
    rgba.close()
    rgb.close()
    assert len(rgba.frames) == len(rgb.frames) == 2
    assert rgba.frames[0].shape == (64, 64, 4) and rgb.frames[0].shape == (64, 64, 3)
    assert all(np.array_equal(a[..., :3], b) for a, b in zip(rgba.frames, rgb.frames, strict=True))
