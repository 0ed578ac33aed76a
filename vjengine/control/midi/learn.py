"""MIDI learn: arm a parameter, move a control, and that control is bound to it and saved to the learn
file (a user map, loaded last so it overrides the others)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from vjengine.control.mapping import Binding, Control, ControllerMap, default_mode, save_map
from vjengine.control.midi.bindings import Bindings
from vjengine.control.midi.decode import NRPN_SELECT, RPN_SELECT, Event
from vjengine.control.midi.ports import MidiError
from vjengine.params import Param, ParamStore

log = logging.getLogger(__name__)

LEARN_PAIR_WINDOW = 0.05  # seconds to wait for the LSB (CC n+32) after CC n before learning a plain CC


def learnable(store: ParamStore, name: str) -> Param:
    """The parameter MIDI learn can bind `name` to; ParamError/MidiError (one line) when there is none."""
    param = store.param(name)
    if param.kind == "string":
        raise MidiError(f'{param.name} is text: a control cannot set it; use a map binding with mode = "trigger"')
    if not param.normalisable:
        raise MidiError(f"{param.name} has no range to map a control onto; bind it in a map with min and max")
    return param


class Learn:
    """Learns bindings into `bindings` (used at once) and `learned` (saved to `learn_file`)."""

    def __init__(
        self,
        store: ParamStore,
        bindings: Bindings,
        learned: ControllerMap,
        learn_file: Path | None,
        port: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.bindings, self.learned, self.learn_file = store, bindings, learned, learn_file
        self.port, self._now = port, clock
        self.learning: Param | None = None
        self._pending: Event | None = None
        self._deadline = 0.0

    @property
    def waiting(self) -> bool:
        """Whether a CC is held back to see whether its 14-bit partner follows (poll `timeout()` soon)."""
        return self._pending is not None

    def arm(self, param_name: str | None) -> None:
        """Bind the next control moved to `param_name`; an empty name cancels."""
        if not param_name:
            self.learning = None
            return
        param = learnable(self.store, param_name)
        self._pending = None
        self.learning = param
        log.info("MIDI learn: move a control on %s to bind it to %s", self.port, param.name)

    def offer(self, events: list[Event]) -> bool:
        """Offer one message's events; True when learn used them up."""
        if self.learning is None or not events:
            return False
        pending, self._pending = self._pending, None
        first = events[0]
        if pending is not None:
            if first.control == Control("cc", pending.control.channel, pending.control.number + 32):
                self._bind(Control("cc14", pending.control.channel, pending.control.number), events[-1])
                return True
            self._bind(pending.control, pending)
            return False  # this message is a move of its own
        control = first.control
        if control.type == "note" and not first.pressed:
            return True  # a key's release: wait for a press
        if control.type == "cc" and control.number in NRPN_SELECT + RPN_SELECT:
            return True  # the NRPN's data entry that follows is what gets bound
        if control.type == "cc" and control.number < 32:
            self._pending = first  # maybe the MSB of a 14-bit pair: see whether CC n+32 follows
            self._deadline = self._now() + LEARN_PAIR_WINDOW
            return True
        self._bind(control, first)
        return True

    def timeout(self) -> None:
        """No partner came in time: the held-back CC is learned as a plain CC."""
        pending = self._pending
        if pending is not None and self._now() >= self._deadline:
            self._pending = None
            self._bind(pending.control, pending)

    def _bind(self, control: Control, event: Event) -> None:
        param = self.learning
        if param is None:
            return
        mode = "toggle" if param.kind == "bool" and control.type == "cc" else default_mode(param, control.type)
        binding = Binding(param=param, control=control, mode=mode, low=param.min, high=param.max)
        self.bindings.install(
            [live.binding for live in self.bindings.lives if live.binding.control != control] + [binding]
        )
        if binding.continuous:
            self.bindings.apply(Event(control, event.raw, event.pressed))  # the move that was learned counts too
        self.learned.bindings = [b for b in self.learned.bindings if b.control != control] + [binding]
        saved = self._save()
        log.info("MIDI learn: %s -> %s%s", control, param.name, f" (saved to {saved})" if saved else "")
        self.learning = None

    def _save(self) -> Path | None:
        if self.learn_file is None:
            return None
        try:
            save_map(self.learned, self.learn_file)
        except OSError as exc:
            log.warning(
                "MIDI learn: cannot write %s (%s); the binding works until the engine stops", self.learn_file, exc
            )
            return None
        return self.learn_file
