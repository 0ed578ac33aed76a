"""`vjengine render`: a recorded performance rendered again, offline, every frame kept."""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from vjengine.device import precision, resolve_device, resolve_dtype
from vjengine.engine import to_frame
from vjengine.errors import ModelError, VJError
from vjengine.models import load_generator
from vjengine.models.manipulation import Manipulator
from vjengine.outputs import NullSink, Sink, check_distinct_files, open_sink, sink_class
from vjengine.record import load_recording, noise_generator

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
    G = _generator(model, recording.meta["model"], dev)
    if recording.ws.shape[1:] != (G.num_ws, G.w_dim):
        raise VJError(
            f"the recording's latents are {recording.ws.shape[1:]} but this model takes ({G.num_ws}, {G.w_dim}); "
            "render with the model it was recorded with"
        )
    rate = fps or _recorded_fps(recording.time)
    sinks = [open_sink(spec, fps=rate) for spec in outputs]
    context, force_fp32 = precision(resolve_dtype(dtype, dev), dev)
    manipulator = Manipulator(G)
    try:
        with torch.inference_mode(), context:
            for i, (ws, noise) in enumerate(zip(recording.ws, recording.noise, strict=True)):
                state = recording.frame_state(i)
                manipulator.apply(_manipulation_state(state), state["corruption.phase"])
                img = G.synthesis(
                    torch.from_numpy(ws)[None].to(dev),
                    noise_mode=str(noise),
                    force_fp32=force_fp32,
                    noise_generator=noise_generator(recording.frame_noise_seed(i), dev),
                )
                frame = to_frame(img)
                for sink in sinks:  # at the recorded times (or the --fps grid): as long as the take
                    _send_without_dropping(sink, frame, float(recording.time[i]))
    finally:
        for sink in sinks:
            sink.close()
    failed = [f"{s.name}: {s.stats.failed}" for s in sinks if s.stats.failed]
    if failed:
        raise VJError(f"output failed: {'; '.join(failed)}")
    return len(recording.ws)


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


def _manipulation_state(state: dict) -> dict:
    """A recorded frame's state as the Manipulator reads it (recordings keep numbers only)."""
    mode = "warp" if state.get("corruption.warp", 0.0) >= 0.5 else "noise"
    return {**state, "corruption.seed": int(state["corruption.seed"]), "corruption.mode": mode}
