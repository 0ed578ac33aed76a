"""`syphon[:NAME]`: frames as a Syphon Metal server on macOS, for TouchDesigner, Resolume, VDMX or MadMapper.

syphon-python copies an (H, W, 4) RGBA array into an MTLPixelFormatRGBA8Unorm texture, rows top first with a
stride of W x 4 bytes, and publishes it. Clients find the server through the Cocoa run loop, which a headless
process must pump on its main thread: the server is created there and a pump is registered (see mainloop).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import numpy as np

from vjengine.outputs.base import Sink, missing_module, publish_name
from vjengine.outputs.frames import PixelPacker
from vjengine.outputs.mainloop import add_pump, call_on_main, main_thread_is_serviced, remove_pump

log = logging.getLogger(__name__)

RUN_LOOP_SLICE_S = 0.005  # each pump lets Cocoa handle discovery for at most this long
LAYOUT = "RGBA"  # what syphon.utils.raw.create_mtl_texture makes by default (MTLPixelFormatRGBA8Unorm)


class SyphonSink(Sink):
    """Publishes every frame to one Syphon Metal server; its name shows in every Syphon client's list."""

    kind = "syphon"
    usage = "syphon[:NAME]"
    description = (
        "syphon[:NAME] - share frames with Syphon clients on this Mac (TouchDesigner's Syphon Spout In TOP, "
        "Resolume, VDMX) as server NAME (default vjengine); options ?size=WxH&fit=stretch|letterbox|crop&flip=1"
    )
    live = True
    layout = LAYOUT
    retry_on_failure = True
    flips_itself = True  # publish_frame_texture flips on the GPU

    def __init__(self, name: str, server_name: str) -> None:
        self.server_name = server_name
        self._packer = PixelPacker(LAYOUT)
        self._server: Any = None
        self._texture: Any = None
        super().__init__(name)

    @classmethod
    def from_spec(cls, arg: str | None, name: str, fps: float) -> Sink:
        return cls(name, publish_name(arg, "syphon"))

    @classmethod
    def availability(cls) -> str:
        return syphon_missing() or "available"

    def _open(self, first_frame: np.ndarray) -> None:
        import syphon
        from syphon.utils.raw import create_mtl_texture

        height, width = first_frame.shape[:2]
        # Created on the main thread: its announcements go through the run loop that the main thread pumps.
        self._server = call_on_main(lambda: syphon.SyphonMetalServer(self.server_name))
        self._texture = create_mtl_texture(self._server.device, width, height)
        directory = syphon.SyphonServerDirectory()
        directory.run_loop_interval = RUN_LOOP_SLICE_S
        add_pump(self.name, directory.update_run_loop)
        if not main_thread_is_serviced():
            log.warning(
                "%s: nothing pumps the main thread's run loop, so Syphon clients may not see the server; "
                "call vjengine.outputs.service_main_thread() regularly from the main thread",
                self.name,
            )
        log.info("%s: Syphon server %r, %dx%d", self.name, self.server_name, width, height)

    def _write(self, frame: np.ndarray) -> None:
        from syphon.utils.numpy import copy_image_to_mtl_texture

        copy_image_to_mtl_texture(self._packer.pack(frame), self._texture)
        self._server.publish_frame_texture(self._texture, is_flipped=self.shaping.flip)

    def _close(self) -> None:
        remove_pump(self.name)
        server, self._server, self._texture = self._server, None, None
        if server is not None:
            server.stop()  # here, not on the main thread: that one may be waiting in close() for this thread


def syphon_missing() -> str | None:
    """Why Syphon cannot run here, in one line, or None."""
    if sys.platform != "darwin":
        return "macOS only (Syphon); on Windows use spout, elsewhere ndi"
    return missing_module("syphon", "needs syphon-python: pip install syphon-python")
