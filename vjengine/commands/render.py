"""`vjengine render`: a recorded performance rendered again, offline, every frame kept."""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from vjengine.device import precision, prepare_process, resolve_device, resolve_dtype
from vjengine.engine.recording import Recording, load_recording
from vjengine.engine.renderer import Renderer, blending
from vjengine.engine.rig import Rig
from vjengine.engine.weight_blend import WeightBlend
from vjengine.errors import ModelError, VJError
from vjengine.models import load_generator
from vjengine.outputs import NullSink, Sink, check_distinct_files, open_sink, sink_class
from vjengine.outputs.frames import to_frame

log = logging.getLogger(__name__)


def render_recording(
    path: str,
    outputs: list[str],
    model: str | None = None,
    fps: float | None = None,
    device: str = "auto",
    dtype: str = "fp32",
) -> int:
    """Render every recorded w+ (or, with `fps`, the resampled ones) to `outputs`; frames rendered."""
    check_distinct_files(outputs)
    for spec in outputs:
        cls = sink_class(spec)
        if cls is not None and cls.live and cls is not NullSink:  # rendering runs flat out, then it exits
            raise VJError(
                f"render --output {spec}: render writes files as fast as it can and then exits, nothing to watch "
                "live; give file:PATH (play live outputs with vjengine run)"
            )
    recording = load_recording(path)
    if fps is not None:
        if fps <= 0:
            raise VJError(f"--fps {fps}: give a positive frame rate")
        recording = recording.resample(fps)
    if recording.noise_seed is None and (recording.noise == "random").any():
        log.warning(
            "%s was recorded without the seeds of its random noise (an older vjengine): frames with "
            "generator.noise=random get new noise, so they are not bit for bit the live ones",
            path,
        )
    dev = resolve_device(device)
    prepare_process(dev)
    context, force_fp32 = precision(resolve_dtype(dtype, dev), dev)
    rigs = _rigs(recording, model, dev, force_fp32)
    rate = fps or _recorded_fps(recording.time)
    sinks = [open_sink(spec, fps=rate) for spec in outputs]
    blend = WeightBlend(wait=True)  # offline, a blend's mixed copy is made at once
    renderer = Renderer(rigs.__getitem__, blending(rigs.__getitem__, blend))
    try:
        with torch.inference_mode(), context:
            for i in range(len(recording.time)):
                frame = to_frame(renderer.render(recording.frame(i)))
                for sink in sinks:  # at the recorded times (or the --fps grid): as long as the take
                    _send_without_dropping(sink, frame, float(recording.time[i]))
    finally:
        blend.close()
        for sink in sinks:
            sink.close()
    failed = [f"{s.name}: {s.stats.failed}" for s in sinks if s.stats.failed]
    if failed:
        raise VJError(f"output failed: {'; '.join(failed)}")
    return len(recording.ws)


def _rigs(recording: Recording, model: str | None, device: torch.device, force_fp32: bool) -> dict[str, Rig]:
    """A rig for each model the recording used, by its recorded spec; `model` replaces a one-model set's model."""
    models = recording.models
    if model and len(models) > 1:
        raise VJError(
            f"this recording switches between {len(models)} models; render it without --model (it loads "
            f"{', '.join(m['spec'] for m in models)})"
        )
    rigs = {}
    for recorded in models:
        G = _generator(model, recorded["spec"], device)
        if (recorded["num_ws"], recorded["w_dim"]) != (G.num_ws, G.w_dim):
            raise VJError(
                f"the recording's latents are ({recorded['num_ws']}, {recorded['w_dim']}) but {G.source} takes "
                f"({G.num_ws}, {G.w_dim}); render with the model it was recorded with"
            )
        rigs[recorded["spec"]] = Rig.build(G, force_fp32=force_fp32)
    return rigs


def _generator(model: str | None, recorded: str, device: torch.device) -> torch.nn.Module:
    """`--model`, else the recorded model; when the recorded one cannot be had, the error says it was
    the recorded one and that `--model` overrides it."""
    if model:
        return load_generator(model, device)
    try:
        return load_generator(recorded, device)
    except ModelError as exc:
        named = "" if recorded in str(exc) else f" {recorded}"  # a reader's error may not name the file
        raise ModelError(f"the recorded model{named}: {exc}; --model SPEC renders with another") from None


def _recorded_fps(times: np.ndarray) -> float:
    if len(times) < 2 or times[-1] <= 0:
        return 30.0
    return float((len(times) - 1) / times[-1])


def _send_without_dropping(sink: Sink, frame: np.ndarray, at: float, backlog: int = 60) -> None:
    """Offline there is time: wait while the sink is behind rather than let it drop frames."""
    while not sink.stats.failed and sink.stats.sent - sink.stats.written - sink.stats.dropped >= backlog:
        time.sleep(0.002)
    sink.send(frame, at=at)
