"""The camera drives the latents: regions of the frame move their own w layers, smoothly and stably."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import FIXTURES, FakeClock, wait_for
from vjengine.analysis.vgg import VGGEncoder
from vjengine.analysis.visual import VisualAnalyser
from vjengine.engine import assemble_engine
from vjengine.engine.rig import Rig
from vjengine.engine.sensing import CameraLatent
from vjengine.latent.visual import VisualDriver
from vjengine.models import load_generator
from vjengine.params import default_store
from vjengine.sources import Frame, open_source


@pytest.fixture(scope="module")
def generator():
    return load_generator(FIXTURES / "sg2_64.pkl")


@pytest.fixture(scope="module")
def encoder():
    return VGGEncoder(None)


def frame_with_left_blob(shift: int, index: int) -> Frame:
    """A 256x128 grey frame with a bright square in its far-left strip, moved by `shift` px."""
    image = np.full((128, 256, 3), 90, np.uint8)
    image[40:80, 5 + shift : 35 + shift] = (250, 200, 40)
    return Frame(image=image, index=index, time=float(index))


def store_for(layout: str = "left/right", assign: str = "coarse,middle"):
    store = default_store()
    store.set_many(
        {"visual.layout": layout, "visual.assign": assign, "visual.size": 128, "latent.drift": 0.0},
        immediate=True,
    )
    return store


def camera_ws(generator, encoder, store, frame) -> torch.Tensor:
    analyser = VisualAnalyser(encoder, generator.z_dim)
    analyser.configure(store.snapshot())
    analyser.analyse(frame)
    rig = Rig.build(generator)
    return rig.composer.compose(store.snapshot(), {}, 0.0, analyser.latest_z())[0]


def test_one_latent_per_region(generator, encoder):
    store = store_for("quadrants")
    analyser = VisualAnalyser(encoder, generator.z_dim)
    analyser.configure(store.snapshot())
    signals = analyser.analyse(frame_with_left_blob(0, 0))
    assert analyser.latest_z().shape == (4, 512)
    assert sorted(signals) == [f"visual.region.{i}.norm" for i in range(4)]


def test_a_change_in_the_left_region_moves_only_its_latent(generator, encoder):
    store = store_for()
    analyser = VisualAnalyser(encoder, generator.z_dim)
    analyser.configure(store.snapshot())
    analyser.analyse(frame_with_left_blob(0, 0))
    before = analyser.latest_z().clone()
    analyser.analyse(frame_with_left_blob(20, 1))
    after = analyser.latest_z()
    assert not torch.allclose(before[0], after[0])
    assert torch.equal(before[1], after[1])


def moved_layers(generator, encoder, assign: str) -> list[int]:
    store = store_for(assign=assign)
    a = camera_ws(generator, encoder, store, frame_with_left_blob(0, 0))
    b = camera_ws(generator, encoder, store, frame_with_left_blob(20, 1))
    return [i for i in range(generator.num_ws) if not torch.allclose(a[i], b[i], atol=1e-6)]


def test_the_left_region_drives_the_layers_assigned_to_it(generator, encoder):
    assert moved_layers(generator, encoder, "coarse,middle") == [0, 1, 2, 3]


def test_swapping_assignments_swaps_which_layers_move(generator, encoder):
    assert moved_layers(generator, encoder, "middle,coarse") == [4, 5, 6, 7]


def test_layers_no_region_drives_keep_the_anchor(generator, encoder):
    store = store_for()
    ws = camera_ws(generator, encoder, store, frame_with_left_blob(0, 0))
    anchor = Rig.build(generator).composer.compose(store.snapshot(), {}, 0.0)
    assert torch.equal(ws[8:], anchor[0, 8:])
    assert not torch.allclose(ws[:8], anchor[0, :8])


def test_mix_zero_is_the_seed_alone(generator, encoder):
    store = store_for()
    store.set("visual.mix", 0.0, immediate=True)
    ws = camera_ws(generator, encoder, store, frame_with_left_blob(0, 0))
    anchor = Rig.build(generator).composer.compose(store.snapshot(), {}, 0.0)
    assert torch.equal(ws, anchor[0])


def test_vgg16_is_opened_only_once_the_camera_analysis_runs(generator):
    opened = []

    def open_encoder() -> VGGEncoder:
        opened.append(VGGEncoder(None))  # in a show: VGG16's weights, perhaps downloaded (528 MB)
        return opened[-1]

    store = store_for()
    store.set("visual.enabled", False, immediate=True)
    analyser = VisualAnalyser(open_encoder, generator.z_dim)
    analyser.configure(store.snapshot())
    for index in range(3):
        assert analyser.analyse(frame_with_left_blob(0, index)) == {}
    assert opened == []
    store.set("visual.enabled", True, immediate=True)
    analyser.configure(store.snapshot())
    analyser.analyse(frame_with_left_blob(0, 3))
    analyser.analyse(frame_with_left_blob(0, 4))
    assert len(opened) == 1 and analyser.latest_z() is not None


def test_a_bad_layout_is_logged_and_the_last_good_one_kept(generator, encoder, caplog):
    store = store_for()
    analyser = VisualAnalyser(encoder, generator.z_dim)
    analyser.configure(store.snapshot())
    store.set("visual.layout", "hexagons")
    analyser.configure(store.snapshot())
    analyser.analyse(frame_with_left_blob(0, 0))
    assert analyser.latest_z().shape[0] == 2 and "hexagons" in caplog.text


def test_the_driver_settles_on_a_static_scene():
    """Noisy analyser output around a fixed z: once settled, consecutive frames barely move."""
    store = store_for()
    store.set_many({"visual.smoothing": 0.3, "visual.deadzone": 0.05, "visual.hold": False}, immediate=True)
    driver, generator_z = VisualDriver(), torch.randn(2, 512, generator=torch.Generator().manual_seed(0))
    noise = torch.Generator().manual_seed(1)
    outputs = []
    for i in range(120):  # 4 s at 30 fps
        z = generator_z + 0.02 * torch.randn(2, 512, generator=noise)
        outputs.append(driver.update(z, store.snapshot(), {"motion.energy": 5.0}, i / 30))
    steps = [(b - a).norm() / a.norm() for a, b in zip(outputs[60:], outputs[61:], strict=False)]
    assert max(steps) < 1e-3


def test_the_hold_keeps_latents_while_the_picture_is_still():
    store = store_for()
    store.set_many({"visual.smoothing": 0.0, "visual.hold": True, "visual.hold_threshold": 1.0}, immediate=True)
    driver = VisualDriver()
    first = torch.ones(2, 512)
    for i in range(30):  # a second of stillness
        driver.update(first, store.snapshot(), {"motion.energy": 0.1}, i / 30)
    autofocus_hunt = driver.update(first * 3, store.snapshot(), {"motion.energy": 0.3}, 1.1)
    assert torch.allclose(autofocus_hunt, first)
    moving = driver.update(first * 3, store.snapshot(), {"motion.energy": 20.0}, 1.2)
    assert torch.allclose(moving, first * 3)


def test_a_static_video_gives_a_stable_picture(tmp_path, generator):
    """End to end: a still scene through the engine; once the camera drives and has settled, frames hardly
    change. The engine's clock moves 1/30 s a frame, so settling takes the same frames on a busy machine."""
    import cv2

    path = tmp_path / "still.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (128, 96))
    still = np.zeros((96, 128, 3), np.uint8)
    cv2.circle(still, (40, 50), 20, (0, 180, 255), -1)
    for _ in range(30):
        writer.write(still)
    writer.release()
    store = store_for()
    store.set_many({"render.fps": 0.0, "visual.size": 96}, immediate=True)
    analyser = VisualAnalyser(VGGEncoder(None), 512)
    frames = []

    class Keep:
        """Keeps the frames rendered since the camera's first latents arrived (the analysis has a thread of
        its own, which a busy machine may start late)."""

        name = "keep"
        live = True

        def send(self, frame, at=None):
            if analyser.latest_z() is not None:
                frames.append(frame.astype(np.float32))

    clock = FakeClock(step=1 / 30)
    with open_source(f"video:{path}").start() as source:
        source.wait_first(30)
        engine = assemble_engine(
            Rig.build(generator),
            store,
            source,
            [Keep()],
            camera=CameraLatent(analyser),
            listeners=[clock.tick],
            clock=clock,
        )
        engine.start()
        assert wait_for(lambda: len(frames) >= 75 or engine.done.is_set(), timeout=300), "too slow to settle"
        engine.stop()
        engine.join(60)
        engine.close()
    assert engine.error is None and len(frames) >= 75
    diffs = [np.abs(b - a).mean() for a, b in zip(frames[45:75], frames[46:75], strict=False)]
    assert max(diffs) < 1.0  # mean absolute change under one grey level per frame


