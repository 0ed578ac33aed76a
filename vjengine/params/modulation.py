"""Modulation: analysis signals driving parameters, declared as data (`corruption.gain += hand.distance`).

A binding reads `PARAM = SIGNAL * SCALE + OFFSET` (the signal sets the value) or `PARAM += ...` (the
signal adds to the value the controllers set, so a knob still works beside the hand). Bindings act on
each frame's snapshot, never on the store: controllers keep their own values, MIDI pick-up is not
confused, and a binding whose signal is absent (its analyser off) leaves the parameter alone.

A line with `when` is a trigger instead (`preset.recall = 2 when hand.fist >= 0.6`, see triggers.py): it
sets a parameter in the store once each time its signal crosses a threshold, as a pad would.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vjengine.errors import VJError
from vjengine.params.param import ParamError
from vjengine.params.store import ParamStore, Snapshot
from vjengine.params.syntax import NAME, NUMBER, UNSIGNED
from vjengine.params.triggers import Trigger, TriggerState, is_trigger, parse_trigger

# The paper's couplings (section 3.2): the hand's distance from the centre corrupts StyleGAN2's
# constant; its angle, position and size rotate, shift and zoom StyleGAN3's picture.
DEFAULT_BINDINGS = (
    "corruption.gain += hand.distance",
    "transform.rotate += hand.angle",
    "transform.x += hand.x * 1.0 - 0.5",
    "transform.y += hand.y * 1.0 - 0.5",
    "transform.scale += hand.area * 4.0",
)

_SYNTAX = re.compile(
    rf"^\s*(?P<param>{NAME})\s*(?P<op>\+?=)\s*(?P<signal>{NAME})"
    rf"(?:\s*\*\s*(?P<scale>{NUMBER}))?(?:\s*(?P<sign>[-+])\s*(?P<offset>{UNSIGNED}))?\s*$"
)


@dataclass(frozen=True)
class Binding:
    """`param` follows (mode "set") or is pushed by (mode "add") `offset + scale * signal`."""

    param: str
    signal: str
    scale: float = 1.0
    offset: float = 0.0
    mode: str = "add"

    def __str__(self) -> str:
        op = "+=" if self.mode == "add" else "="
        offset = f" {'-' if self.offset < 0 else '+'} {abs(self.offset):g}" if self.offset else ""
        return f"{self.param} {op} {self.signal} * {self.scale:g}{offset}"


SignalCheck = Callable[[str], object]


def parse_binding(text: str, store: ParamStore, check_signal: SignalCheck | None = None) -> Binding | Trigger:
    """A binding from `PARAM = SIGNAL [* SCALE] [+|- OFFSET]` (or `+=`), or a trigger from `PARAM = VALUE when
    SIGNAL > ON [rearm LEVEL]`; ParamError saying what is wrong.

    `check_signal` (e.g. `vjengine.analysis.signals.check_signal`) raises for a signal no analyser
    publishes: a misspelt one would otherwise be accepted and never act."""
    if is_trigger(text):
        return parse_trigger(text, store, check_signal)
    match = _SYNTAX.match(text)
    if match is None:
        raise ParamError(
            f"modulation {text!r}: write PARAM = SIGNAL * SCALE + OFFSET, or += to add to the controllers' value, "
            "e.g. 'corruption.gain += hand.distance * 1.5'"
        )
    param = store.param(match["param"])
    if param.kind not in ("float", "int", "bool"):
        kind = f"{param.name} is a {param.kind}"
        raise ParamError(f"modulation {text!r}: {kind}; only numbers and switches follow signals")
    if check_signal is not None:
        try:
            check_signal(match["signal"])
        except VJError as exc:
            raise ParamError(f"modulation {text!r}: {exc}") from None
    offset = float(match["offset"] or 0.0) * (-1 if match["sign"] == "-" else 1)
    mode = "add" if match["op"] == "+=" else "set"
    return Binding(param.name, match["signal"], float(match["scale"] or 1.0), offset, mode)


class Modulation:
    """The live set of bindings; `apply` is called by the render loop, `bind`/`unbind` from any thread.

    `check_signal` refuses bindings to signals no analyser publishes (see `parse_binding`)."""

    def __init__(
        self, store: ParamStore, bindings: Iterable[str | Binding] = (), check_signal: SignalCheck | None = None
    ) -> None:
        self.store = store
        self.check_signal = check_signal
        self._lock = threading.Lock()
        self._bindings: tuple[Binding, ...] = ()
        self._triggers: tuple[Trigger, ...] = ()
        self.trigger_state = TriggerState(store)
        for binding in bindings:
            self.bind(binding)

    @property
    def bindings(self) -> tuple[Binding, ...]:
        return self._bindings

    @property
    def triggers(self) -> tuple[Trigger, ...]:
        return self._triggers

    def bind(self, binding: str | Binding | Trigger) -> Binding | Trigger:
        """Add a binding or trigger (text or object); a binding for the same parameter and signal is replaced,
        as is a trigger of the same parameter, signal and condition."""
        if isinstance(binding, str):
            binding = parse_binding(binding, self.store, self.check_signal)
        if isinstance(binding, Trigger):
            return self._add_trigger(binding)
        with self._lock:
            kept = tuple(b for b in self._bindings if (b.param, b.signal) != (binding.param, binding.signal))
            self._bindings = (*kept, binding)
        return binding

    def _add_trigger(self, trigger: Trigger) -> Trigger:
        def same(t: Trigger) -> bool:
            return (t.param, t.signal, t.op, t.on) == (trigger.param, trigger.signal, trigger.op, trigger.on)

        with self._lock:
            self._triggers = (*(t for t in self._triggers if not same(t)), trigger)
        return trigger

    def unbind(self, param: str, signal: str | None = None) -> int:
        """Remove the bindings and triggers of `param` (of one `signal` only, if given); how many went."""

        def kept(rules: tuple) -> tuple:
            return tuple(r for r in rules if r.param != param or (signal and r.signal != signal))

        with self._lock:
            bindings, triggers = kept(self._bindings), kept(self._triggers)
            removed = len(self._bindings) + len(self._triggers) - len(bindings) - len(triggers)
            self._bindings, self._triggers = bindings, triggers
        return removed

    def apply(self, snapshot: Snapshot, signals: Mapping[str, float]) -> Snapshot:
        """The snapshot with every binding whose signal is present applied (clamped to the ranges).

        Triggers whose signal crossed their threshold fire here too: they set the store, so what they
        set shows from the next frame on (a preset recall starts its crossfade then)."""
        if self._triggers:
            self.trigger_state.fire(self._triggers, signals)
        bindings = self._bindings
        active = [b for b in bindings if b.signal in signals]
        if not active:
            return snapshot
        values: dict[str, Any] = dict(snapshot)
        for binding in active:
            amount = binding.offset + binding.scale * float(signals[binding.signal])
            if not math.isfinite(amount):  # a glitching analyser must not take the frame down
                continue
            param = self.store.params[binding.param]
            base = values[binding.param] if binding.mode == "add" else 0.0
            values[binding.param] = _settle(param.kind, float(base) + amount, param)
        return Snapshot(values, snapshot.time)


def _settle(kind: str, value: float, param) -> Any:
    if kind == "bool":
        return value >= 0.5
    if kind == "int":
        return param.coerce(round(value))
    return param.coerce(value)
