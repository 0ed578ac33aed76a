"""A newest-value slot: latest-wins hand-over between threads, with a serial number to wait for a fresh one."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Newest(Generic[T]):
    """Holds the newest value a producer `put`; a newer value replaces one nobody took, so a slow reader never
    sees a backlog and a slow writer never holds a reader up.

    Every `put` gets the next serial number (1, 2, ...; 0 means nothing yet). A reader remembers the serial
    of what it last used and `wait_newer(serial)` blocks, without polling, until something newer is there.
    `close()` wakes every waiter for good (a stopping consumer); `put` after it is ignored.
    """

    def __init__(self) -> None:
        self._value: T | None = None
        self._serial = 0
        self._closed = False
        self._changed = threading.Condition()

    def put(self, value: T) -> int:
        """Make `value` the newest; returns its serial number (0 when the slot is closed)."""
        with self._changed:
            if self._closed:
                return 0
            self._value = value
            self._serial += 1
            self._changed.notify_all()
            return self._serial

    def get(self) -> T | None:
        """The newest value, None before the first; never blocks."""
        return self._value

    def latest(self) -> tuple[int, T | None]:
        """The newest value with its serial number, (0, None) before the first; never blocks."""
        with self._changed:
            return self._serial, self._value

    @property
    def serial(self) -> int:
        """How many values were put so far."""
        return self._serial

    @property
    def closed(self) -> bool:
        return self._closed

    def wait_newer(self, serial: int, timeout: float | None = None) -> tuple[int, T] | None:
        """Block until a value newer than `serial` is there and return it with its serial; None when the slot
        is closed or `timeout` seconds passed first."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self._serial > serial, timeout)
            if self._closed or self._serial <= serial:
                return None
            return self._serial, self._value  # type: ignore[return-value]

    def close(self) -> None:
        """Wake every waiter; from now on `wait_newer` returns None at once. The last value stays readable."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
