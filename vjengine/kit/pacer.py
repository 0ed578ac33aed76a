"""Fixed-rate pacing for a loop, on absolute deadlines, never bursting to catch up."""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """Waits so that a loop runs `rate` times a second.

    Deadlines are absolute, so the work done between calls does not add up to drift. A loop that fell more
    than one period behind (a slow decode, a suspended laptop) starts afresh from now: at most one tick comes
    at once, never a burst of the ticks it missed. `rate` may change between ticks; 0 or less does not wait.

    `clock` gives seconds; `wait(seconds)` waits and returns something true to say "stop" (as
    `threading.Event.wait` does, so a stop event's `wait` can be passed straight in). Both are injected so
    tests step a fake clock instead of sleeping.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], object] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._wait = wait
        self._deadline = clock() + self.period

    @property
    def period(self) -> float:
        """Seconds between ticks (0 when unpaced)."""
        return 1.0 / self.rate if self.rate > 0 else 0.0

    def tick(self) -> bool:
        """Wait until the next tick is due; False when `wait` said stop."""
        now = self._clock()
        period = self.period
        if period == 0 or self._deadline < now - period:
            self._deadline = now
        stop = self._wait(max(0.0, self._deadline - now))  # also when due: a stopped loop hears it at once
        self._deadline += period
        return not stop
