"""The download cache: model files fetched once from a URL, kept under `cache_dir() / "models"`.

Generators from the zoo, torchvision's VGG16 and MediaPipe's bundles all come through `fetch`.
Downloads resume after an interruption and are checked against a sha256: the publisher's where there
is one, otherwise the one recorded from the first complete download.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm import tqdm

from vjengine.errors import ModelError

_TIMEOUT_S = 30.0


_CHUNK = 1 << 20


_HINT = "download the file yourself (in a browser) and give its local path instead"


def cache_dir() -> Path:
    """The vjengine cache: $VJENGINE_CACHE, else $XDG_CACHE_HOME/vjengine, else ~/.cache/vjengine."""
    if explicit := os.environ.get("VJENGINE_CACHE"):
        return Path(explicit).expanduser()
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "vjengine"
    return Path.home() / ".cache" / "vjengine"


def fetch(url: str, sha256: str | None = None, progress: bool = True) -> Path:
    """Download `url` into the cache once and return the cached file.

    A cached file is returned without touching the network, after checking its sha256 against
    `sha256` (a published hash) or, without one, against the hash recorded at download time. With
    VJENGINE_OFFLINE set, a file that is not cached is a ModelError, never a download from another
    machine (a server on this one, such as a local mirror, is still used).
    """
    target = _cache_path(url)
    expected = sha256.strip().lower() if sha256 else None
    if target.exists():
        _verify_cached(target, expected)
        return target
    if os.environ.get("VJENGINE_OFFLINE") and not _on_this_machine(url):  # the user said there is no network
        raise ModelError(f"{url} is not in the cache and VJENGINE_OFFLINE is set; unset it to download, or {_HINT}")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = _sibling(target, ".part")
    _download(url, part, progress)
    digest = _file_sha256(part)
    if expected is not None and digest != expected:
        part.unlink()
        raise ModelError(
            f"download of {url} does not match its published sha256 (expected {expected[:12]}…, got {digest[:12]}…) "
            f"and was deleted; check the URL, or {_HINT}"
        )
    # Record the hash before the file appears, so a cached file always has one to be checked against.
    _write_atomic(_sibling(target, ".sha256"), digest + "\n")
    part.replace(target)
    return target


def _on_this_machine(url: str) -> bool:
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def cached_path(url: str) -> Path:
    """Where `fetch(url)` keeps its download (the file may not exist yet)."""
    return _cache_path(url)


def _cache_path(url: str) -> Path:
    # The URL's hash keeps two URLs with the same basename apart; the basename keeps the cache readable.
    basename = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    basename = re.sub(r"[^A-Za-z0-9._-]", "_", basename) or "download"
    prefix = hashlib.sha256(url.encode()).hexdigest()[:8]
    return cache_dir() / "models" / f"{prefix}-{basename}"


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _verify_cached(path: Path, expected: str | None) -> None:
    sidecar = _sibling(path, ".sha256")
    digest = _file_sha256(path)
    if expected is not None:
        if digest != expected:
            path.unlink()
            sidecar.unlink(missing_ok=True)
            raise ModelError(
                f"cached {path} does not match its published sha256 (expected {expected[:12]}…, got {digest[:12]}…) "
                "and was deleted; run again to download it afresh"
            )
        return
    if not sidecar.exists():
        # Only a file put into the cache by hand lacks a record; trust it from now on, as a first download is.
        _write_atomic(sidecar, digest + "\n")
        return
    recorded = sidecar.read_text().strip()
    if digest != recorded:
        raise ModelError(
            f"cached {path} has changed since it was downloaded (sha256 was {recorded[:12]}…, is {digest[:12]}…); "
            "delete it and its .sha256 file to download it again"
        )


def _download(url: str, part: Path, progress: bool) -> None:
    """Download `url` into `part`, resuming from what `part` already holds."""
    try:
        if not _download_from(url, part, progress):
            # The server cannot continue the partial file from where it ends: start over.
            part.unlink()
            _download_from(url, part, progress)
    except urllib.error.HTTPError as error:
        message = f"could not download {url}: HTTP {error.code} {error.reason}; check the URL, or {_HINT}"
        raise ModelError(message) from None
    except (OSError, http.client.HTTPException) as error:
        raise _network_error(url, part, error) from None


def _download_from(url: str, part: Path, progress: bool) -> bool:
    """Append the rest of `url` to `part`; False if the server cannot resume at `part`'s size."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "vjengine"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            error.close()
            return False
        raise
    with response:
        if offset and response.status == 200:
            offset = 0  # the server ignores Range and sends the whole file
        elif offset and not _continues_at(response, offset):
            return False
        _copy_body(response, part, offset, progress)
    return True


def _continues_at(response: http.client.HTTPResponse, offset: int) -> bool:
    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", "").strip())
    return match is not None and int(match[1]) == offset <= int(match[2])


def _copy_body(response: http.client.HTTPResponse, part: Path, offset: int, progress: bool) -> None:
    length = response.headers.get("Content-Length")
    total = offset + int(length) if length and length.isdigit() else None
    received = offset
    bar = tqdm(
        total=total,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=part.name.removesuffix(".part"),
        file=sys.stderr,
        disable=None if progress else True,
        leave=False,
    )
    with bar, part.open("ab" if offset else "wb") as out:
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    # http.client ends a body that was cut short without an error, so check its length here.
    if total is not None and received < total:
        raise ConnectionError(f"connection closed after {received} of {total} bytes")


def _network_error(url: str, part: Path, error: BaseException) -> ModelError:
    cause = getattr(error, "reason", None) or error
    reason = " ".join(str(cause).split()) or type(cause).__name__
    if part.exists() and part.stat().st_size:
        return ModelError(
            f"download of {url} was interrupted after {part.stat().st_size} bytes ({reason}); "
            f"run again to resume it, or {_HINT}"
        )
    return ModelError(f"could not download {url}: {reason}; check the network and the URL, or {_HINT}")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    tmp = _sibling(path, ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
