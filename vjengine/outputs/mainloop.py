"""Work that must happen on the process's main thread: on macOS, Syphon servers are announced through the Cocoa
run loop, which only the main thread can pump in a headless process.

The supervising loop (`vjengine run` keeps the main thread free for this) calls `service_main_thread()` a few
times a second. Outputs register a pump (run every service) or hand over a single call with `call_on_main`, which
runs it directly when nobody is servicing the main thread (a script using vjengine as a library, or a test).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent import futures
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

SERVICE_INTERVAL_S = 0.05  # how often the supervisor should call service_main_thread
_ACTIVE_WITHIN_S = 1.0  # a main thread serviced this recently is taken to be looping

# Module-level on purpose: a process has one main thread and one Cocoa run loop, so one registry of its work.
_lock = threading.Lock()
_pumps: dict[str, Callable[[], None]] = {}
_calls: list[tuple[Callable[[], object], futures.Future]] = []
_last_service = float("-inf")


def service_main_thread() -> None:
    """Run the calls handed over and every registered pump once; call it from the main thread's loop."""
    global _last_service
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("service_main_thread must be called from the main thread")
    with _lock:
        _last_service = time.monotonic()
        calls, _calls[:] = list(_calls), []
        pumps = list(_pumps.items())
    for function, future in calls:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(function())
            except BaseException as exc:  # handed back to the caller's thread, which reports it
                future.set_exception(exc)
    for name, pump in pumps:
        try:
            pump()
        except Exception as exc:
            log.error("%s: the main-thread pump failed and is removed: %s", name, exc)
            remove_pump(name)


def main_thread_is_serviced() -> bool:
    """True while someone calls `service_main_thread` regularly."""
    with _lock:
        return time.monotonic() - _last_service < _ACTIVE_WITHIN_S


def call_on_main(function: Callable[[], T], timeout: float = 5.0) -> T:
    """`function()` run on the main thread when it is serviced (else right here); its result or its exception."""
    if threading.current_thread() is threading.main_thread() or not main_thread_is_serviced():
        return function()
    future: futures.Future = futures.Future()
    with _lock:
        _calls.append((function, future))
    try:
        return future.result(timeout)
    except futures.TimeoutError:  # the builtin TimeoutError only from Python 3.11
        future.cancel()
        raise TimeoutError(f"the main thread did not run the call within {timeout:g} s") from None


def add_pump(name: str, pump: Callable[[], None]) -> None:
    """Run `pump()` on every service of the main thread until `remove_pump(name)`."""
    with _lock:
        _pumps[name] = pump


def remove_pump(name: str) -> None:
    """Stop running the pump `name`; nothing happens if there is none."""
    with _lock:
        _pumps.pop(name, None)
