"""A small kit for the engine's concurrency and signal shaping, one concept per module.

- `Worker`: a named thread with `stop()` + join, optional reopen with back-off (`Backoff`), failures said once;
- `Newest`: a latest-wins slot handing a value between threads, with a serial number and `wait_newer`;
- `Pacer`: fixed-rate pacing that never bursts to catch up;
- `Smoother` (and `approach`): exponential smoothing with a time constant;
- `Hysteresis`: an on/off state with two thresholds, so jitter between them changes nothing;
- `SayOnce`: log a message once per key.

Each takes its clock and its way of waiting as arguments where it has any, so tests step time instead of sleeping.
"""

from vjengine.kit.hysteresis import Hysteresis
from vjengine.kit.newest import Newest
from vjengine.kit.once import SayOnce
from vjengine.kit.pacer import Pacer
from vjengine.kit.smoother import Smoother, approach
from vjengine.kit.worker import Backoff, Worker

__all__ = ["Backoff", "Hysteresis", "Newest", "Pacer", "SayOnce", "Smoother", "Worker", "approach"]
