"""`ndi:NAME` or `ndi:HOST:PORT`: an NDI source as the camera, e.g. TouchDesigner's NDI Out TOP.

By NAME ("MACHINE (Stream)", or just "Stream") the NDI runtime finds the source through mDNS and connects when it
appears; by HOST:PORT it connects straight to the sender's TCP port, with no discovery (useful where mDNS is
blocked). Frames arrive as RGBX and are published as (H, W, 3) RGB; the newest one wins.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np

from vjengine.errors import VJError
from vjengine.ndilib import ndi_runtime
from vjengine.sources.base import Source

log = logging.getLogger(__name__)

CAPTURE_TIMEOUT_MS = 100  # how long one wait for a frame may take, so close() is quick
FIND_INTERVAL_MS = 500
_ADDRESS = re.compile(r"(?P<host>[\w.\-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})")


class NdiSource(Source):
    """Receives one NDI source on its own thread; reconnecting when the sender comes back is NDI's job."""

    def __init__(self, target: str) -> None:
        target = target.strip()
        if not target:
            raise VJError("empty NDI source: write ndi:NAME (as receivers list it) or ndi:HOST:PORT")
        self.target = target
        self.address = target if _ADDRESS.fullmatch(target) else None
        if self.address is not None and not 0 < int(target.rsplit(":", 1)[1]) < 65536:
            raise VJError(f"bad NDI address {target!r}: the port must be from 1 to 65535")
        self._ndi = ndi_runtime()
        self._receiver: Any = None
        self._finder: Any = None
        super().__init__(f"ndi:{target}")

    def _produce(self) -> None:
        ndi = self._ndi
        source = self._wait_for_source()
        if source is None:
            return
        settings = ndi.RecvCreateV3()
        settings.source_to_connect_to = source
        settings.color_format = ndi.RECV_COLOR_FORMAT_RGBX_RGBA
        settings.bandwidth = ndi.RECV_BANDWIDTH_HIGHEST
        self._receiver = ndi.recv_create_v3(settings)
        if self._receiver is None:
            raise RuntimeError(f"NDI could not create a receiver for {self.target!r}")
        while not self._stopping:
            kind, video, _, _ = ndi.recv_capture_v2(self._receiver, CAPTURE_TIMEOUT_MS, True, False, False)
            if kind == ndi.FRAME_TYPE_VIDEO:
                try:
                    self._publish(_rgb(video))
                finally:
                    ndi.recv_free_video_v2(self._receiver, video)

    def _wait_for_source(self) -> Any:
        """The NDI source to connect to: built from the address, or found by name (None if stopped first)."""
        source = self._ndi.Source()
        if self.address is not None:
            source.url_address = self.address
            return source
        self._finder = self._ndi.find_create_v2()
        log.info("%s: waiting for the NDI source to appear", self.name)
        while not self._stopping:
            self._ndi.find_wait_for_sources(self._finder, FIND_INTERVAL_MS)
            for found in self._ndi.find_get_current_sources(self._finder):
                if _same_source(found.ndi_name, self.target):
                    log.info("%s: found %s at %s", self.name, found.ndi_name, found.url_address or "?")
                    return found
        return None

    def _release(self) -> None:
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            self._ndi.recv_destroy(receiver)
        finder, self._finder = self._finder, None
        if finder is not None:
            self._ndi.find_destroy(finder)


def _same_source(full_name: str, wanted: str) -> bool:
    """NDI names are "MACHINE (Stream)"; a bare "Stream" matches it on any machine."""
    return full_name == wanted or full_name.endswith(f"({wanted})")


def _rgb(video: Any) -> np.ndarray:
    """A copy of the frame's RGB, which stays valid after NDI frees its buffer; rows may be padded."""
    data = np.asarray(video.data)
    if data.ndim != 3:  # a flat buffer: cut each padded row down to its pixels
        rows = data.reshape(-1)[: video.yres * video.line_stride_in_bytes].reshape(video.yres, -1)
        data = rows[:, : video.xres * 4].reshape(video.yres, video.xres, 4)
    return np.ascontiguousarray(data[:, : video.xres, :3])
