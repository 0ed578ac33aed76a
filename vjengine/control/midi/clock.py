"""MIDI clock in: a controller's (or a DAW's, a DJ mixer's) clock, start, continue and stop messages,
stamped on arrival with the tempo's clock and handed to the run's tempo service, which follows its tempo
and counts its beats from Start."""

from __future__ import annotations

import mido

from vjengine.tempo.midiclock import MESSAGES
from vjengine.tempo.service import Tempo


class ClockIn:
    """What a MIDI input does with clock messages when it follows the clock into `tempo`."""

    def __init__(self, tempo: Tempo) -> None:
        self.tempo = tempo

    @staticmethod
    def wants(message: mido.Message) -> bool:
        return message.type in MESSAGES

    def stamp(self, message: mido.Message) -> mido.Message:
        """On the driver's thread, as it arrives: the tempo is in the timing, so the time is taken now."""
        return message.copy(time=self.tempo.clock())

    def handle(self, message: mido.Message) -> None:
        """On the input thread: the stamped message to the tempo."""
        self.tempo.clock_message(message.type, message.time)

    @property
    def bpm(self) -> float | None:
        """The clock's tempo, None before it has one."""
        return self.tempo.clock_bpm
