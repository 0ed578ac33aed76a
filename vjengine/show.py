"""Assembling a run from a Config, and supervising it from the main thread until it ends."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from vjengine.analysis.landmarks import LandmarkAnalyser
from vjengine.analysis.signals import check_signal
from vjengine.analysis.vgg import open_encoder
from vjengine.analysis.visual import TEXT_CHECKS as VISUAL_CHECKS
from vjengine.analysis.visual import VisualAnalyser
from vjengine.control.surfaces import Controls, open_controls
from vjengine.control.web import serve_page
from vjengine.device import precision, prepare_process, resolve_device, resolve_dtype
from vjengine.engine import Engine, EngineStats, assemble_engine
from vjengine.engine.bank import BankEntry, ModelBank, parse_entry, unique_names
from vjengine.engine.recording import Recorder
from vjengine.engine.rig import Rig
from vjengine.engine.sensing import CameraLatent
from vjengine.errors import VJError
from vjengine.latent.composer import text_checks as composer_checks
from vjengine.latent.directions import DirectionOffset
from vjengine.latent.directions import text_checks as direction_checks
from vjengine.latent.morph import PresetPlayer
from vjengine.latent.presets import PresetBank
from vjengine.models import check_spec, load_generator
from vjengine.models.compiled import CompiledSynthesis
from vjengine.music import Music, open_music
from vjengine.outputs import Sink, check_distinct_files, open_sinks, service_main_thread
from vjengine.outputs.preview import PreviewSink
from vjengine.params import ParamStore
from vjengine.params.modulation import Modulation
from vjengine.settings.config import Config
from vjengine.sources import CameraControls, Source, open_source
from vjengine.status import StatusDisplay, status_fields
from vjengine.tempo.service import Tempo
from vjengine.webaccess import WebAccess

log = logging.getLogger("vjengine")


@dataclass
class Show:
    """What one run opened: the engine, and the parts that the controls, the status and the shutdown reach
    directly (the engine only renders with them)."""

    engine: Engine
    presets: PresetPlayer
    modulation: Modulation
    source: Source
    sinks: list[Sink]
    overlay: list[Sink]
    recorder: Recorder | None
    models: ModelBank
    landmarks: LandmarkAnalyser | None = None
    controls: Controls | None = None
    music: Music | None = None

    @property
    def stats(self) -> EngineStats:
        return self.engine.stats

    @property
    def signals(self) -> dict[str, float]:
        """The newest frame's signals."""
        return self.engine.signals

    @property
    def model_name(self) -> str:
        return self.engine.model_name

    def summary(self) -> str:
        """The status line's part for the controls and the music."""
        parts = (self.controls.summary() if self.controls else "", self.music.summary() if self.music else "")
        return " ".join(part for part in parts if part)

    def close(self) -> None:
        """Stop the controls, the music and the engine's threads, close the outputs, the source and the
        recording (the engine stopped)."""
        for part in (self.controls, self.music):
            if part is not None:
                part.close()
        self.engine.close()
        self.models.close()
        _close_all(self.source, self.sinks + self.overlay)
        if self.recorder is not None:
            self.recorder.close()


