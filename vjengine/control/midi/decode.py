"""MIDI messages to control events: plain CC, 14-bit CC pairs, NRPN, notes and pitch bend."""

from __future__ import annotations

from typing import NamedTuple

import mido

from vjengine.control.mapping import Control

HANDLED_TYPES = frozenset({"control_change", "note_on", "note_off", "pitchwheel"})
NRPN_SELECT = (99, 98)  # parameter number MSB, LSB
RPN_SELECT = (101, 100)
DATA_ENTRY = (6, 38)  # value MSB, LSB


class Event(NamedTuple):
    """One control movement decoded from MIDI: which control, its raw value, and for buttons press/release."""

    control: Control
    raw: int
    pressed: bool | None = None


class Decoder:
    """MIDI messages -> control events; keeps the state 14-bit CC pairs and NRPN need across messages.

    Every CC gives a `cc` event. CC 0-31 also give a `cc14` event (the MSB, LSB taken as 0, as the MIDI
    spec says) and CC 32-63 a `cc14` event for their pair (MSB << 7 | LSB); the bindings decide which
    one counts. After CC 99/98 select an NRPN, data entry (CC 6/38) gives `nrpn` events instead.
    """

    def __init__(self) -> None:
        self._msb: dict[tuple[int, int], int] = {}
        self._selected: dict[int, list] = {}  # channel -> [kind ("nrpn"/"rpn"/None), number MSB, LSB, data MSB]

    def feed(self, message: mido.Message) -> list[Event]:
        if message.type == "pitchwheel":
            return [Event(Control("pitchbend", message.channel), message.pitch + 8192)]
        if message.type in ("note_on", "note_off"):
            velocity = message.velocity if message.type == "note_on" else 0
            return [Event(Control("note", message.channel, message.note), velocity, velocity > 0)]
        if message.type == "control_change":
            return self._control_change(message.channel, message.control, message.value)
        return []

    def _control_change(self, channel: int, number: int, value: int) -> list[Event]:
        selected = self._selected.setdefault(channel, [None, 0, 0, 0])
        if number in NRPN_SELECT:
            selected[0] = "nrpn"
            selected[1 if number == NRPN_SELECT[0] else 2] = value
        elif number in RPN_SELECT:
            selected[0] = "rpn"
            selected[1 if number == RPN_SELECT[0] else 2] = value
            if selected[1] == selected[2] == 127:  # RPN null: nothing selected any more
                selected[0] = None
        elif number in DATA_ENTRY and selected[0] == "rpn":
            return []  # pitch-bend range and the like: not ours
        elif number in DATA_ENTRY and selected[0] == "nrpn":
            if number == DATA_ENTRY[0]:
                selected[3] = value
                raw = value << 7
            else:
                raw = (selected[3] << 7) | value
            return [Event(Control("nrpn", channel, (selected[1] << 7) | selected[2]), raw)]
        events = [Event(Control("cc", channel, number), value, value >= 64)]
        if number < 32:
            self._msb[channel, number] = value
            events.append(Event(Control("cc14", channel, number), value << 7))
        elif number < 64 and (channel, number - 32) in self._msb:
            msb = self._msb[channel, number - 32]
            events.append(Event(Control("cc14", channel, number - 32), (msb << 7) | value))
        return events


def relative_ticks(raw: int, encoding: str) -> int:
    """Encoder steps in one relative CC value: twos (1..63 up, 127..65 down), offset (64 = still), signbit."""
    if encoding == "offset":
        return raw - 64
    if encoding == "signbit":
        return -(raw & 63) if raw & 64 else raw & 63
    return raw - 128 if raw >= 64 else raw
