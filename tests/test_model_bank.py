"""A bank of models: switched over real OSC while the loop renders, loaded beside it, crossfaded, recorded.

The models are small untrained StyleGAN2 generators of different seeds (so each draws its own picture);
pictures are compared with the same model rendering the same latent the same way (one process, one device,
batch 1), so they must match exactly.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest
import torch
from pythonosc.udp_client import SimpleUDPClient

from tests.conftest import FakeClock, FakeSink, run_cli, wait_for
from vjengine.commands.render import render_recording
from vjengine.control.actions import Actions, Targets
from vjengine.control.osc import OSCReceiver
from vjengine.engine import Engine, assemble_engine
from vjengine.engine.bank import BankEntry, ModelBank, parse_entry
from vjengine.engine.frame import FrameState
from vjengine.engine.model_fade import crossfade, fit_picture
from vjengine.engine.recording import Recorder
from vjengine.engine.renderer import Renderer
from vjengine.engine.rig import Rig
from vjengine.engine.weight_blend import WeightBlend
from vjengine.errors import VJError
from vjengine.latent.morph import PresetPlayer
from vjengine.latent.presets import PresetBank
from vjengine.models import load_generator, random_generator, save_generator
from vjengine.outputs import Sink
from vjengine.outputs.frames import to_frame
from vjengine.params import default_store
from vjengine.sources import open_source

SIZE = 8


@pytest.fixture(scope="module")
def generators():
    """Three different models, by spec (each named by its spec, as a loaded model is: frames name their model so)."""
    generators = {name: random_generator("sg2", SIZE, seed=seed) for seed, name in enumerate(("a", "b", "c"))}
    for name, G in generators.items():
        G.source = name
    return generators


@pytest.fixture
def store():
    store = default_store()
    for name, value in {"render.fps": 0, "latent.drift": 0.0, "generator.noise": "const", "model.fade": 0.0}.items():
        store.set(name, value, immediate=True)
    return store


@pytest.fixture
def pattern():
    with open_source("pattern", 32, 24, 60).start() as source:
        source.wait_first(2.0)
        yield source


def bank_of(generators, store, names=("a", "b"), keep=2, build=None) -> ModelBank:
    entries = [BankEntry(name, name) for name in names]
    build = build or (lambda entry: Rig.build(generators[entry.spec], name=entry.name))
    return ModelBank(entries, build, store, build(entries[0]), keep=keep)


def picture(G, store) -> torch.Tensor:
    """What `G` shows for the store's parameters (no drift), at the outputs' size."""
    rig = Rig.build(G)
    snapshot = store.snapshot()
    with torch.inference_mode():
        ws = rig.composer.compose(snapshot, {}, 0.0)
        rig.manipulator.apply(snapshot, 0.0)
        return fit_picture(rig.render(ws, snapshot["generator.noise"]), (SIZE, SIZE))


def shows(sink: Sink, G, store) -> bool:
    return bool(sink.frames) and np.array_equal(sink.frames[-1], to_frame(picture(G, store)))


def running(engine: Engine):
    engine.start()
    assert wait_for(lambda: engine.stats.frames >= 2, timeout=120)
    return engine


def stop(engine: Engine, *closing) -> None:
    engine.stop()
    engine.join(30)
    engine.close()
    for part in closing:
        part.close()


def osc_for(store, bank) -> tuple[OSCReceiver, SimpleUDPClient]:
    receiver = OSCReceiver(store, port=0, actions=Actions(Targets(store, models=bank)))
    receiver.start()
    return receiver, SimpleUDPClient("127.0.0.1", receiver.port)


def test_selecting_a_model_over_osc_switches_the_picture_while_the_loop_renders(generators, store, pattern):
    bank = bank_of(generators, store)
    sink = FakeSink()
    engine = running(assemble_engine(bank.rig_for(0), store, pattern, [sink], models=bank))
    osc, client = osc_for(store, bank)
    try:
        assert shows(sink, generators["a"], store)
        client.send_message("/vj/model/select", "b")
        assert wait_for(lambda: shows(sink, generators["b"], store), timeout=120)
        assert store.get("model.slot") == 1 and engine.model_name == "b"
        client.send_message("/vj/model/slot", 0)  # back, by number: still resident, so at the next frame
        assert wait_for(lambda: shows(sink, generators["a"], store), timeout=120)
    finally:
        stop(engine, osc, bank)


def test_the_loop_keeps_rendering_the_old_model_while_the_new_one_loads(generators, store, pattern):
    loading, release = threading.Event(), threading.Event()

    def slow_build(entry: BankEntry) -> Rig:
        if entry.name == "b":
            loading.set()
            release.wait(300)  # held until the test has counted frames rendered meanwhile
        return Rig.build(generators[entry.spec], name=entry.name)

    bank = bank_of(generators, store, build=slow_build)
    sink = FakeSink()
    engine = running(assemble_engine(bank.rig_for(0), store, pattern, [sink], models=bank))
    osc, client = osc_for(store, bank)
    try:
        client.send_message("/vj/model/slot", 1)
        assert loading.wait(60)
        during = len(sink.frames)
        assert wait_for(lambda: len(sink.frames) >= during + 3, timeout=120), "the loop waited for the load"
        a = to_frame(picture(generators["a"], store))
        assert all(np.array_equal(frame, a) for frame in sink.frames[during:])
        release.set()
        assert wait_for(lambda: shows(sink, generators["b"], store), timeout=120)
    finally:
        release.set()
        stop(engine, osc, bank)


def preloaded(generators, store, names=("a", "b")) -> ModelBank:
    bank = bank_of(generators, store, names)
    for name in names[1:]:
        slot = bank.add(name)
        assert wait_for(lambda slot=slot: bank.is_resident(slot), timeout=60)
    return bank


def switch_and_render(generators, store, pattern, frames: int, step: float) -> list[np.ndarray]:
    """`frames` frames of a run that switches from a to b at its first frame, its clock `step` s a frame."""
    bank = preloaded(generators, store)
    store.set("model.slot", 1)
    sink, clock = FakeSink(), FakeClock(step=step)
    engine = assemble_engine(bank.rig_for(0), store, pattern, [sink], models=bank, clock=clock, listeners=[clock.tick])
    engine.run(frames)
    engine.close()
    sink.close()
    bank.close()
    assert len(sink.frames) == frames
    return sink.frames


def test_a_crossfades_middle_frame_is_the_blend_of_both_models(generators, store, pattern):
    store.set("model.fade", 1.0, immediate=True)
    frames = switch_and_render(generators, store, pattern, 10, step=0.125)  # frame 4 is at 0.5 s of 1 s
    a, b = picture(generators["a"], store), picture(generators["b"], store)
    assert np.array_equal(frames[4], to_frame(crossfade(a, b, 0.5)))  # smoothstep(0.5) = 0.5
    assert not np.array_equal(frames[4], to_frame(a)) and not np.array_equal(frames[4], to_frame(b))
    assert np.array_equal(frames[0], to_frame(a)) and np.array_equal(frames[9], to_frame(b))


def test_model_fade_zero_cuts_at_the_next_frame(generators, store, pattern):
    frames = switch_and_render(generators, store, pattern, 2, step=0.125)
    assert np.array_equal(frames[0], to_frame(picture(generators["b"], store)))


def test_a_model_that_fails_to_load_is_one_line_and_the_show_goes_on(generators, store, pattern, tmp_path, caplog):
    class RunsShell:
        def __reduce__(self):
            return (print, ("this must never run",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"G_ema": RunsShell()}))

    def build(entry: BankEntry) -> Rig:
        G = generators["a"] if entry.spec == "a" else load_generator(entry.spec)
        return Rig.build(G, name=entry.name)

    bank = ModelBank([BankEntry("a", "a"), BankEntry("evil", str(evil))], build, store, build(BankEntry("a", "a")))
    sink = FakeSink()
    engine = running(assemble_engine(bank.rig_for(0), store, pattern, [sink], models=bank))
    osc, client = osc_for(store, bank)
    try:
        with caplog.at_level(logging.ERROR, logger="vjengine.engine.bank"):
            client.send_message("/vj/model/select", "evil")
            assert wait_for(lambda: any("evil" in r.getMessage() for r in caplog.records), timeout=60)
            assert wait_for(lambda: store.get("model.slot") == 0, timeout=10)  # reads back what is on screen
            after = len(sink.frames)
            assert wait_for(lambda: len(sink.frames) >= after + 2, timeout=120)
        lines = [r.getMessage() for r in caplog.records if "evil" in r.getMessage()]
        assert len(lines) == 1 and "\n" not in lines[0] and "still showing a" in lines[0]
        assert engine.error is None and shows(sink, generators["a"], store)
    finally:
        stop(engine, osc, bank)


def test_models_keep_bounds_the_models_resident_while_switching_among_three(generators, store, pattern):
    bank = bank_of(generators, store, names=("a", "b", "c"), keep=2)
    engine = running(assemble_engine(bank.rig_for(0), store, pattern, [FakeSink()], models=bank))
    try:
        for name in ("b", "c", "a", "c", "b"):
            bank.select(name)
            assert wait_for(lambda name=name: engine.model_name == name, timeout=120)
            assert len(bank.resident()) <= 2 and name in bank.resident()
        assert bank.resident() == ["c", "b"]  # least recently shown first: a left
    finally:
        stop(engine, bank)


def test_a_model_loaded_over_osc_joins_the_bank_and_is_selected_by_a_unique_prefix(generators, store):
    bank = bank_of({**generators, "random:sg2-8": generators["c"]}, store, names=("a", "b"))
    osc, client = osc_for(store, bank)
    try:
        client.send_message("/vj/model/load", ["random:sg2-8", "texture"])
        assert wait_for(lambda: "texture" in bank.resident(), timeout=60)
        client.send_message("/vj/model/select", "tex")
        assert wait_for(lambda: store.get("model.slot") == 2, timeout=10)
    finally:
        osc.close()
        bank.close()


def test_an_ambiguous_or_unknown_model_name_is_one_line_naming_the_bank(generators, store):
    bank = bank_of(generators, store, names=("a", "b"))
    bank.add("ab")
    with pytest.raises(VJError, match=r"'x' is none of the bank's models: a, b, ab") as error:
        bank.select("x")
    assert "\n" not in str(error.value)
    assert bank.find("a") == 0 and bank.find("2") == 2  # an exact name wins over its prefix; a slot number
    bank.close()


def test_bank_entries_take_a_short_name_or_the_files_stem():
    assert parse_entry("faces=models/ffhq-1024.pkl") == BankEntry("faces", "models/ffhq-1024.pkl")
    assert parse_entry("models/ffhq-1024.pkl") == BankEntry("ffhq-1024", "models/ffhq-1024.pkl")
    assert parse_entry("https://example.org/x/metfaces.pkl?dl=1").name == "metfaces"
    assert parse_entry("random:sg2-64") == BankEntry("random:sg2-64", "random:sg2-64")


def test_recalling_a_preset_stored_with_another_model_switches_to_it(generators, store, pattern, tmp_path):
    bank = preloaded(generators, store)
    presets = PresetPlayer(PresetBank(tmp_path / "presets"), store, model="a")
    bank.follow_presets(presets)
    engine = assemble_engine(
        Rig.build(generators["a"], presets=presets, name="a"), store, pattern, [FakeSink()], models=bank
    )
    running(engine)
    try:
        bank.select("b")
        assert wait_for(lambda: engine.model_name == "b", timeout=120)
        assert presets.store_preset(3).model == "b"
        bank.select("a")
        assert wait_for(lambda: engine.model_name == "a", timeout=120)
        presets.recall(3)
        assert store.get("model.slot") == 1
        assert wait_for(lambda: engine.model_name == "b", timeout=120)
    finally:
        stop(engine, bank)


@pytest.mark.slow  # a recorded set and its render, frame by frame
def test_render_reproduces_a_recording_that_switches_models_with_a_crossfade(generators, store, pattern, tmp_path):
    specs = {name: str(save_generator(generators[name], tmp_path / f"{name}.safetensors")) for name in ("a", "b")}
    rigs = {spec: Rig.build(load_generator(spec), name=name) for name, spec in specs.items()}
    entries = [BankEntry(name, spec) for name, spec in specs.items()]
    bank = ModelBank(entries, lambda entry: rigs[entry.spec], store, rigs[specs["a"]])
    bank.add(specs["b"])
    assert wait_for(lambda: bank.is_resident(1), timeout=60)
    store.set("model.fade", 0.5, immediate=True)
    recorder = Recorder(tmp_path / "set.npz", specs["a"], {})
    sink, clock = FakeSink(), FakeClock(step=0.125)
    engine = assemble_engine(
        rigs[specs["a"]], store, pattern, [sink], models=bank, recorder=recorder, clock=clock,
        listeners=[clock.tick, lambda _: clock.now >= 0.5 and store.set("model.slot", 1)],
    )  # fmt: skip
    engine.run(12)  # a, a, a, a, then a 4-frame crossfade to b, then b
    engine.close()
    sink.close()
    recorder.close()
    rendered = tmp_path / "again"
    assert render_recording(str(tmp_path / "set.npz"), [f"file:{rendered}/%03d.png"], device="cpu") == 12
    again = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(rendered.glob("*.png"))]
    assert len(again) == len(sink.frames) == 12
    assert all(np.array_equal(live, re) for live, re in zip(sink.frames, again, strict=True))
    assert not np.array_equal(sink.frames[0], sink.frames[-1])  # the set did switch
    bank.close()


@pytest.mark.slow  # a real engine process, stopped by its signal
def test_a_run_switches_to_its_second_model_and_render_replays_the_recording(generators, tmp_path):
    """End to end through the command line: two --model, the second asked for at start (it loads beside
    the loop), a recording, and `vjengine render` giving back every frame the live output wrote."""
    specs = [str(save_generator(generators[name], tmp_path / f"{name}.safetensors")) for name in ("a", "b")]
    live, again, recording = tmp_path / "live", tmp_path / "again", tmp_path / "set.npz"
    command = [
        sys.executable, "-m", "vjengine", "run", "--model", specs[0], "--model", f"second={specs[1]}",
        "--set", "model.slot=1", "--set", "model.fade=0", "--source", "pattern", "--no-status", "--device", "cpu",
        "--osc-port", "0", "--oscquery-port", "0", "--output", f"file:{live}/%04d.png", "--record", str(recording),
    ]  # fmt: skip
    run = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(run.stderr), daemon=True)
    reader.start()
    try:
        assert wait_for(lambda: any("showing model second" in line for line in lines), timeout=300), lines
        written = len(list(live.glob("*.png")))
        assert wait_for(lambda: len(list(live.glob("*.png"))) >= written + 2, timeout=120)
    finally:
        run.send_signal(signal.SIGINT)
        assert run.wait(120) == 0, "".join(lines)
    reader.join(10)
    assert any("model bank: 0 a, 1 second" in line for line in lines)
    rendered = run_cli("render", str(recording), "--output", f"file:{again}/%04d.png", "--device", "cpu")
    assert rendered.returncode == 0, rendered.stderr
    live_frames = [cv2.imread(str(p)) for p in sorted(live.glob("*.png"))]
    again_frames = [cv2.imread(str(p)) for p in sorted(again.glob("*.png"))]
    assert len(again_frames) == len(live_frames) >= 3
    assert all(np.array_equal(a, b) for a, b in zip(live_frames, again_frames, strict=True))
    assert not np.array_equal(live_frames[0], live_frames[-1])


def resident_set_mib() -> float:
    """This process's resident memory (Linux), MiB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow  # dozens of model loads
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_memory_stays_bounded_over_many_switches_among_three_models_with_keep_two(store, pattern):
    """Every switch to a model that left the device builds it anew (new weights in memory): what leaves
    must be freed, or the resident set would grow by a model per switch."""
    seeds = {"a": 0, "b": 1, "c": 2}
    model_mib = sum(p.numel() * 4 for p in random_generator("sg2", SIZE).parameters()) / 2**20
    bank = ModelBank(
        [BankEntry(name, name) for name in seeds],
        lambda entry: Rig.build(random_generator("sg2", SIZE, seed=seeds[entry.spec]), name=entry.name),
        store,
        Rig.build(random_generator("sg2", SIZE, seed=0), name="a"),
        keep=2,
    )
    engine = running(assemble_engine(bank.rig_for(0), store, pattern, [FakeSink()], models=bank))
    try:
        measured = []
        for switch in range(30):
            name = "abc"[(switch + 1) % 3]  # a -> b -> c -> a ...: with keep = 2, every switch loads a model
            bank.select(name)
            assert wait_for(lambda name=name: engine.model_name == name, timeout=120)
            measured.append(resident_set_mib())
        growth = measured[-1] - measured[9]
        assert growth < 3 * model_mib, f"{growth:.0f} MiB more after 20 more switches ({model_mib:.0f} MiB a model)"
    finally:
        stop(engine, bank)


