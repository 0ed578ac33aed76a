"""Where frames go: files, a browser preview, Syphon, Spout, a virtual camera, NDI.

`open_sink("ndi:Stage?size=1280x720&fit=letterbox", fps)` returns a `Sink`; the render loop calls `send(frame)` on
every sink each frame and `close()` at the end. No sink can block the loop or another sink.

A spec is `KIND[:ARG][?OPTION=VALUE&...]`. Every kind but `file` (whose paths may hold a `?`) takes the options
`size=WxH` (the output's own size; default the model's), `fit=stretch|letterbox|crop` (how a size of another
aspect ratio is filled; default stretch) and `flip=1` (upside down, for consumers that read rows bottom first).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from vjengine.errors import VJError
from vjengine.outputs.base import Sink, SinkStats
from vjengine.outputs.file import FileSink
from vjengine.outputs.frames import FIT_MODES, Shaping
from vjengine.outputs.mainloop import service_main_thread
from vjengine.outputs.ndi import NdiSink
from vjengine.outputs.null import NullSink
from vjengine.outputs.preview import PreviewSink
from vjengine.outputs.spout import SpoutSink
from vjengine.outputs.syphon import SyphonSink
from vjengine.outputs.virtualcam import VirtualCameraSink
from vjengine.webaccess import WebAccess

__all__ = [
    "SINK_KINDS",
    "NullSink",
    "OutputUnavailable",
    "Shaping",
    "Sink",
    "SinkStats",
    "backend_status",
    "check_distinct_files",
    "open_sink",
    "open_sinks",
    "parse_options",
    "service_main_thread",
    "sink_class",
]

log = logging.getLogger(__name__)

# A new backend is one Sink subclass with kind, usage, description, from_spec and availability, listed here.
_SINKS: dict[str, type[Sink]] = {
    cls.kind: cls for cls in (FileSink, PreviewSink, NullSink, SyphonSink, SpoutSink, VirtualCameraSink, NdiSink)
}
_KIND = re.compile(r"[^:?]*")
_TAKES_NO_OPTIONS = ("file",)  # a path may contain "?"

SINK_KINDS: dict[str, str] = {kind: cls.description for kind, cls in _SINKS.items()}

OPTIONS_USAGE = f"size=WxH, fit={'|'.join(FIT_MODES)}, flip=0|1"
_SIZE = re.compile(r"(\d+)[xX](\d+)")
_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
MAX_SIDE = 16384


class OutputUnavailable(VJError):
    """The output's backend is missing on this machine (a library, a driver, the wrong OS)."""


def open_sink(spec: str, fps: float = 30.0, access: WebAccess | None = None) -> Sink:
    """Start the output `spec` (`kind[:ARG][?OPTIONS]`, see SINK_KINDS); frames at `fps` where that matters.

    `access` says who may watch a preview (default: this machine only; `--remote` opens it with a token).

    A bad spec raises VJError; a backend this machine lacks raises OutputUnavailable (also a VJError).
    """
    name = spec.strip()
    kind = _KIND.match(name)[0]
    rest = name[len(kind) :]  # "", ":ARG", ":ARG?OPTIONS" or "?OPTIONS"
    cls = _SINKS.get(kind.lower())
    if cls is None:
        raise VJError(_unknown_kind(name, kind.lower()))
    body, query = (rest, "") if cls.kind in _TAKES_NO_OPTIONS else rest.partition("?")[::2]
    shaping = parse_options(query, name)
    why = cls.availability()
    if why != "available" and cls.kind != "file":  # file checks for itself: PNG sequences need no PyAV
        raise OutputUnavailable(f"output {cls.kind!r} cannot run here: {why}")
    arg = body[1:] if body.startswith(":") else None
    sink = PreviewSink.from_spec(arg, name, fps, access) if cls is PreviewSink else cls.from_spec(arg, name, fps)
    if shaping != Shaping():
        sink.set_shaping(shaping)
    return sink


