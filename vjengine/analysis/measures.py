"""Cheap per-frame measures on the render thread: brightness and motion energy."""

from __future__ import annotations

import cv2
import numpy as np

from vjengine.analysis.base import Signals
from vjengine.sources import Frame

# Measured on a small grey copy: the numbers barely change and the cost drops to a fraction of a ms.
_SIZE = (64, 48)
SIGNALS = ("frame.brightness", "motion.energy")


class FrameMeasures:
    """`frame.brightness` (0..1) and `motion.energy` (mean absolute change since the previous new
    frame, in 0..255 grey levels) for modulation and for the visual driver's stillness hold."""

    name = "measures"

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None
        self._last_index = -1
        self._signals: Signals = dict.fromkeys(SIGNALS, 0.0)

    def analyse(self, frame: Frame) -> Signals:
        if frame.index == self._last_index:  # the source has nothing new: the scene did not move for us
            return self._signals
        self._last_index = frame.index
        grey = cv2.cvtColor(cv2.resize(frame.image, _SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        grey = grey.astype(np.float32)
        motion = 0.0 if self._previous is None else float(np.abs(grey - self._previous).mean())
        self._previous = grey
        self._signals = {"frame.brightness": float(grey.mean() / 255.0), "motion.energy": motion}
        return self._signals
