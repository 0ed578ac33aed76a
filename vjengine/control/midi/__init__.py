"""MIDI in and out: controller maps move parameters; parameters light LEDs and move motorised faders; a
MIDI clock sets the tempo. One module per concern: `control` (MidiControl, which ties them together),
`ports` (backends, opening, hot-plug), `decode` (messages to control events), `bindings` (events to
values, pick-up), `learn`, `feedback` (values sent back to the controller) and `clock` (MIDI clock in)."""

from vjengine.control.mapping import MappingError
from vjengine.control.midi.control import MidiControl
from vjengine.control.midi.decode import Decoder, Event, relative_ticks
from vjengine.control.midi.feedback import feedback_messages
from vjengine.control.midi.learn import learnable
from vjengine.control.midi.ports import MidiError, PortLister, find_port, midi_ports, open_backend

__all__ = [
    "Decoder",
    "Event",
    "MappingError",
    "MidiControl",
    "MidiError",
    "PortLister",
    "feedback_messages",
    "find_port",
    "learnable",
    "midi_ports",
    "open_backend",
    "relative_ticks",
]
