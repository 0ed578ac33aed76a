"""Values sent back to the controller: LEDs, encoder rings and motorised faders show the parameters.

The store listener only records the newest value per binding (`queue`), so a writer (OSC, presets, the
render loop) never waits on MIDI; a thread of its own sends them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import mido

from vjengine.control.mapping import Binding
from vjengine.control.midi.decode import DATA_ENTRY, NRPN_SELECT

log = logging.getLogger(__name__)


def feedback_messages(binding: Binding, value: Any) -> list[mido.Message]:
    """The MIDI messages that show `value` on the binding's control (LED, ring, motorised fader)."""
    raw = binding.to_raw(value)
    control, channel = binding.control, binding.control.channel
    if control.type == "note":
        return [mido.Message("note_on", channel=channel, note=control.number, velocity=raw)]
    if control.type == "pitchbend":
        return [mido.Message("pitchwheel", channel=channel, pitch=raw - 8192)]
    if control.type == "cc14":
        return [_cc(channel, control.number, raw >> 7), _cc(channel, control.number + 32, raw & 127)]
    if control.type == "nrpn":
        select = [_cc(channel, NRPN_SELECT[0], control.number >> 7), _cc(channel, NRPN_SELECT[1], control.number & 127)]
        if binding.bits == 7:
            return [*select, _cc(channel, DATA_ENTRY[0], raw)]
        return [*select, _cc(channel, DATA_ENTRY[0], raw >> 7), _cc(channel, DATA_ENTRY[1], raw & 127)]
    return [_cc(channel, control.number, raw)]


def _cc(channel: int, number: int, value: int) -> mido.Message:
    return mido.Message("control_change", channel=channel, control=number, value=value)


class Feedback:
    """The newest value per binding, sent to the output port (`port()`, None while there is none)."""

    def __init__(self, port: Callable[[], Any]) -> None:
        self._port = port
        self._outbox: dict[int, tuple[Binding, Any]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False

    def queue(self, key: int, binding: Binding, value: Any) -> None:
        """Show `value` on `binding`'s control soon; a newer value for the same `key` replaces it unsent."""
        with self._lock:
            self._outbox[key] = (binding, value)
        self._wake.set()

    def run(self) -> None:
        """The "midi out" thread: send what is queued until `stop()`."""
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            with self._lock:
                pending, self._outbox = self._outbox, {}
            port = self._port()
            if port is None or not pending:
                continue  # nothing to send to: a reconnect sends every value again
            try:
                for binding, value in pending.values():
                    for message in feedback_messages(binding, value):
                        port.send(message)
            except Exception as exc:  # a port that vanished mid-send; the port watcher reopens it
                log.debug("MIDI feedback to %s failed: %s", port.name, exc)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
