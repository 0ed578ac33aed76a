"""Files a command writes for the user: checked before any work starts, replaced atomically, with the user's umask."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from vjengine.errors import VJError

log = logging.getLogger(__name__)


def check_new_file(path: Path, what: str, *, force: bool = False) -> None:
    """Raise a one-line VJError unless a file can be created at `path` (creating nothing): `path` is not a
    folder, exists only when `force` allows replacing it, and its nearest existing folder takes a file.

    `what` names the file in the message, as the user gave it (e.g. "convert: out.safetensors").
    """
    if path.is_dir():
        raise VJError(f"{what} is a folder: give a file name in it")
    if path.exists() and not force:
        raise VJError(f"{what} already exists: give another name, or add --force to replace it")
    # The folders that are missing are created when the file is written.
    _check_writable(_existing_folder(path.parent, what), what)


def make_folder(folder: Path, what: str) -> None:
    """Create `folder` (and its parents) for `what` and check a file can be written there; a one-line VJError
    when a file stands where a folder should. Folders made are said, so a typo in a path does not go unnoticed."""
    existing = _existing_folder(folder, what)
    if existing != folder:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VJError(f"{what}: cannot create the folder {folder} ({exc.strerror or exc})") from None
        log.info("created the folder %s for %s (it did not exist)", folder, what)
    _check_writable(folder, what)


def _existing_folder(folder: Path, what: str) -> Path:
    """`folder` or its nearest ancestor that exists; a one-line VJError when that is a file."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise VJError(f"{what}: {folder} is a file, not a folder; give a path in a folder")
    return folder


def _check_writable(folder: Path, what: str) -> None:
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise VJError(
            f"{what}: cannot write in {folder} ({exc.strerror or exc}); give a path in a folder you own"
        ) from None


def atomic_save(path: Path, write: Callable[[Path], object]) -> None:
    """`write(temporary)` a file beside `path`, then move it over `path` with the umask's permissions, so an
    existing file is replaced only by a complete one (a failed or interrupted write leaves it as it was)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    temporary = Path(name)
    try:
        write(temporary)
        os.chmod(temporary, new_file_mode())  # mkstemp makes files private (0600); a plain open() would not
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Like `atomic_save`, for a writer that takes an open binary file."""

    def to_file(temporary: Path) -> None:
        with temporary.open("wb") as f:
            write(f)

    atomic_save(path, to_file)


def new_file_mode() -> int:
    """The permissions `open()` gives a new file: 0666 less the process's umask."""
    umask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    return 0o666 & ~umask
