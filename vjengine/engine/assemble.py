"""Wiring the loop's four parts around a rig: the one place an `Engine` is put together.

`vjengine.show.build_show` calls it with what a config opened; tests and embedders call it with what they
need, everything else left out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from vjengine.analysis import Analyser, AsyncAnalyser
from vjengine.analysis.landmarks import LandmarkAnalyser
from vjengine.analysis.measures import FrameMeasures
from vjengine.engine.bank import ModelBank
from vjengine.engine.director import Director
from vjengine.engine.loop import Engine
from vjengine.engine.publisher import Overlay, Publisher, StateRecorder
from vjengine.engine.renderer import Renderer
from vjengine.engine.rig import Rig
from vjengine.engine.sensing import CameraLatent, Sensing, SignalListener, Stage
from vjengine.engine.weight_blend import WeightBlend
from vjengine.outputs import Sink
from vjengine.params import ParamStore
from vjengine.params.modulation import Modulation
from vjengine.sources import Source


def assemble_engine(
    rig: Rig,
    store: ParamStore,
    source: Source,
    sinks: Sequence[Sink] = (),
    *,
    models: ModelBank | None = None,
    stages: Sequence[Stage | Analyser | AsyncAnalyser] = (),
    landmarks: LandmarkAnalyser | None = None,
    camera: CameraLatent | None = None,
    modulation: Modulation | None = None,
    listeners: Sequence[SignalListener] = (),
    recorder: StateRecorder | None = None,
    overlay: Sequence[Sink] = (),
    convert_layouts: bool | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Engine:
    """An engine rendering `rig` (slot 0 of `models`, when a set is given) from `source` to `sinks`.

    The stages run in this order each frame: the frame's measures, `stages`, the `landmarks` detectors, the
    `camera`'s latents. Layouts other than RGB are converted once per frame on a GPU (`convert_layouts` None:
    when the rig is on CUDA)."""
    director = Director(rig, models, WeightBlend())
    sensing = Sensing(
        source,
        [FrameMeasures(), *stages, *([landmarks] if landmarks is not None else [])],
        modulation,
        listeners,
        camera,
    )
    if convert_layouts is None:
        convert_layouts = rig.device.type == "cuda"
    publisher = Publisher(sinks, recorder, Overlay(overlay, landmarks) if overlay else None, convert_layouts)
    return Engine(store, sensing, director, Renderer(director.rig_of, director.composed_with), publisher, clock)
