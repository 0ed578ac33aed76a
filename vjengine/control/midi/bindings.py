"""The bindings in use: control events to parameter values, with pick-up (soft takeover).

After a parameter is changed by anything other than a fader or knob bound to it, that control only takes
over once its position crosses the current value (or comes within `PICKUP_THRESHOLD` of it), so a
recalled preset does not jump. Encoders and buttons act at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from vjengine.control.mapping import Binding, Control
from vjengine.control.midi.decode import Event, relative_ticks
from vjengine.params import ParamError, ParamStore

log = logging.getLogger(__name__)

PICKUP_THRESHOLD = 0.02  # of the control's travel: about 2.5 steps of a 7-bit knob
_NOTHING = object()


class Live:
    """A binding in use, with its pick-up state."""

    __slots__ = ("binding", "engaged", "last_position", "before_press")

    def __init__(self, binding: Binding) -> None:
        self.binding = binding
        self.engaged = True  # nothing else has moved the value yet: the first move takes over
        self.last_position: float | None = None
        self.before_press: Any = _NOTHING  # momentary: the value to restore on release


class Bindings:
    """Applies control events to the store (source "midi"); `changed` is told of every store change."""

    def __init__(self, store: ParamStore, bindings: list[Binding], warn_once: Callable[[str, str], None]) -> None:
        self.store, self._warn_once = store, warn_once
        self.applied = self.held = 0
        self._local = threading.local()  # .writer: the binding writing now, on this thread (store listeners run on it)
        self.install(bindings)

    def install(self, bindings: list[Binding]) -> None:
        """Use `bindings` from now on (pick-up state starts afresh)."""
        lives = [Live(b) for b in bindings]
        table: dict[Control, list[Live]] = {}
        by_param: dict[str, list[Live]] = {}
        for live in lives:
            table.setdefault(live.binding.control, []).append(live)
            by_param.setdefault(live.binding.param.name, []).append(live)
        # swapped whole, so the listener (other threads) always sees one consistent set
        self.lives, self._table, self._by_param = lives, table, by_param

    @property
    def wants_output(self) -> bool:
        """Whether any binding shows its value on the controller."""
        return any(live.binding.feedback for live in self.lives)

    def apply(self, event: Event) -> None:
        """One control movement to every binding of its control."""
        for live in self._table.get(event.control, ()):
            self._apply(live, event)

    def changed(self, name: str) -> list[Live]:
        """A store listener's call: `name` changed. Controls that did not move it must pick it up again;
        returns the bindings whose controllers should show the new value."""
        lives = self._by_param.get(name)
        if not lives:
            return []
        writer = getattr(self._local, "writer", None)
        shown = []
        for live in lives:
            if live is not writer:
                live.engaged = False  # moved by something else: this control must pick the value up again
            if live.binding.feedback and not (live is writer and live.binding.continuous):
                shown.append(live)
        return shown

    def _apply(self, live: Live, event: Event) -> None:
        binding = live.binding
        if binding.mode == "absolute":
            self._absolute(live, event)
        elif binding.mode == "relative":
            ticks = relative_ticks(event.raw, binding.encoding)
            if ticks:
                self._write(live, binding.nudge(self.store.get(binding.param.name), ticks))
        elif event.pressed:
            current = self.store.get(binding.param.name)
            if binding.mode == "momentary" and live.before_press is _NOTHING:
                live.before_press = current  # a second press while held must not make the held value stick
            self._write(live, binding.on_press(current))
        elif binding.mode == "momentary" and live.before_press is not _NOTHING:
            before, live.before_press = live.before_press, _NOTHING
            self._write(live, before)

    def _absolute(self, live: Live, event: Event) -> None:
        binding = live.binding
        if binding.control.type == "note" and not event.pressed:
            return  # a key's release carries no position
        position = binding.position(event.raw)
        if binding.pickup and binding.continuous and not live.engaged:
            target = binding.to_position(self.store.get(binding.param.name))
            if not _crossed(live.last_position, position, target):
                live.last_position = position
                self.held += 1
                return
            live.engaged = True
        live.last_position = position
        self._write(live, binding.to_value(position))

    def _write(self, live: Live, value: Any) -> None:
        self._local.writer = live
        try:
            self.store.set(live.binding.param.name, value, source="midi")
            self.applied += 1
        except ParamError as exc:
            self._warn_once(f"value {live.binding.param.name}", f"MIDI {live.binding.control}: {exc}; ignored")
        finally:
            self._local.writer = None


def _crossed(last: float | None, now: float, target: float) -> bool:
    """Whether a control moving from `last` to `now` passed (or reached) `target`."""
    if abs(now - target) <= PICKUP_THRESHOLD:
        return True
    return last is not None and min(last, now) <= target <= max(last, now)
