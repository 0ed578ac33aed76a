"""Where the MediaPipe model bundles (`*.task`) for hands, face and pose come from.

A bundle spec is "auto" (the official bundle: from the cache, else downloaded once from Google's
model storage unless VJENGINE_OFFLINE is set), "none" (that detector stays off), an http(s) URL
(downloaded once into the cache) or a path to a `.task` file. Downloads go through the model cache
(vjengine.downloads.fetch): Google publishes no checksums, so the hash of the first download is
recorded and every later use is checked against it.
"""

from __future__ import annotations

import os
from pathlib import Path

from vjengine import downloads
from vjengine.errors import VJError

KINDS = ("hands", "face", "pose")

_STORAGE = "https://storage.googleapis.com/mediapipe-models"

# Versioned paths (".../1/..."), not ".../latest/...", so a bundle cannot change under a recorded hash.
BUNDLE_URLS: dict[str, str] = {
    "hands": f"{_STORAGE}/hand_landmarker/hand_landmarker/float16/1/hand_landmarker.task",
    "face": f"{_STORAGE}/face_landmarker/face_landmarker/float16/1/face_landmarker.task",
    "pose": f"{_STORAGE}/pose_landmarker/pose_landmarker_lite/float16/1/pose_landmarker_lite.task",
}


class BundleUnavailable(VJError):
    """A landmark detector has no model bundle; the message says why and what to set."""


def resolve_bundle(kind: str, spec: str, progress: bool = False) -> Path | None:
    """The local `.task` file for `kind` ("hands", "face" or "pose") and `spec`; None for "none".

    Raises BundleUnavailable, with one line saying what to do, when there is none to be had.
    """
    if kind not in KINDS:
        raise VJError(f"unknown landmark detector {kind!r}; choose from {', '.join(KINDS)}")
    spec = spec.strip()
    if spec.lower() == "none":
        return None
    if spec.lower() == "auto":
        return _official(kind, progress)
    if spec.lower().startswith(("http://", "https://")):
        return _download(kind, spec, progress)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise BundleUnavailable(
            f"{kind} bundle {spec!r} is not a file; set [landmarks] {kind} to a .task file, 'auto' or 'none'"
        )
    return path


def _official(kind: str, progress: bool) -> Path:
    url = BUNDLE_URLS[kind]
    if os.environ.get("VJENGINE_OFFLINE") and not is_cached(url):
        raise BundleUnavailable(
            f"no {kind} bundle in the cache and VJENGINE_OFFLINE is set; download {url} "
            f"and set [landmarks] {kind} = its path (or unset VJENGINE_OFFLINE)"
        )
    return _download(kind, url, progress)


def is_cached(url: str) -> bool:
    """Whether `url` has already been downloaded into the model cache."""
    return downloads.cached_path(url).is_file()


def _download(kind: str, url: str, progress: bool) -> Path:
    try:
        return downloads.fetch(url, progress=progress)
    except VJError as exc:
        raise BundleUnavailable(f"{kind} bundle unavailable ([landmarks] {kind}): {exc}") from None
