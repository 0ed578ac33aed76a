"""Named pretrained models: `resolve(spec)` turns a zoo name or an http(s) URL into a local file,
downloaded once into the cache (`vjengine.downloads`), checked against the publisher's sha256 where
there is one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vjengine.downloads import fetch
from vjengine.errors import ModelError


@dataclass(frozen=True)
class ZooEntry:
    """A named pretrained model: where to get it and, where published, its sha256."""

    name: str
    url: str
    sha256: str | None
    description: str


_NGC = "https://api.ngc.nvidia.com/v2/models/nvidia/research"
_SG3 = f"{_NGC}/stylegan3/versions/1/files"
_SG2 = f"{_NGC}/stylegan2/versions/1/files"

# NVIDIA's official pickles, as listed in the NVlabs/stylegan3 README. NVIDIA publishes no checksums
# for them, so their hashes are recorded from the first download instead.
_NVIDIA_FILES: list[tuple[str, str, str]] = [
    (_SG3, "stylegan3-t-ffhq-1024x1024.pkl", "StyleGAN3-T, 1024x1024, FFHQ (aligned faces)"),
    (_SG3, "stylegan3-t-ffhqu-1024x1024.pkl", "StyleGAN3-T, 1024x1024, FFHQ-U (unaligned faces)"),
    (_SG3, "stylegan3-t-ffhqu-256x256.pkl", "StyleGAN3-T, 256x256, FFHQ-U (unaligned faces)"),
    (_SG3, "stylegan3-r-ffhq-1024x1024.pkl", "StyleGAN3-R, 1024x1024, FFHQ (aligned faces)"),
    (_SG3, "stylegan3-r-ffhqu-1024x1024.pkl", "StyleGAN3-R, 1024x1024, FFHQ-U (unaligned faces)"),
    (_SG3, "stylegan3-r-ffhqu-256x256.pkl", "StyleGAN3-R, 256x256, FFHQ-U (unaligned faces)"),
    (_SG3, "stylegan3-t-metfaces-1024x1024.pkl", "StyleGAN3-T, 1024x1024, MetFaces (faces in art)"),
    (_SG3, "stylegan3-t-metfacesu-1024x1024.pkl", "StyleGAN3-T, 1024x1024, MetFaces-U (unaligned faces in art)"),
    (_SG3, "stylegan3-r-metfaces-1024x1024.pkl", "StyleGAN3-R, 1024x1024, MetFaces (faces in art)"),
    (_SG3, "stylegan3-r-metfacesu-1024x1024.pkl", "StyleGAN3-R, 1024x1024, MetFaces-U (unaligned faces in art)"),
    (_SG3, "stylegan3-t-afhqv2-512x512.pkl", "StyleGAN3-T, 512x512, AFHQv2 (cat, dog and wild animal faces)"),
    (_SG3, "stylegan3-r-afhqv2-512x512.pkl", "StyleGAN3-R, 512x512, AFHQv2 (cat, dog and wild animal faces)"),
    (_SG2, "stylegan2-ffhq-1024x1024.pkl", "StyleGAN2, 1024x1024, FFHQ (aligned faces)"),
    (_SG2, "stylegan2-ffhq-512x512.pkl", "StyleGAN2, 512x512, FFHQ (aligned faces)"),
    (_SG2, "stylegan2-ffhq-256x256.pkl", "StyleGAN2, 256x256, FFHQ (aligned faces)"),
    (_SG2, "stylegan2-ffhqu-1024x1024.pkl", "StyleGAN2, 1024x1024, FFHQ-U (unaligned faces)"),
    (_SG2, "stylegan2-ffhqu-256x256.pkl", "StyleGAN2, 256x256, FFHQ-U (unaligned faces)"),
    (_SG2, "stylegan2-metfaces-1024x1024.pkl", "StyleGAN2, 1024x1024, MetFaces (faces in art)"),
    (_SG2, "stylegan2-metfacesu-1024x1024.pkl", "StyleGAN2, 1024x1024, MetFaces-U (unaligned faces in art)"),
    (_SG2, "stylegan2-afhqv2-512x512.pkl", "StyleGAN2, 512x512, AFHQv2 (cat, dog and wild animal faces)"),
    (_SG2, "stylegan2-afhqcat-512x512.pkl", "StyleGAN2, 512x512, AFHQ Cat"),
    (_SG2, "stylegan2-afhqdog-512x512.pkl", "StyleGAN2, 512x512, AFHQ Dog"),
    (_SG2, "stylegan2-afhqwild-512x512.pkl", "StyleGAN2, 512x512, AFHQ Wild"),
    (_SG2, "stylegan2-brecahad-512x512.pkl", "StyleGAN2, 512x512, BreCaHAD (breast cancer histology)"),
    (_SG2, "stylegan2-cifar10-32x32.pkl", "StyleGAN2, 32x32, CIFAR-10 (class-conditional)"),
    (_SG2, "stylegan2-celebahq-256x256.pkl", "StyleGAN2, 256x256, CelebA-HQ (faces)"),
    (_SG2, "stylegan2-lsundog-256x256.pkl", "StyleGAN2, 256x256, LSUN Dog"),
]


def _zoo_name(filename: str) -> str:
    # "stylegan3-t-ffhq-1024x1024.pkl" -> "stylegan3-t-ffhq-1024": square resolutions need saying once.
    stem = filename.removesuffix(".pkl")
    return re.sub(r"-(\d+)x\1$", r"-\1", stem)


ZOO: dict[str, ZooEntry] = {
    entry.name: entry
    for entry in (
        ZooEntry(_zoo_name(filename), f"{base}/{filename}", None, description)
        for base, filename, description in _NVIDIA_FILES
    )
}


def is_remote(spec: str) -> bool:
    """True if `spec` names a zoo model or is an http(s) URL, i.e. `resolve` should handle it."""
    return spec in ZOO or _is_url(spec)


def resolve(spec: str, progress: bool = True) -> Path:
    """The local file for a zoo name or an http(s) URL, downloading it into the cache if needed."""
    if spec in ZOO:
        entry = ZOO[spec]
        return fetch(entry.url, entry.sha256, progress)
    if _is_url(spec):
        return fetch(spec, progress=progress)
    raise ModelError(
        f"unknown model {spec!r}: not a zoo name or an http(s) URL; pass a file path, a URL, "
        f"or one of the known zoo names: {', '.join(ZOO)}"
    )


def _is_url(spec: str) -> bool:
    return spec.lower().startswith(("http://", "https://"))