def test_model_name_reads_back_the_model_on_screen_and_switches_by_name(generators, store, pattern, caplog):
    bank = bank_of(generators, store)
    bank.listen()
    assert store.get("model.name") == "a"
    sink = FakeSink()
    engine = running(assemble_engine(bank.rig_for(0), store, pattern, [sink], models=bank))
    osc, client = osc_for(store, bank)
    try:
        client.send_message("/vj/model/name", "b")
        assert wait_for(lambda: shows(sink, generators["b"], store), timeout=120)
        assert store.get("model.slot") == 1 and store.get("model.name") == "b"
        with caplog.at_level(logging.WARNING, logger="vjengine.control.osc"):
            client.send_message("/vj/model/name", "zebra")  # refused as it arrives: no such model
            client.send_message("/vj/model/slot", 0)
            assert wait_for(lambda: store.get("model.name") == "a", timeout=120)
        assert [r for r in caplog.records if "zebra" in r.getMessage() and "a, b" in r.getMessage()]
    finally:
        stop(engine, osc, bank)


def test_model_blend_one_on_all_layers_renders_the_other_model(generators, store, pattern):
    store.set("generator.noise", "none", immediate=True)  # each model keeps its own fixed noise maps
    store.set_many({"model.blend": 1.0, "model.blend.slot": 1}, immediate=True)
    bank = preloaded(generators, store)
    sink = FakeSink()
    engine = running(assemble_engine(bank.rig_for(0), store, pattern, [sink], models=bank))
    try:
        assert wait_for(lambda: shows(sink, generators["b"], store), timeout=120)
        assert engine.model_name == "a"  # still the model on screen: only its weights moved
    finally:
        stop(engine, bank)


