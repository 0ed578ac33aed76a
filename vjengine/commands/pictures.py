"""Pictures the commands write: latents rendered to images, labels drawn on them, PNG files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from vjengine.errors import VJError
from vjengine.outputs.frames import to_rgb8


@torch.no_grad()
def render_images(G: nn.Module, ws: torch.Tensor, size: int | None = None) -> np.ndarray:
    """[N, H, W, 3] uint8 RGB for w+ `ws` [N, num_ws, w_dim] with the model's fixed noise, optionally resized
    to `size` px (area filter)."""
    images = G.synthesis(ws.to(G.mapping.w_avg.device), noise_mode="const")
    out = to_rgb8(images).cpu().numpy()
    if size is not None and size != out.shape[1]:
        out = np.stack([cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) for img in out])
    return out


def label(image: np.ndarray, text: str, origin: tuple[int, int], scale: float = 0.6, colour=(0, 0, 0)) -> None:
    """Draw `text` on `image` in place at `origin` (its baseline's left end)."""
    # A white halo keeps the text readable on any picture.
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB uint8 picture; a VJError when the file cannot be written."""
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise VJError(f"cannot write {path}; check that the folder is writable")
