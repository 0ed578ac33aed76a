"""The live values of all parameters: written from any thread, read once per frame as a snapshot."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from vjengine.errors import VJError
from vjengine.kit import SayOnce, approach
from vjengine.params.param import Param, ParamError
from vjengine.params.registry import RENAMED

log = logging.getLogger(__name__)

Listener = Callable[[str, Any, str], None]
# A stage's check of a text value it will use (a layout, a layer range, a file): raises VJError when it cannot.
Check = Callable[[Any], object]


class Snapshot(Mapping[str, Any]):
    """One frame's consistent, read-only view of every parameter (smoothed where declared)."""

    def __init__(self, values: dict[str, Any], time_: float) -> None:
        self._values = MappingProxyType(values)
        self.time = time_

    def __getitem__(self, name: str) -> Any:
        # An old name (registry.RENAMED) reads its new parameter, so code written against it keeps working
        # for the release in which both names exist; users are told once by ParamStore.resolve.
        return self._values[name if name in self._values else RENAMED.get(name, name)]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class ParamStore:
    """Thread-safe parameter values with clamping, coercion, smoothing and change listeners.

    Controllers (`set` from OSC, MIDI, config threads) write targets; the render loop calls
    `snapshot()` once per frame, which moves smoothed values toward their targets (an exponential
    slew with the parameter's `smoothing` time constant) and returns them all at once.
    """

    def __init__(self, params: Iterable[Param]) -> None:
        self.params: dict[str, Param] = {}
        for param in params:
            if param.name in self.params:
                raise ValueError(f"parameter {param.name} is declared twice")
            self.params[param.name] = param
        self._targets = {name: p.default for name, p in self.params.items()}
        self._current = dict(self._targets)
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._checks: dict[str, Check] = {}
        self._last_snapshot: float | None = None
        self._renamed_said = SayOnce(log)

    def __contains__(self, name: object) -> bool:
        return name in self.params

    def param(self, name: str) -> Param:
        """The declaration of `name` (or of what it was renamed to); ParamError naming close matches when unknown."""
        try:
            return self.params[self.resolve(name)]
        except KeyError:
            raise ParamError(f"unknown parameter {name!r}; {self._suggest(name)}") from None

    def resolve(self, name: str) -> str:
        """`name`, or the parameter an old name became (`registry.RENAMED`), said once per old name."""
        new = RENAMED.get(name)
        if new is None or new not in self.params:
            return name
        self._renamed_said(
            name, "%s is now %s (the old name works until the next release); please write %s", name, new, new
        )
        return new

    def _suggest(self, name: str) -> str:
        import difflib

        close = difflib.get_close_matches(name, self.params, n=3)
        return f"did you mean {', '.join(close)}?" if close else "list them with 'vjengine params'"

    def add_check(self, name: str, check: Check) -> None:
        """Refuse values of `name` that `check` raises on, from now on, as numbers out of their type are.

        Text parameters (a layout, a layer range, a file) are only understood by the stage that uses
        them, which adds its check when it is built (some need the model). The value set so far is
        checked at once, so a bad `--set` or `[params]` value stops the start; the declared default is
        always accepted (the stage falls back from it as before)."""
        self.param(name)
        self._checks[name] = check
        self.accept(name, self.get(name))

    def accept(self, name: str, value: Any) -> Any:
        """The value `set` would store for `name` (coerced, clamped, checked); ParamError if refused."""
        name = self.param(name).name
        accepted = self.params[name].accept(value)
        check = self._checks.get(name)
        if check is not None and accepted != self.params[name].default:
            try:
                check(accepted)
            except VJError as exc:
                raise ParamError(f"{name}: {exc}") from None
        return accepted

    def set(self, name: str, value: Any, source: str = "api", immediate: bool = False) -> Any:
        """Set a target value (coerced, clamped); returns what was stored. Listeners hear the change.

        `immediate` skips smoothing (start-up values from the config or command line).
        """
        return self.set_many({name: value}, source, immediate)[self.resolve(name)]

    def set_many(self, values: Mapping[str, Any], source: str = "api", immediate: bool = False) -> dict[str, Any]:
        """Set several values atomically: one snapshot sees all of them or none; all-or-nothing on errors."""
        coerced = {}
        for name, value in values.items():
            coerced[self.resolve(name)] = self.accept(name, value)
        with self._lock:
            changed = {k: v for k, v in coerced.items() if self._targets[k] != v}
            for name, value in coerced.items():
                self._targets[name] = value
                if immediate or self.params[name].smoothing <= 0 or self.params[name].kind not in ("float", "vector"):
                    self._current[name] = value
        for name, value in changed.items():
            for listener in list(self._listeners):
                listener(name, value, source)
        return coerced

    def get(self, name: str) -> Any:
        """The target value last set (what controllers and feedback should show)."""
        name = self.param(name).name
        with self._lock:
            return self._targets[name]

    def reset(self, name: str | None = None, source: str = "api") -> None:
        """Back to the declared default(s)."""
        for key in [name] if name else list(self.params):
            self.set(key, self.param(key).default, source)

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(name, value, source)` after every change, from the writer's thread."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def snapshot(self, now: float | None = None) -> Snapshot:
        """All values at once; smoothed parameters advance toward their targets by the elapsed time."""
        now = time.monotonic() if now is None else now
        with self._lock:
            dt = 0.0 if self._last_snapshot is None else max(0.0, now - self._last_snapshot)
            self._last_snapshot = now
            for name, param in self.params.items():
                if param.smoothing > 0 and param.kind in ("float", "vector"):
                    self._current[name] = _slew(self._current[name], self._targets[name], dt, param.smoothing)
            return Snapshot(dict(self._current), now)


def _slew(current: Any, target: Any, dt: float, tau: float) -> Any:
    """The kit's exponential approach, element by element for vectors; a value within 1e-9 lands on its target."""
    if isinstance(target, tuple):
        return tuple(approach(c, t, dt, tau) for c, t in zip(current, target, strict=True))
    value = approach(current, target, dt, tau)
    return target if abs(target - value) < 1e-9 else value