def test_model_blend_on_coarse_layers_mixes_only_the_layers_reading_coarse_rows(generators, store):
    a, b = Rig.build(generators["a"], name="a"), Rig.build(generators["b"], name="b")
    blended = WeightBlend(wait=True).rig(a, b, 0.25, "coarse").generator.state_dict()
    state_a, state_b = a.generator.state_dict(), b.generator.state_dict()
    coarse = "synthesis.b4.conv1.weight"  # reads w row 0
    assert torch.equal(blended[coarse], torch.lerp(state_a[coarse], state_b[coarse], 0.25))
    for kept in ("mapping.fc0.weight", "synthesis.b4.const", "synthesis.b4.conv1.noise_const"):
        assert torch.equal(blended[kept], state_a[kept]), kept
    assert not torch.equal(state_a[coarse], state_b[coarse])  # the models do differ there


def test_model_blend_mixes_on_its_worker_and_the_loop_only_picks_up_finished_copies(generators, monkeypatch):
    """The weight mix and G.refresh() (the Winograd filters) never run on the thread that renders: it gets the
    shown model until a mixed copy is finished, then that copy; two copies take turns, whatever the changes."""
    import vjengine.engine.weight_blend as blend_module

    a, b = Rig.build(generators["a"], name="a"), Rig.build(generators["b"], name="b")
    mixed_on = []
    mix = blend_module._blend_into
    monkeypatch.setattr(
        blend_module, "_blend_into", lambda *args: (mixed_on.append(threading.current_thread()), mix(*args))
    )
    name = "synthesis.b4.conv1.weight"
    state_a, state_b = a.generator.state_dict()[name], b.generator.state_dict()[name]
    blend, shown = WeightBlend(), set()

    def mixed(amount: float) -> bool:
        rig = blend.rig(a, b, amount, "all")  # one frame of the render loop
        shown.add(id(rig))
        return rig is not a and torch.equal(rig.generator.state_dict()[name], torch.lerp(state_a, state_b, amount))

    try:
        assert blend.rig(a, b, 0.25, "all") is a  # the first frame cannot wait for a copy
        for amount in (0.25, 0.5, 0.75, 0.5):
            assert wait_for(lambda amount=amount: mixed(amount), timeout=120)
    finally:
        blend.close()
    assert mixed_on and threading.current_thread() not in mixed_on
    assert len(shown - {id(a)}) == 2


