"""Where frames go: video files, PNG sequences, a browser preview (later Syphon, Spout, NDI, virtual camera).

`open_sink("file:out.mp4", fps)` returns a `Sink`; the render loop calls `send(frame)` on every sink
each frame and `close()` at the end. No sink can block the loop or another sink.
"""

from __future__ import annotations

from vjengine.errors import VJError
from vjengine.outputs.base import Sink, SinkStats
from vjengine.outputs.file import FileSink
from vjengine.outputs.null import NullSink
from vjengine.outputs.preview import PreviewSink

__all__ = ["SINK_KINDS", "Sink", "SinkStats", "backend_status", "open_sink"]

# A new backend is one Sink subclass with kind, usage, description, from_spec and availability, listed here.
_SINKS: dict[str, type[Sink]] = {cls.kind: cls for cls in (FileSink, PreviewSink, NullSink)}
PLANNED_KINDS = ("syphon", "spout", "virtualcam", "ndi")

SINK_KINDS: dict[str, str] = {kind: cls.description for kind, cls in _SINKS.items()}


def open_sink(spec: str, fps: float = 30.0) -> Sink:
    """Start the output `spec` (`kind` or `kind:ARG`, see SINK_KINDS); frames at `fps` where that matters."""
    name = spec.strip()
    kind, colon, arg = name.partition(":")
    kind = kind.lower()
    cls = _SINKS.get(kind)
    if cls is None:
        raise VJError(_unknown_kind(name, kind))
    why = cls.availability()
    if why != "available" and kind != "file":  # file checks for itself: PNG sequences need no PyAV
        raise VJError(f"output {kind!r} cannot run here: {why}")
    return cls.from_spec(arg if colon else None, name, fps)


def backend_status() -> dict[str, str]:
    """Each output kind -> "available", or one line on why it cannot run here (for `vjengine devices`)."""
    return {kind: cls.availability() for kind, cls in _SINKS.items()}


def _unknown_kind(spec: str, kind: str) -> str:
    usage = ", ".join(cls.usage for cls in _SINKS.values())
    if kind in PLANNED_KINDS:
        return f"output {kind!r} is not available in this version yet (planned); available outputs: {usage}"
    if not spec:
        return f"empty output: use one of {usage}"
    hint = f"; did you mean file:{spec}?" if "." in spec or "/" in spec else ""
    return f"unknown output {spec!r}: use one of {usage}{hint}"
