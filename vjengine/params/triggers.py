"""Triggers: a signal crossing a threshold sets a parameter once, like a pad pressed (`preset.recall = 2 when
hand.fist >= 0.6`).

A trigger reads `PARAM = VALUE when SIGNAL > ON [rearm LEVEL]` (also `>=`, `<`, `<=`). It fires once when
the signal crosses into the condition, writing VALUE to the parameter in the store (as a MIDI pad would:
`preset.recall` recalls a preset, `render.paused = 1` pauses), then waits until the signal has gone back
past LEVEL (default: ON, i.e. the condition no longer holds) before it may fire again. It starts unarmed:
a signal already past ON when the show starts (or when the trigger is bound) fires nothing until it has
been back. A missing signal (its analyser off) changes nothing.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vjengine.errors import VJError
from vjengine.params.param import ParamError
from vjengine.params.store import ParamStore
from vjengine.params.syntax import NAME, NUMBER

_SYNTAX = re.compile(
    rf"^\s*(?P<param>{NAME})\s*=\s*(?P<value>{NUMBER})\s+when\s+(?P<signal>{NAME})\s*(?P<op>[<>]=?)\s*"
    rf"(?P<on>{NUMBER})(?:\s+rearm\s+(?P<rearm>{NUMBER}))?\s*$"
)
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
EXAMPLE = "preset.recall = 2 when hand.fist >= 0.6 rearm 0.3"


def is_trigger(text: str) -> bool:
    """Whether `text` is meant as a trigger (it has a `when`), so its mistakes are explained as a trigger's."""
    return re.search(r"\swhen\s", text) is not None


@dataclass(frozen=True)
class Trigger:
    """Set `param` to `value` when `signal` `op` `on` holds after the signal was back past `rearm`."""

    param: str
    value: float | int | bool  # in the parameter's own type
    signal: str
    op: str
    on: float
    rearm: float

    def __str__(self) -> str:
        rearm = f" rearm {self.rearm:g}" if self.rearm != self.on else ""
        return f"{self.param} = {self.value:g} when {self.signal} {self.op} {self.on:g}{rearm}"

    def holds(self, signal: float) -> bool:
        """Whether the condition holds for this value of the signal."""
        return _OPERATORS[self.op](signal, self.on)

    def rearms(self, signal: float) -> bool:
        """Whether the signal is back past the re-arm level (and the condition no longer holds)."""
        back = signal <= self.rearm if self.op.startswith(">") else signal >= self.rearm
        return back and not self.holds(signal)


def parse_trigger(text: str, store: ParamStore, check_signal: Callable[[str], object] | None = None) -> Trigger:
    """A trigger from `PARAM = VALUE when SIGNAL > ON [rearm LEVEL]`; ParamError saying what is wrong."""
    match = _SYNTAX.match(text)
    if match is None:
        raise ParamError(f"trigger {text!r}: write PARAM = VALUE when SIGNAL > ON [rearm LEVEL], e.g. '{EXAMPLE}'")
    param = store.param(match["param"])
    if param.kind not in ("float", "int", "bool"):
        raise ParamError(f"trigger {text!r}: {param.name} is a {param.kind}; triggers set numbers and switches")
    try:
        value = param.check(float(match["value"]) if param.kind == "float" else _whole(match["value"]))
    except VJError as exc:
        raise ParamError(f"trigger {text!r}: {exc}") from None
    if check_signal is not None:
        try:
            check_signal(match["signal"])
        except VJError as exc:
            raise ParamError(f"trigger {text!r}: {exc}") from None
    on = float(match["on"])
    rearm = float(match["rearm"]) if match["rearm"] is not None else on
    above = match["op"].startswith(">")
    if (above and rearm > on) or (not above and rearm < on):
        side = "below" if above else "above"
        raise ParamError(f"trigger {text!r}: rearm {rearm:g} must be {side} the threshold {on:g}, or it never re-arms")
    return Trigger(param.name, value, match["signal"], match["op"], on, rearm)


def _whole(text: str) -> int:
    number = float(text)
    if not number.is_integer():
        raise VJError(f"{text} is not a whole number")
    return int(number)


class TriggerState:
    """Which triggers are armed; `fire` is called once a frame with the frame's signals (render thread)."""

    def __init__(self, store: ParamStore) -> None:
        self.store = store
        self._armed: dict[Trigger, bool] = {}
        self.fired = 0

    def fire(self, triggers: tuple[Trigger, ...], signals: Mapping[str, float]) -> None:
        """Fire every armed trigger whose condition holds now; re-arm those whose signal is back."""
        armed = {trigger: self._armed.get(trigger, False) for trigger in triggers}  # new ones start unarmed
        for trigger in triggers:
            if trigger.signal not in signals:
                continue
            value = float(signals[trigger.signal])
            if armed[trigger] and trigger.holds(value):
                armed[trigger] = False
                self.fired += 1
                self.store.set(trigger.param, trigger.value, source="trigger")
            elif not armed[trigger] and trigger.rearms(value):
                armed[trigger] = True
        self._armed = armed
