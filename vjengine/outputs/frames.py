"""Frames: the generator's output turned into bytes, and shaped for an output.

`to_frames` / `to_rgb8` are the one place where a generator's [-1, 1] tensor becomes uint8 pixels (the render
loop, `vjengine render`, the projection's and the directions' pictures all use them); they run on the generator's
device, so only bytes cross to the CPU. The rest shapes a frame for one output in that sink's own thread: its own
size (stretch, letterbox or crop), a vertical flip, and the pixel layout (RGB, RGBA, BGRA) with the tight row
stride that Syphon, Spout, NDI and virtual cameras read. This module depends on nothing else of vjengine, so
any stage may use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import torch

FIT_MODES = ("stretch", "letterbox", "crop")
Fit = Literal["stretch", "letterbox", "crop"]
Layout = Literal["RGB", "RGBA", "BGRA"]

_CONVERSIONS: dict[str, int] = {"RGBA": cv2.COLOR_RGB2RGBA, "BGRA": cv2.COLOR_RGB2BGRA}
CHANNELS: dict[str, int] = {"RGB": 3, "RGBA": 4, "BGRA": 4}


def to_rgb8(images: torch.Tensor) -> torch.Tensor:
    """Generator output [N, C, H, W] in about [-1, 1] to [N, H, W, 3] uint8 RGB on the same device; grayscale
    models are repeated to three channels, a fourth channel is dropped."""
    x = (images.float() * 127.5 + 128).clamp_(0, 255).to(torch.uint8)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x[:, :3].permute(0, 2, 3, 1)


def to_frame(img: torch.Tensor) -> np.ndarray:
    """Generator output [1, C, H, W] to an (H, W, 3) uint8 RGB array on the CPU."""
    return to_frames(img, ["RGB"])["RGB"]


def to_frames(img: torch.Tensor, layouts: Iterable[str]) -> dict[str, np.ndarray]:
    """`img` [1, C, H, W] as (H, W, C) uint8 arrays in each of `layouts` (RGB, RGBA, BGRA), converted on the
    generator's device so that each layout is made once per frame, whatever the number of outputs that use it."""
    rgb = to_rgb8(img[:1])[0]
    alpha = None
    frames = {}
    for layout in dict.fromkeys(layouts):
        if layout == "RGB":
            pixels = rgb
        else:
            if alpha is None:
                alpha = torch.full((*rgb.shape[:2], 1), 255, dtype=torch.uint8, device=rgb.device)
            pixels = torch.cat((rgb if layout == "RGBA" else rgb.flip(-1), alpha), dim=-1)
        frames[layout] = pixels.contiguous()
    if rgb.device.type != "cuda":
        return {layout: pixels.cpu().numpy() for layout, pixels in frames.items()}
    pinned = {layout: torch.empty(p.shape, dtype=torch.uint8, pin_memory=True) for layout, p in frames.items()}
    for layout, pixels in frames.items():
        pinned[layout].copy_(pixels, non_blocking=True)
    torch.cuda.current_stream(rgb.device).synchronize()  # one wait for every copy of the frame
    return {layout: p.numpy() for layout, p in pinned.items()}


@dataclass(frozen=True)
class Shaping:
    """How one output wants its frames: `size` as (width, height) or None for the model's own, `fit` for a size
    of another aspect ratio, and `flip` upside down for consumers whose image origin is the bottom row (OpenGL)."""

    size: tuple[int, int] | None = None
    fit: Fit = "stretch"
    flip: bool = False

    def __post_init__(self) -> None:
        if self.fit not in FIT_MODES:
            raise ValueError(f"fit must be one of {', '.join(FIT_MODES)}, not {self.fit!r}")
        if self.size is not None and (self.size[0] < 1 or self.size[1] < 1):
            raise ValueError(f"size must be positive, not {self.size[0]}x{self.size[1]}")

    def resize(self, frame: np.ndarray) -> np.ndarray:
        """`frame` at this output's size (the same array when nothing changes); the flip is left to `pack`."""
        if self.size is None:
            return frame
        return fit_frame(frame, *self.size, self.fit)


def fit_frame(frame: np.ndarray, width: int, height: int, fit: Fit = "stretch") -> np.ndarray:
    """`frame` as a new (height, width, C) array: stretched, letterboxed into black bars, or cropped to fill."""
    src_h, src_w = frame.shape[:2]
    if (src_w, src_h) == (width, height):
        return frame
    if fit == "stretch":
        return _resize(frame, width, height)
    if fit == "letterbox":
        scale = min(width / src_w, height / src_h)
        inner_w, inner_h = _scaled(src_w, scale, width), _scaled(src_h, scale, height)
        canvas = np.zeros((height, width, *frame.shape[2:]), dtype=frame.dtype)
        top, left = (height - inner_h) // 2, (width - inner_w) // 2
        canvas[top : top + inner_h, left : left + inner_w] = _resize(frame, inner_w, inner_h)
        return canvas
    if fit == "crop":
        scale = max(width / src_w, height / src_h)
        outer_w, outer_h = max(width, round(src_w * scale)), max(height, round(src_h * scale))
        scaled = _resize(frame, outer_w, outer_h)
        top, left = (outer_h - height) // 2, (outer_w - width) // 2
        return np.ascontiguousarray(scaled[top : top + height, left : left + width])
    raise ValueError(f"fit must be one of {', '.join(FIT_MODES)}, not {fit!r}")


class PixelPacker:
    """Packs RGB frames into one layout in a reused, C-contiguous buffer: row stride = width x channels bytes.

    The buffer is overwritten by the next `pack`, so hand it only to calls that copy it before returning (Metal's
    replaceRegion, Spout's sendImage, NDI's synchronous send, pyvirtualcam's send all do).
    """

    def __init__(self, layout: Layout, *, flip: bool = False) -> None:
        if layout not in CHANNELS:
            raise ValueError(f"layout must be one of {', '.join(CHANNELS)}, not {layout!r}")
        self.layout = layout
        self.flip = flip
        self._buffer: np.ndarray | None = None

    def pack(self, frame: np.ndarray) -> np.ndarray:
        """`frame` ((H, W, 3) uint8 RGB, or (H, W, C) already in this layout, as the engine converts on a GPU)
        in this layout, flipped if asked; opaque alpha where there is alpha."""
        ready = frame.shape[2] == CHANNELS[self.layout] and (frame.shape[2] == 4 or self.layout == "RGB")
        if ready and not self.flip:
            return np.ascontiguousarray(frame)
        shape = (*frame.shape[:2], CHANNELS[self.layout])
        if self._buffer is None or self._buffer.shape != shape:
            self._buffer = np.empty(shape, dtype=np.uint8)
        out = self._buffer
        if ready:
            np.copyto(out, frame)
        else:
            cv2.cvtColor(frame, _CONVERSIONS[self.layout], dst=out)
        if self.flip:
            cv2.flip(out, 0, dst=out)
        return out


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    shrinking = width * height < frame.shape[0] * frame.shape[1]
    # area averaging does not alias when shrinking; linear is the sharper of the cheap choices when growing
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(frame, (width, height), interpolation=interpolation)


def _scaled(length: int, scale: float, limit: int) -> int:
    return min(limit, max(1, round(length * scale)))
