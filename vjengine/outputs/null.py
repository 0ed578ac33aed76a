"""`none`: an output that discards every frame, to measure the engine without output cost."""

from __future__ import annotations

import numpy as np

from vjengine.errors import VJError
from vjengine.outputs.base import Sink


class NullSink(Sink):
    """Accepts and discards frames; it still runs the hand-over, so benchmarks include that cost."""

    kind = "none"
    usage = "none"
    description = "none - discard frames (for benchmarks)"
    live = True

    @classmethod
    def from_spec(cls, arg: str | None, name: str, fps: float) -> Sink:
        if arg:
            raise VJError(f"the none output takes no argument: write 'none', not {name!r}")
        return cls(name)

    def _write(self, frame: np.ndarray) -> None:
        pass