def test_models_of_other_shapes_do_not_blend_and_say_so_once(generators, caplog):
    a = Rig.build(generators["a"], name="a")
    bigger = Rig.build(random_generator("sg2", 2 * SIZE, seed=5), name="bigger")
    blend = WeightBlend(wait=True)
    with caplog.at_level(logging.WARNING, logger="vjengine.engine.weight_blend"):
        assert blend.rig(a, bigger, 0.5, "all") is a and blend.rig(a, bigger, 0.6, "all") is a
    lines = [r.getMessage() for r in caplog.records if r.name == "vjengine.engine.weight_blend"]
    assert len(lines) == 1 and "a and bigger do not blend" in lines[0]


@pytest.mark.slow  # a recorded set and its render, frame by frame
def test_render_reproduces_a_recording_with_model_blend(generators, store, pattern, tmp_path):
    specs = {name: str(save_generator(generators[name], tmp_path / f"{name}.safetensors")) for name in ("a", "b")}
    rigs = {spec: Rig.build(load_generator(spec), name=name) for name, spec in specs.items()}
    bank = ModelBank([BankEntry(n, s) for n, s in specs.items()], lambda e: rigs[e.spec], store, rigs[specs["a"]])
    store.set_many({"model.blend": 0.5, "model.blend.layers": "2-3"}, immediate=True)
    recorder = Recorder(tmp_path / "set.npz", specs["a"], {})
    sink = FakeSink()
    engine = assemble_engine(rigs[specs["a"]], store, pattern, [sink], models=bank, recorder=recorder)
    a = to_frame(picture(rigs[specs["a"]].generator, store))
    while engine.stats.frames < 200 and (not sink.frames or np.array_equal(sink.frames[-1], a)):
        engine.run(engine.stats.frames + 1)  # the blended copy is made beside the loop: a few plain frames first
        assert wait_for(lambda: len(sink.frames) == engine.stats.frames, timeout=60)
    engine.close()
    sink.close()
    recorder.close()
    assert not np.array_equal(sink.frames[-1], a)  # the last frame was blended
    rendered = tmp_path / "again"
    render_recording(str(tmp_path / "set.npz"), [f"file:{rendered}/%03d.png"], device="cpu")
    again = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(rendered.glob("*.png"))]
    assert len(again) == len(sink.frames)
    assert all(np.array_equal(live, re) for live, re in zip(sink.frames, again, strict=True))
    bank.close()


