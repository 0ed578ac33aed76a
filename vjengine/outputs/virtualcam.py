"""`virtualcam[:DEVICE]`: frames as a webcam through pyvirtualcam, for OBS, Zoom, browsers or TouchDesigner's
Video Device In TOP.

Backends: OBS's virtual camera (Windows, macOS: OBS 30+ installed, its virtual camera started once), Unity Capture
(Windows), v4l2loopback (Linux: a /dev/videoN made by the kernel module). pyvirtualcam takes (H, W, 3) uint8 RGB;
its OBS backends reject RGBA.
"""

from __future__ import annotations

import glob
import logging
import sys
from typing import Any

import numpy as np

from vjengine.errors import VJError
from vjengine.outputs.base import Sink, missing_module
from vjengine.outputs.frames import PixelPacker

log = logging.getLogger(__name__)

LOOPBACK_DEVICES = "/sys/devices/virtual/video4linux/video*"  # v4l2loopback's devices are the virtual ones
INSTALL_HINTS = {
    "linux": "sudo apt install v4l2loopback-dkms && sudo modprobe v4l2loopback exclusive_caps=1",
    "win32": "install OBS Studio 30+ and start its virtual camera once, or install Unity Capture",
    "darwin": "install OBS Studio 30+ and start its virtual camera once (it asks to allow the camera extension)",
}


class VirtualCameraSink(Sink):
    """Sends every frame to a virtual camera at the engine's frame rate."""

    kind = "virtualcam"
    usage = "virtualcam[:DEVICE]"
    description = (
        "virtualcam[:DEVICE] - appear as a webcam (OBS virtual camera on Windows/macOS, v4l2loopback /dev/videoN "
        "on Linux, Unity Capture) for OBS, TouchDesigner's Video Device In TOP or a browser; "
        "options ?size=WxH&fit=stretch|letterbox|crop&flip=1"
    )
    live = True
    retry_on_failure = True
    flips_itself = True  # the RGB packer flips while copying

    def __init__(self, name: str, fps: float, device: str | None = None) -> None:
        if not fps > 0:
            raise VJError(f"cannot run a virtual camera at {fps} fps: the frame rate must be positive")
        self.fps = fps
        self.device = device
        self._packer: PixelPacker | None = None
        self._camera: Any = None
        super().__init__(name)

    @classmethod
    def from_spec(cls, arg: str | None, name: str, fps: float) -> Sink:
        if arg is not None and not arg.strip():
            raise VJError("empty virtual camera device: write virtualcam, or virtualcam:DEVICE (e.g. /dev/video10)")
        return cls(name, fps, arg.strip() if arg else None)

    @classmethod
    def availability(cls) -> str:
        return virtualcam_missing() or "available"

    def _open(self, first_frame: np.ndarray) -> None:
        import pyvirtualcam

        height, width = first_frame.shape[:2]
        self._packer = PixelPacker("RGB", flip=self.shaping.flip)
        try:
            self._camera = pyvirtualcam.Camera(
                width, height, self.fps, fmt=pyvirtualcam.PixelFormat.RGB, device=self.device
            )
        except RuntimeError as exc:  # pyvirtualcam lists every backend's complaint, one per line
            raise RuntimeError(f"no virtual camera ({'; '.join(str(exc).splitlines())}): {install_hint()}") from None
        log.info(
            "%s: %s (%s), %dx%d at %g fps",
            self.name,
            self._camera.device,
            self._camera.backend,
            width,
            height,
            self.fps,
        )

    def _write(self, frame: np.ndarray) -> None:
        self._camera.send(self._packer.pack(frame))

    def _close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            camera.close()


def install_hint() -> str:
    """What to install for a virtual camera on this platform."""
    return INSTALL_HINTS.get(sys.platform, INSTALL_HINTS["linux"])


def loopback_devices() -> list[str]:
    """The /dev/videoN paths of the v4l2loopback devices on this Linux machine."""
    return sorted(f"/dev/{path.rsplit('/', 1)[1]}" for path in glob.glob(LOOPBACK_DEVICES))


def virtualcam_missing() -> str | None:
    """Why a virtual camera cannot run here, in one line, or None (on Windows/macOS found out only when opened)."""
    if why := missing_module("pyvirtualcam", "needs pyvirtualcam: pip install pyvirtualcam"):
        return why
    if sys.platform.startswith("linux") and not loopback_devices():
        return f"no v4l2loopback device: {install_hint()}"
    return None
