"""The words of the modulation lines (bindings and triggers), written once: what a name and a number look like."""

from __future__ import annotations

NAME = r"[A-Za-z_][\w.]*"  # a parameter or a signal: hand.distance, audio.low, corruption.gain
UNSIGNED = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"  # 2, 0.5, .5, 1e-3
NUMBER = rf"[-+]?{UNSIGNED}"