def build_show(config: Config, store: ParamStore, access: WebAccess | None = None) -> Show:
    """Load the model, open the source and the outputs; on any failure, close what was opened.

    `access` says who may watch the previews (default: this machine only)."""
    check_distinct_files([*config.outputs, *([config.overlay] if config.overlay else [])])
    bank = Path(config.presets).expanduser()
    if bank.exists() and not bank.is_dir():
        raise VJError(f"the preset bank {config.presets} is a file; give --presets (or [presets] bank) a folder")
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    prepare_process(device)
    entries = model_entries(config)
    for entry in entries[1:]:  # loaded when chosen, but a typo is said now, before the show
        check_spec(entry.spec)
    generator = load_generator(entries[0].spec, device)
    _check_text_params(store, generator)
    log.info(
        "model %s: %s, %d px, on %s (%s)",
        entries[0].spec,
        generator.config["arch"],
        generator.img_resolution,
        device,
        dtype,
    )
    if len(entries) > 1:
        log.info("model bank: %s (model.slot; the others load when chosen)", _bank_line(entries))
    controls = CameraControls(config.camera_autofocus, config.camera_auto_exposure, config.camera_exposure)
    source = open_source(config.source, config.source_width, config.source_height, config.source_fps, controls)
    source.start()
    sinks: list[Sink] = []
    overlay: list[Sink] = []
    try:
        fps = store.get("render.fps") or 30.0
        sinks = open_sinks(config.outputs, fps=fps, access=access)
        overlay = open_sinks([config.overlay] if config.overlay else [], fps=fps, access=access)
        show = _assemble(config, store, entries, generator, device, dtype, source, sinks, overlay)
    except BaseException:
        _close_all(source, sinks + overlay)
        raise
    try:
        _play(show, config, store, access)
    except BaseException:
        show.close()
        raise
    return show


def _play(show: Show, config: Config, store: ParamStore, access: WebAccess | None) -> None:
    """Start the show's controls (OSC, OSCQuery, MIDI: whatever the config opens) and its music."""
    tempo = Tempo(store)  # the run's one tempo: MIDI's clock, taps, the music and Link feed it, the loop ticks it
    show.controls = open_controls(
        config, store, show.presets, show.modulation, access=access, models=show.models, tempo=tempo
    )
    show.music = open_music(config.audio, config.link, store, tempo)
    sensing = show.engine.sensing
    for stage in show.music.analysers:  # the music's signals and the tempo's tick, before the modulation
        sensing.add_stage(stage)
    show.controls.actions.defer = tempo.defer  # preset.quantize: recalls and selects land on the beat
    for listener in show.controls.signal_listeners():
        sensing.add_listener(listener)


def _check_text_params(store: ParamStore, generator: torch.nn.Module) -> None:
    """From now on text parameters are refused when set (OSC too), as numbers are; a bad start value
    (`--set`, `[params]`) stops the start here, before the source and outputs open."""
    for checks in (composer_checks(generator), direction_checks(generator), VISUAL_CHECKS):
        for name, check in checks.items():
            store.add_check(name, check)


def _assemble(
    config: Config,
    store: ParamStore,
    entries: list[BankEntry],
    generator: torch.nn.Module,
    device: torch.device,
    dtype: str,
    source: Source,
    sinks: list[Sink],
    overlay: list[Sink],
) -> Show:
    """The engine around an open source and outputs: the rig it renders with (the model, presets and
    directions) in a bank of the set's models, analysers, modulation and the recording."""
    visual = VisualAnalyser(lambda: open_encoder(config.vgg_weights, device), generator.z_dim)  # when used
    recorder = None
    if config.record:
        params = {name: store.get(name) for name in store.params}
        recorder = Recorder(config.record, entries[0].spec, params)
    presets = PresetPlayer(PresetBank(config.presets), store, model=entries[0].spec)
    modulation = Modulation(store, config.modulation, check_signal)

    def make_rig(entry: BankEntry, G: torch.nn.Module) -> Rig:
        """A model's rig: its own composer (the shared presets) and directions, computed on its worker."""
        context, force_fp32 = precision(dtype, device)  # its own context: a rig may warm up on another thread
        directions = DirectionOffset(G, device)
        directions.prepare(store.snapshot())
        synthesis = CompiledSynthesis(G, device) if config.compile else None
        return Rig.build(
            G,
            presets=presets,
            offsets=[directions],
            precision=context,
            force_fp32=force_fp32,
            synthesis=synthesis,
            name=entry.name,
        )

    def load(entry: BankEntry) -> Rig:  # on the bank's thread, beside the loop
        rig = make_rig(entry, load_generator(entry.spec, device))
        rig.warm_up()
        return rig

    rig = make_rig(entries[0], generator)
    models = ModelBank(entries, load, store, rig, keep=config.models_keep)
    models.follow_presets(presets)
    models.listen()
    landmarks = _landmarks(config, store)
    engine = assemble_engine(
        rig,
        store,
        source,
        sinks,
        models=models,
        landmarks=landmarks,
        camera=CameraLatent(visual),
        modulation=modulation,
        recorder=recorder,
        overlay=overlay,
    )
    return Show(engine, presets, modulation, source, sinks, overlay, recorder, models, landmarks)


