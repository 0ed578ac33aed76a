"""`spout[:NAME]`: frames as a Spout sender on Windows, for TouchDesigner, Resolume or OBS (Spout plugin).

SpoutGL's `sendImage(buffer, width, height, gl_format, invert, host_fbo)` takes a C-contiguous buffer of at least
width x height x 4 bytes, rows top first. BGRA is what Spout's shared DirectX texture holds, so it needs no
swizzle, not even on the CPU share that Spout falls back to where GL/DirectX interop is missing.
Spout needs an OpenGL context on the sending thread: the sink creates a hidden one with `createOpenGL`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import numpy as np

from vjengine.outputs.base import Sink, missing_module, publish_name
from vjengine.outputs.frames import PixelPacker

log = logging.getLogger(__name__)

LAYOUT = "BGRA"
GL_BGRA_EXT = 0x80E1  # the value SpoutGL.enums.GL_BGRA_EXT re-exports; known here so the layout is testable anywhere


class SpoutSink(Sink):
    """Sends every frame to one Spout sender, created in the sink's thread together with its GL context."""

    kind = "spout"
    usage = "spout[:NAME]"
    description = (
        "spout[:NAME] - share frames with Spout receivers on this PC (TouchDesigner's Syphon Spout In TOP, "
        "Resolume, OBS) as sender NAME (default vjengine); options ?size=WxH&fit=stretch|letterbox|crop&flip=1"
    )
    live = True
    layout = LAYOUT
    retry_on_failure = True
    flips_itself = True  # sendImage's invert flag flips while copying

    def __init__(self, name: str, sender_name: str) -> None:
        self.sender_name = sender_name
        self._packer = PixelPacker(LAYOUT)
        self._sender: Any = None
        super().__init__(name)

    @classmethod
    def from_spec(cls, arg: str | None, name: str, fps: float) -> Sink:
        return cls(name, publish_name(arg, "spout"))

    @classmethod
    def availability(cls) -> str:
        return spout_missing() or "available"

    def _open(self, first_frame: np.ndarray) -> None:
        import SpoutGL

        self._sender = SpoutGL.SpoutSender()
        if not self._sender.createOpenGL():
            log.info("%s: no OpenGL context; Spout shares through the CPU", self.name)
        self._sender.setSenderName(self.sender_name)
        height, width = first_frame.shape[:2]
        log.info("%s: Spout sender %r, %dx%d", self.name, self.sender_name, width, height)

    def _write(self, frame: np.ndarray) -> None:
        height, width = frame.shape[:2]
        pixels = self._packer.pack(frame)
        if not self._sender.sendImage(pixels, width, height, GL_BGRA_EXT, self.shaping.flip, 0):
            raise RuntimeError("Spout could not send the frame (no DirectX 11 device?)")
        self._sender.setFrameSync(self.sender_name)  # receivers that sync to senders wake up now

    def _close(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.releaseSender()
            sender.closeOpenGL()


def spout_missing() -> str | None:
    """Why Spout cannot run here, in one line, or None."""
    if sys.platform != "win32":
        return "Windows only (Spout); on macOS use syphon, elsewhere ndi"
    return missing_module("SpoutGL", "needs SpoutGL: pip install SpoutGL")
