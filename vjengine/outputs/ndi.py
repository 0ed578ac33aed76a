"""`ndi[:NAME]`: frames as an NDI source on the network, for TouchDesigner's NDI In TOP, Resolume, OBS or vMix.

ndi-python wraps the NDI SDK and its wheels carry the runtime. A sender takes RGBX rows top first with a stride of
W x 4 bytes and compresses them itself; the frame rate it announces is the engine's. Receivers find it by name
through mDNS, or connect straight to HOST:PORT (the sender listens on TCP 5961 and up; 5960 answers queries).
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any

import numpy as np

from vjengine.errors import VJError
from vjengine.ndilib import ndi_missing, ndi_runtime
from vjengine.outputs.base import Sink, publish_name
from vjengine.outputs.frames import PixelPacker

log = logging.getLogger(__name__)

LAYOUT = "RGBA"  # sent as NDI's RGBX: the alpha byte is there, receivers ignore it


class NdiSink(Sink):
    """Sends every frame to one NDI source named NAME; receivers that connect get the newest frame."""

    kind = "ndi"
    usage = "ndi[:NAME]"
    description = (
        "ndi[:NAME] - send frames over the network as NDI source NAME (default vjengine) for TouchDesigner's "
        "NDI In TOP, Resolume, OBS; options ?size=WxH&fit=stretch|letterbox|crop&flip=1"
    )
    live = True
    layout = LAYOUT
    retry_on_failure = True
    flips_itself = True  # the packer flips while converting

    def __init__(self, name: str, source_name: str, fps: float) -> None:
        if not fps > 0:
            raise VJError(f"cannot send NDI at {fps} fps: the frame rate must be positive")
        self.source_name = source_name
        self.fps = fps
        self._ndi = ndi_runtime()  # fails at start-up rather than in the thread
        self._packer: PixelPacker | None = None
        self._sender: Any = None
        self._video: Any = None
        super().__init__(name)

    @classmethod
    def from_spec(cls, arg: str | None, name: str, fps: float) -> Sink:
        return cls(name, publish_name(arg, "ndi"), fps)

    @classmethod
    def availability(cls) -> str:
        return ndi_missing() or "available"

    @property
    def full_name(self) -> str | None:
        """The name receivers list, "MACHINE (NAME)", once the sender is open."""
        sender = self._sender
        return None if sender is None else self._ndi.send_get_source_name(sender).ndi_name

    def _open(self, first_frame: np.ndarray) -> None:
        ndi = self._ndi
        settings = ndi.SendCreate()
        settings.ndi_name = self.source_name
        settings.clock_video = False  # the engine paces frames; clocking here would only add latency
        self._sender = ndi.send_create(settings)
        if self._sender is None:
            raise RuntimeError(f"NDI could not create the sender {self.source_name!r}")
        rate = Fraction(self.fps).limit_denominator(1001)
        self._video = ndi.VideoFrameV2()
        self._video.FourCC = ndi.FOURCC_VIDEO_TYPE_RGBX
        self._video.frame_rate_N, self._video.frame_rate_D = rate.numerator, rate.denominator
        self._packer = PixelPacker(LAYOUT, flip=self.shaping.flip)
        height, width = first_frame.shape[:2]
        log.info("%s: NDI source %r, %dx%d at %g fps", self.name, self.full_name, width, height, self.fps)

    def _write(self, frame: np.ndarray) -> None:
        # Setting data also sets xres, yres and the line stride from the array; the synchronous send copies
        # (and compresses) the pixels before it returns, so the packer may reuse its buffer.
        self._video.data = self._packer.pack(frame)
        self._ndi.send_send_video_v2(self._sender, self._video)

    def _close(self) -> None:
        sender, self._sender, self._video = self._sender, None, None
        if sender is not None:
            self._ndi.send_destroy(sender)
