"""Saying something once: a message that would repeat every frame or every retry goes to the log one time."""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable


class SayOnce:
    """Logs a message the first time its key comes up; later ones go to the debug log.

    `limit` caps how many keys are remembered (a flood of distinct keys, such as pages from many origins,
    cannot grow memory without bound); past it, everything new goes to the debug log too. Thread-safe.

        said = SayOnce(log)
        said(path, "cannot read %s; the picture stays as it is", path)
    """

    def __init__(self, logger: logging.Logger, level: int = logging.WARNING, limit: int | None = None) -> None:
        self.logger = logger
        self.level = level
        self.limit = limit
        self._said: set[Hashable] = set()
        self._lock = threading.Lock()

    def __call__(self, key: Hashable, message: str, *args: object, level: int | None = None) -> bool:
        """Log `message % args` at `level` (the helper's own by default) if `key` is new; True when it was said."""
        with self._lock:
            first = key not in self._said and (self.limit is None or len(self._said) < self.limit)
            if first:
                self._said.add(key)
        self.logger.log((self.level if level is None else level) if first else logging.DEBUG, message, *args)
        return first

    def said(self, key: Hashable) -> bool:
        """Whether `key` has been said (and not forgotten since)."""
        with self._lock:
            return key in self._said

    def forget(self, key: Hashable) -> None:
        """Say `key` again next time (the problem was fixed, or the user tries again)."""
        with self._lock:
            self._said.discard(key)
