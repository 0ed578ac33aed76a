"""The live status: one rewritten line on a terminal, a plain log line every few seconds otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

from vjengine.engine import Engine

log = logging.getLogger("vjengine.status")


def status_text(engine: Engine, model: str, source: str, outputs: list[str], controls: str = "") -> str:
    """fps, per-stage median milliseconds, dropped frames, what is connected, and what is down."""
    stats = engine.stats
    stages = " ".join(f"{s} {stats.median_ms(s):.1f}" for s in ("generate", "compose", "copy", "publish"))
    dropped = sum(sink.stats.dropped for sink in engine.sinks)
    failed = [sink.name for sink in engine.sinks if sink.stats.failed]
    down = [sink.name for sink in engine.sinks if sink.stats.retrying]
    text = f"{stats.fps:5.1f} fps | ms: {stages} | frames {stats.frames} | dropped {dropped}"
    text += f" | SKIPPED {stats.failed} (see the log)" if stats.failed else ""
    if engine.landmarks is not None and engine.landmarks.enabled.get("hands"):
        text += f" | hand {'yes' if engine.signals.get('hand.present', 0.0) > 0.5 else 'no'}"
    text += f" | source {source} | model {model} | out {', '.join(outputs) or 'none'}"
    text += f" | {controls}" if controls else ""
    text += f" | DOWN (retrying): {', '.join(down)}" if down else ""
    return text + (f" | FAILED: {', '.join(failed)}" if failed else "")


class StatusDisplay:
    """Shows `status_text` every `interval` seconds: in place on a terminal, as log lines elsewhere."""

    def __init__(
        self,
        engine: Engine,
        model: str,
        source: str,
        outputs: list[str],
        stream: TextIO | None = None,
        controls: Callable[[], str] | None = None,
    ):
        self.engine, self.model, self.source, self.outputs = engine, model, source, outputs
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
        text = status_text(self.engine, self.model, self.source, self.outputs, self.controls())
        if self.live:
            width = 200
            self.stream.write("\r" + text[:width].ljust(min(width, len(text))) + "\x1b[K")
            self.stream.flush()
        else:
            log.info("%s", text)

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()