def open_sinks(specs: Iterable[str], fps: float = 30.0, access: WebAccess | None = None) -> list[Sink]:
    """Open every output; one whose backend is missing here is left out with one warning line, so the others
    and the engine go on. A bad spec still raises VJError (after closing the sinks already open)."""
    sinks: list[Sink] = []
    try:
        for spec in specs:
            try:
                sinks.append(open_sink(spec, fps, access))
            except OutputUnavailable as exc:
                log.warning("%s; going on without it", exc)
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return sinks


def sink_class(spec: str) -> type[Sink] | None:
    """The Sink class an output spec names, or None for an unknown kind (open_sink says what is allowed)."""
    return _SINKS.get(_KIND.match(spec.strip())[0].lower())


def check_distinct_files(specs: Iterable[str]) -> None:
    """Refuse, before anything opens, two `file:` outputs that would write the same file (each would
    overwrite the other's recording, and one of them would be lost without a word), and two previews
    on the same port."""
    seen: dict[str, str] = {}
    for spec in specs:
        name = spec.strip()
        kind = _KIND.match(name)[0]
        arg = name[len(kind) + 1 :] if name[len(kind) : len(kind) + 1] == ":" else ""
        if kind.lower() == PreviewSink.kind and arg.partition("?")[0].strip() not in ("", "0"):
            port = f"preview port {arg.partition('?')[0].strip()}"
            if port in seen:  # the second would find the first's port taken, and blame "another program"
                raise VJError(f"two outputs use {port} ({seen[port]} and {name}); give each its own port, or none")
            seen[port] = name
            continue
        if kind.lower() != FileSink.kind or not arg:
            continue  # not a file, or a spec that open_sink will refuse with its own message
        target = FileSink.target(arg)
        if target in seen:
            raise VJError(
                f"two outputs write {target} ({seen[target]} and {name}): one recording would be lost; "
                "give each its own file (or folder), e.g. file:show.mp4 and file:camera.mp4"
            )
        seen[target] = name


def parse_options(query: str, spec: str = "") -> Shaping:
    """The shaping that `size=WxH&fit=letterbox&flip=1` asks for; a one-line VJError for anything else."""
    values: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, equals, value = item.partition("=")
        key = key.strip().lower()
        if key not in ("size", "fit", "flip") or not equals:
            raise VJError(f"bad output option {item!r} in {spec!r}: use {OPTIONS_USAGE}, joined by &")
        if key in values:
            raise VJError(f"output option {key!r} given twice in {spec!r}")
        values[key] = value.strip()
    size = _parse_size(values["size"], spec) if "size" in values else None
    fit = values.get("fit", "stretch").lower()
    if fit not in FIT_MODES:
        raise VJError(f"bad fit {fit!r} in {spec!r}: use fit={'|'.join(FIT_MODES)}")
    if "fit" in values and size is None:
        raise VJError(f"fit needs a size in {spec!r}: add size=WxH, e.g. ?size=1280x720&fit={fit}")
    flip = _BOOLEANS.get(values.get("flip", "0").lower())
    if flip is None:
        raise VJError(f"bad flip {values['flip']!r} in {spec!r}: use flip=1 or flip=0")
    return Shaping(size=size, fit=fit, flip=flip)


def backend_status() -> dict[str, str]:
    """Each output kind -> "available", or one line on why it cannot run here (for `vjengine devices`)."""
    return {kind: cls.availability() for kind, cls in _SINKS.items()}


def _parse_size(text: str, spec: str) -> tuple[int, int]:
    match = _SIZE.fullmatch(text)
    width, height = (int(match[1]), int(match[2])) if match else (0, 0)
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise VJError(f"bad size {text!r} in {spec!r}: use size=WxH with sides from 1 to {MAX_SIDE}, e.g. 1280x720")
    return width, height


def _unknown_kind(spec: str, kind: str) -> str:
    usage = ", ".join(cls.usage for cls in _SINKS.values())
    if not spec:
        return f"empty output: use one of {usage}"
    hint = f"; did you mean file:{spec}?" if "." in spec or "/" in spec else ""
    return f"unknown output {spec!r}: use one of {usage}{hint}"