def test_several_layers_weigh_into_one_z(generator, encoder):
    """The paper's Equation 2: a weighted sum of layers' (projected) channel means."""
    frame = frame_with_left_blob(0, 0)

    def z_for(**values):
        store = store_for()
        store.set_many(values, immediate=True)
        analyser = VisualAnalyser(encoder, generator.z_dim)
        analyser.configure(store.snapshot())
        analyser.analyse(frame)
        return analyser.latest_z()

    mixed = z_for(**{"visual.layers": "conv4_1:0.25, conv3_1:0.75"})
    expected = 0.25 * z_for(**{"visual.layer": "conv4_1"}) + 0.75 * z_for(**{"visual.layer": "conv3_1"})
    assert torch.allclose(mixed, expected, atol=1e-5)


def test_a_saved_w_can_be_the_anchor(tmp_path, generator):
    w = generator.mapping(torch.randn(1, 512), None)[0].numpy()
    np.save(tmp_path / "look.npy", w)
    store = store_for()
    store.set_many({"latent.anchor": str(tmp_path / "look.npy"), "truncation.psi": 1.0}, immediate=True)
    rig = Rig.build(generator)
    assert np.array_equal(rig.composer.compose(store.snapshot(), {}, 0.0)[0].numpy(), w)


def test_an_unusable_anchor_file_falls_back_to_the_seed(tmp_path, generator, caplog):
    np.save(tmp_path / "wrong.npy", np.zeros((3, 7), np.float32))
    store = store_for()
    rig = Rig.build(generator)
    seed_ws = rig.composer.compose(store.snapshot(), {}, 0.0)
    store.set("latent.anchor", str(tmp_path / "wrong.npy"))
    assert torch.equal(rig.composer.compose(store.snapshot(), {}, 0.0), seed_ws)
    assert "cannot be used" in caplog.text
