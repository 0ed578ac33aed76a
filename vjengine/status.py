"""The live status: one rewritten line on a terminal, a plain log line every few seconds otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from vjengine.engine import Engine

log = logging.getLogger("vjengine.status")


def status_text(engine: Engine, model: str, source: str, outputs: list[str]) -> str:
    """fps, per-stage median milliseconds, dropped frames, and what is connected."""
    stats = engine.stats
    stages = " ".join(f"{s} {stats.median_ms(s):.1f}" for s in ("generate", "compose", "copy", "publish"))
    dropped = sum(sink.stats.dropped for sink in engine.sinks)
    failed = [sink.name for sink in engine.sinks if sink.stats.failed]
    text = f"{stats.fps:5.1f} fps | ms: {stages} | frames {stats.frames} | dropped {dropped}"
    text += f" | source {source} | model {model} | out {', '.join(outputs) or 'none'}"
    return text + (f" | FAILED: {', '.join(failed)}" if failed else "")


class StatusDisplay:
    """Shows `status_text` every `interval` seconds: in place on a terminal, as log lines elsewhere."""

    def __init__(self, engine: Engine, model: str, source: str, outputs: list[str], stream: TextIO | None = None):
        self.engine, self.model, self.source, self.outputs = engine, model, source, outputs
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty()
        self.interval = 0.5 if self.live else 5.0
        self._last = time.monotonic()  # the first line once there is something to report

    def update(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        text = status_text(self.engine, self.model, self.source, self.outputs)
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
