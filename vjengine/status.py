"""The live status: one rewritten line on a terminal, a plain log line every few seconds otherwise."""

from __future__ import annotations

import logging
import shutil
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # the status reads a running show; importing the app here would be circular
    from vjengine.show import Show

log = logging.getLogger("vjengine.status")


def status_text(
    show: Show, model: str, source: str, outputs: list[str], controls: str = "", width: int | None = None
) -> str:
    """fps, per-stage median milliseconds, dropped frames, what is connected, and what is down.

    With `width`, parts are left out, least needed first (model, source, outputs, stage times ...), until
    the line fits: a terminal wraps a longer one and the in-place redraw then leaves fragments. fps and
    what is down or failing are kept; if even they do not fit the line is cut."""
    parts = _status_parts(show, model, source, outputs, controls)
    if width is not None:
        for drop in sorted({rank for rank, _ in parts if rank > 0}, reverse=True):
            if len(_join(parts)) <= width:
                break
            parts = [(rank, text) for rank, text in parts if rank != drop]
        text = _join(parts)
        return text if len(text) <= width else text[: max(0, width - 1)] + "…"
    return _join(parts)


def _join(parts: list[tuple[int, str]]) -> str:
    return " | ".join(text for _, text in parts)


def _status_parts(show: Show, model: str, source: str, outputs: list[str], controls: str) -> list[tuple[int, str]]:
    """(rank, text) in display order; rank 0 is always shown, higher ranks are left out first when narrow."""
    stats = show.stats
    stages = " ".join(f"{s} {stats.median_ms(s):.1f}" for s in ("generate", "compose", "copy", "publish"))
    dropped = sum(sink.stats.dropped for sink in show.sinks)
    failed = [sink.name for sink in show.sinks if sink.stats.failed]
    down = [sink.name for sink in show.sinks if sink.stats.retrying]
    parts = [(0, f"{stats.fps:5.1f} fps"), (4, f"ms: {stages}"), (2, f"frames {stats.frames}")]
    parts.append((1, f"dropped {dropped}"))
    if stats.failed:
        parts.append((0, f"SKIPPED {stats.failed} (see the log)"))
    if show.landmarks is not None and show.landmarks.enabled.get("hands"):
        parts.append((3, f"hand {'yes' if show.signals.get('hand.present', 0.0) > 0.5 else 'no'}"))
    parts += [
        (6, f"source {source}"),
        (7, f"model {show.model_name or model}"),
        (5, f"out {', '.join(outputs) or 'none'}"),
    ]
    if controls:
        parts.append((3, controls))
    if down:
        parts.append((0, f"DOWN (retrying): {', '.join(down)}"))
    if failed:
        parts.append((0, f"FAILED: {', '.join(failed)}"))
    return parts


def status_fields(show: Show, model: str, source: str, outputs: list[str]) -> dict[str, Any]:
    """The status line's facts as JSON-able fields, for the browser page's status line.

    `hand`/`face` are None when that tracker is off, else whether one is tracked now."""
    stats = show.stats
    return {
        "fps": round(stats.fps, 1),
        "frames": stats.frames,
        "skipped": stats.failed,
        "dropped": sum(sink.stats.dropped for sink in show.sinks),
        "model": show.model_name or model,
        "source": source,
        "outputs": outputs,
        "down": [sink.name for sink in show.sinks if sink.stats.retrying],
        "failed": [sink.name for sink in show.sinks if sink.stats.failed],
        "hand": _tracked(show, "hands", "hand.present"),
        "face": _tracked(show, "face", "face.present"),
    }


def _tracked(show: Show, detector: str, signal: str) -> bool | None:
    if show.landmarks is None or not show.landmarks.enabled.get(detector):
        return None
    return show.signals.get(signal, 0.0) > 0.5


class StatusDisplay:
    """Shows `status_text` every `interval` seconds: in place on a terminal, as log lines elsewhere."""

    def __init__(
        self,
        show: Show,
        model: str,
        source: str,
        outputs: list[str],
        stream: TextIO | None = None,
        controls: Callable[[], str] | None = None,
    ):
        self.show, self.model, self.source, self.outputs = show, model, source, outputs
        self.controls = controls or (lambda: "")
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty()
        self.interval = 0.5 if self.live else 5.0
        self._last = time.monotonic()  # the first line once there is something to report

    def update(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        if self.live:
            # One column short of the width: a line that fills it exactly wraps on some terminals.
            width = shutil.get_terminal_size(fallback=(80, 24)).columns - 1
            text = status_text(self.show, self.model, self.source, self.outputs, self.controls(), width)
            self.stream.write("\r" + text + "\x1b[K")
            self.stream.flush()
        else:
            log.info("%s", status_text(self.show, self.model, self.source, self.outputs, self.controls()))

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()
