"""Where the MediaPipe model bundles (`*.task`) for hands, face and pose come from.

A bundle spec is "auto" (the official bundle: from the cache, else downloaded once from Google's
model storage unless VJENGINE_OFFLINE is set), "none" (that detector stays off), an http(s) URL
(downloaded once into the cache) or a path to a `.task` file. Downloads go through the model cache
(vjengine.downloads.fetch). The official bundles' sha256 are pinned (`BUNDLE_SHA256`: the hashes of
the files Google serves, which many public projects pin too); for any other URL the hash of the first
download is recorded and every later use is checked against it.

`check_bundle` looks inside a bundle before MediaPipe does: a cut-off download, a web page saved
instead of the file, or another detector's bundle is refused in one line rather than deep inside
MediaPipe; it also says which optional parts (the face's expressions and head pose) a bundle holds.
"""

from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from vjengine import downloads
from vjengine.errors import VJError

log = logging.getLogger(__name__)

KINDS = ("hands", "face", "pose")

_STORAGE = "https://storage.googleapis.com/mediapipe-models"

# Versioned paths (".../1/..."), not ".../latest/...", so a bundle cannot change under a recorded hash.
BUNDLE_URLS: dict[str, str] = {
    "hands": f"{_STORAGE}/hand_landmarker/hand_landmarker/float16/1/hand_landmarker.task",
    "face": f"{_STORAGE}/face_landmarker/face_landmarker/float16/1/face_landmarker.task",
    "pose": f"{_STORAGE}/pose_landmarker/pose_landmarker_full/float16/1/pose_landmarker_full.task",
}
BUNDLE_SHA256: dict[str, str] = {
    "hands": "fbc2a30080c3c557093b5ddfc334698132eb341044ccee322ccf8bcf3607cde1",
    "face": "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
    "pose": "5134a3aad27a58b93da0088d431f366da362b44e3ccfbe3462b3827a839011b1",
}

# The models each detector needs inside its bundle, and the optional parts of the face bundle.
REQUIRED: dict[str, tuple[str, ...]] = {
    "hands": ("hand_detector.tflite", "hand_landmarks_detector.tflite"),
    "face": ("face_detector.tflite", "face_landmarks_detector.tflite"),
    "pose": ("pose_detector.tflite", "pose_landmarks_detector.tflite"),
}
BLENDSHAPES_MODEL = "face_blendshapes.tflite"
GEOMETRY_DATA = "geometry_pipeline_metadata_landmarks.binarypb"
_TFLITE_MAGIC = b"TFL3"  # a TFLite flatbuffer carries its identifier at bytes 4..8
# Google's landmark models are a few MB; a file claiming far more is not one (and must not fill the memory).
MAX_MODEL_BYTES = 256 << 20


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
    return _download(kind, url, progress, BUNDLE_SHA256[kind])


def is_cached(url: str) -> bool:
    """Whether `url` has already been downloaded into the model cache."""
    return downloads.cached_path(url).is_file()


def _download(kind: str, url: str, progress: bool, sha256: str | None = None) -> Path:
    try:
        return downloads.fetch(url, sha256=sha256, progress=progress)
    except VJError as exc:
        raise BundleUnavailable(f"{kind} bundle unavailable ([landmarks] {kind}): {exc}") from None


@dataclass(frozen=True)
class BundleContents:
    """What a checked bundle holds besides the detector's own models."""

    blendshapes: bool = False  # the face's 52 expression scores
    geometry: bool = False  # the face's transformation matrix (exact head pose)
    junk_in_front: int = 0  # bytes of something else (a web page, JSON) before the bundle


def check_bundle(kind: str, path: Path) -> BundleContents:
    """Look inside the `.task` bundle at `path` for detector `kind`; BundleUnavailable (one line) if unusable.

    A bundle is a zip of TFLite models. Read here with Python's own zip reader, which never runs anything
    from the file, so MediaPipe only ever sees bundles whose models are complete and intact.
    """
    fix = f'download it again, or set [landmarks] {kind} = "auto" for Google\'s official bundle'
    try:
        with zipfile.ZipFile(path) as bundle:
            names = set(bundle.namelist())
            missing = [name for name in REQUIRED[kind] if name not in names]
            if missing:
                raise BundleUnavailable(f"{path} is not a {kind} landmarker bundle (it lacks {missing[0]}); {fix}")
            for name in REQUIRED[kind]:
                _check_model(bundle, name, path, fix)
            first = min(info.header_offset for info in bundle.infolist())
    except zipfile.BadZipFile:
        raise BundleUnavailable(
            f"{path} is not a complete MediaPipe bundle (no zip directory: a download cut short, or a web page "
            f"saved instead of the file); {fix}"
        ) from None
    except OSError as exc:
        raise BundleUnavailable(f"cannot read {kind} bundle {path} ({exc.strerror or exc}); {fix}") from None
    return BundleContents(BLENDSHAPES_MODEL in names, GEOMETRY_DATA in names, _junk_before(path, first))


def _check_model(bundle: zipfile.ZipFile, name: str, path: Path, fix: str) -> None:
    """Read one model whole (the zip reader checks its CRC) and check it is a TFLite model."""
    size = bundle.getinfo(name).file_size
    if size > MAX_MODEL_BYTES:
        raise BundleUnavailable(f"{path}: {name} inside the bundle claims {size >> 20} MB, not a landmark model; {fix}")
    try:
        data = bundle.read(name)
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise BundleUnavailable(f"{path}: {name} inside the bundle is damaged ({exc}); {fix}") from None
    if data[4:8] != _TFLITE_MAGIC:
        raise BundleUnavailable(f"{path}: {name} inside the bundle is not a TFLite model; {fix}")


def _junk_before(path: Path, first_entry: int) -> int:
    """Bytes of something else before the zip's first entry. Google's own bundles start with 2 zero bytes:
    those (zero bytes right before the first entry) are the bundle's, not junk."""
    with path.open("rb") as f:
        head = f.read(first_entry)
    return len(head.rstrip(b"\0"))