def model_entries(config: Config) -> list[BankEntry]:
    """The set's models: `[models] bank` / `--model ...`, else `engine.model` alone."""
    return unique_names([parse_entry(spec) for spec in (config.models_bank or [config.model])])


def _bank_line(entries: list[BankEntry]) -> str:
    return ", ".join(f"{slot} {entry.name}" for slot, entry in enumerate(entries))


def _landmarks(config: Config, store: ParamStore) -> LandmarkAnalyser | None:
    """The MediaPipe analyser, unless every detector is set to "none"."""
    if all(spec.strip().lower() == "none" for spec in config.landmark_bundles.values()):
        return None
    return LandmarkAnalyser(
        config.landmark_bundles,
        hands=store.get("landmarks.hands"),
        face=store.get("landmarks.face"),
        pose=store.get("landmarks.pose"),
        rate=store.get("landmarks.rate"),
        hand_choice=store.get("landmarks.hand_choice"),
        grace=store.get("landmarks.grace"),
        release=store.get("landmarks.release"),
    )


def run(config: Config, store: ParamStore, frames: int | None = None) -> int:
    """Render until `frames` are done, Ctrl-C or SIGTERM; close files and devices; exit status."""
    access = WebAccess(config.web_remote)
    show = build_show(config, store, access)
    engine, controls = show.engine, show.controls
    outputs = [s.name for s in show.sinks]
    display = StatusDisplay(show, config.model, show.source.name, outputs, controls=show.summary)
    previews = [sink for sink in show.sinks if isinstance(sink, PreviewSink)]

    def page_status() -> dict:
        return {**status_fields(show, config.model, show.source.name, outputs), **controls.page_status()}

    serve_page(previews, controls.oscquery, page_status, access, controls.off)
    log.info("source: %s; outputs: %s", show.source.name, ", ".join(outputs) or "none")
    with _stop_on_signals(engine):
        engine.start(frames)
        try:
            while not engine.done.wait(0.05):
                service_main_thread()  # Syphon needs the Cocoa run loop pumped on the main thread
                if config.status:
                    display.update()
        finally:
            engine.stop()
            engine.join(timeout=30)
            if config.status:
                display.update(force=True)
                display.close()
            show.close()
    _report(engine)
    return 1 if engine.error is not None else 0


def _report(engine: Engine) -> None:
    for sink in engine.sinks:
        stats = sink.stats
        if stats.failed:
            log.error("output %s failed: %s", sink.name, stats.failed)
        elif stats.retrying:
            log.warning("output %s was still down at the end: %s", sink.name, stats.retrying)
        elif stats.dropped and not sink.live:
            log.warning("output %s dropped %d of %d frames", sink.name, stats.dropped, stats.sent)
    log.info("rendered %d frames", engine.stats.frames)


def _close_all(source: Source, sinks: list[Sink]) -> None:
    for sink in sinks:
        try:
            sink.close()
        except Exception as exc:  # one failing output must not keep files of the others open
            log.error("closing %s failed: %s", sink.name, exc)
    source.close()


@contextmanager
def _stop_on_signals(engine: Engine) -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the loop cleanly; a second Ctrl-C aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        if engine.stop_event.is_set():
            raise KeyboardInterrupt
        log.info("stopping (%s); finishing files", signal.Signals(signum).name)
        engine.stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