def test_frames_paused_while_recording_are_recorded_as_the_frame_they_repeat(generators, store, pattern, tmp_path):
    bank = bank_of(generators, store)
    recorder = Recorder(tmp_path / "set.npz", "a", {})
    pause = lambda _signals: store.set("render.paused", True)  # noqa: E731 - from the second frame on
    engine = assemble_engine(bank.rig_for(0), store, pattern, [], models=bank, recorder=recorder, listeners=[pause])
    engine.run(3)
    engine.close()
    bank.close()
    assert engine.error is None and engine.stats.failed == 0
    recorded = np.load(recorder.close())
    assert len(recorded["ws"]) == 3 and (recorded["ws"][1:] == recorded["ws"][0]).all()


def test_a_model_of_another_size_or_grayscale_is_fitted_to_the_outputs_size_in_rgb():
    bigger = torch.linspace(-1, 1, 16 * 16).reshape(1, 1, 16, 16)  # a 16 px grayscale model's picture
    fitted = fit_picture(bigger, (SIZE, SIZE))
    assert fitted.shape == (1, 3, SIZE, SIZE)
    assert torch.equal(fitted[:, 0], fitted[:, 2])  # gray stays gray
    area = torch.nn.functional.avg_pool2d(bigger, 2)[:, 0]  # shrinking averages, it does not pick pixels
    assert torch.allclose(fitted[:, 0], area, atol=1e-6)


def test_a_crossfade_starts_at_the_old_picture_and_ends_at_the_new_one():
    old, new = torch.zeros(1, 3, SIZE, SIZE), torch.ones(1, 3, SIZE, SIZE)
    assert torch.equal(crossfade(old, new, 0.0), old) and torch.equal(crossfade(old, new, 1.0), new)
    assert torch.allclose(crossfade(old, new, 0.25), torch.full_like(old, 0.25))


def test_the_renderer_renders_the_rig_the_frame_was_composed_with(generators, store):
    """Live, the director hands the renderer the very rig it composed w+ with (model.blend's mixed copy), so a
    copy the blend's worker finishes between the two never renders a frame composed for another."""
    rigs = {name: Rig.build(G, name=name) for name, G in generators.items()}
    ws = rigs["a"].composer.compose(store.snapshot(), {}, 0.0)
    renderer = Renderer(rigs.__getitem__, lambda state: rigs["b"])  # as `Director.composed_with` would answer
    with torch.inference_mode():
        picture = renderer.render(FrameState(model="a", ws=ws, noise="const"))
        assert torch.equal(picture, rigs["b"].render(ws, "const"))
        assert not torch.equal(picture, rigs["a"].render(ws, "const"))
