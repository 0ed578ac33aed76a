"""A MIDI controller driving parameters: its maps, its ports, learn, pick-up, feedback and its clock.

The threads:

- rtmidi's callback (JACK's process thread on JACK) only drops what we do not use (sysex, active
  sensing, clock unless it is followed ... counted, never logged one by one) and queues the rest,
  clock messages stamped with their arrival time;
- "midi in" decodes (14-bit CC pairs, NRPN), runs MIDI learn, applies the bindings with pick-up
  and writes the ParamStore; a followed clock goes to the tempo service (`clock.py`);
- "midi ports" reads the port list every `poll_interval` seconds and reopens a port that vanished
  once it is back (`ports.py`);
- "midi out" sends feedback (`feedback.py`); the store listener only records the newest value per binding.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import mido

from vjengine.control.mapping import Binding, ControllerMap, combine, load_map, resolve_map
from vjengine.control.midi.bindings import Bindings
from vjengine.control.midi.clock import ClockIn
from vjengine.control.midi.decode import HANDLED_TYPES, Decoder
from vjengine.control.midi.feedback import Feedback
from vjengine.control.midi.learn import LEARN_PAIR_WINDOW, Learn
from vjengine.control.midi.ports import MidiError, Ports
from vjengine.params import ParamStore
from vjengine.tempo.service import Tempo

log = logging.getLogger(__name__)
_STOP = object()


class MidiControl:
    """A MIDI controller on one input port (and its output, for feedback), hot-plugged.

    `port` is (part of) the input port's name; None takes `[controller] port` from the maps. Feedback
    goes to `output` (default: the maps' `[controller] output`, else the same name as the input), and
    is only opened when a binding asks for feedback. `learn_file` is a user map: loaded last (so it
    overrides the others) and rewritten by MIDI learn. With `tempo`, the input's MIDI clock is followed
    into that tempo service. `clock` (seconds, `time.monotonic` by default) times MIDI learn's wait for a
    second control.
    """

    def __init__(
        self,
        store: ParamStore,
        port: str | None = None,
        mapping_files: Iterable[str | os.PathLike] = (),
        learn_file: str | os.PathLike | None = None,
        output: str | None = None,
        poll_interval: float = 1.0,
        tempo: Tempo | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        maps = [load_map(resolve_map(spec), store.params) for spec in mapping_files]
        self.learn_file = Path(learn_file).expanduser() if learn_file else None
        learned = ControllerMap(name="learned")
        if self.learn_file is not None and self.learn_file.exists():
            learned = load_map(self.learn_file, store.params)
            maps.append(learned)
        self.port = port or next((m.port for m in maps if m.port), None)
        if not self.port:
            raise MidiError(
                "no MIDI port to open: give --midi NAME (part of a port name; 'vjengine devices' lists them) "
                "or a map with [controller] port"
            )
        self.output_port = output or next((m.output for m in maps if m.output), None) or self.port
        self.name = next((m.name for m in maps if m.name), self.port)
        self.poll_interval = poll_interval
        learned.port = learned.port or self.port
        self._bindings = Bindings(store, combine(maps), self._warn_once)
        self._learn = Learn(store, self._bindings, learned, self.learn_file, self.port, clock)
        self._clock = ClockIn(tempo) if tempo is not None else None
        self._ports = Ports(
            self.name,
            self.port,
            self.output_port,
            self._receive,
            lambda: self._bindings.wants_output,
            self._send_all_feedback,
        )
        self._feedback = Feedback(lambda: self._ports.port("output"))
        self.received = self.ignored = 0
        self._decoder = Decoder()
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._warned: set[str] = set()
        self._threads: list[threading.Thread] = []

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the ports that are there now and start the threads; MidiError if MIDI cannot be used."""
        self._ports.open()
        self.store.add_listener(self._changed)
        self._ports.sync()
        for target, name in (
            (self._run_input, "midi in"),
            (self._run_ports, "midi ports"),
            (self._feedback.run, "midi out"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        """Stop the threads and close the ports."""
        self._stop.set()
        with contextlib.suppress(ValueError):
            self.store.remove_listener(self._changed)
        self._inbox.put(_STOP)
        self._feedback.stop()
        for thread in self._threads:
            thread.join(2)
        self._threads.clear()
        self._ports.close()

    def __enter__(self) -> MidiControl:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def status(self) -> dict[str, Any]:
        """Ports open now, bindings, learn state and message counts."""
        ports = {role: self._ports.port(role) for role in ("input", "output")}
        return {
            "controller": self.name,
            "port": self.port,
            **{role: port.name if port is not None else None for role, port in ports.items()},
            "bindings": len(self._bindings.lives),
            "learning": self._learn.learning.name if self._learn.learning else None,
            "received": self.received,
            "applied": self._bindings.applied,
            "held": self._bindings.held,
            "ignored": self.ignored,
            "connects": self._ports.connects,
            "bpm": self._clock.bpm if self._clock is not None else None,
        }

    @property
    def bindings(self) -> list[Binding]:
        """The bindings in use (maps combined, learned ones included)."""
        return [live.binding for live in self._bindings.lives]

    def learn(self, param_name: str | None = None) -> None:
        """Arm MIDI learn for `param_name`: the next control moved is bound to it and saved to the learn
        file. An empty name cancels. ParamError/MidiError (one line) for a parameter a control cannot set."""
        self._learn.arm(param_name)

    # -- the threads ------------------------------------------------------------------------------

    def _receive(self, message: mido.Message) -> None:
        """rtmidi's callback: as little as possible on the driver's thread."""
        if message.type in HANDLED_TYPES:
            self._inbox.put(message)
        elif self._clock is not None and self._clock.wants(message):
            self._inbox.put(self._clock.stamp(message))
        else:
            self.ignored += 1  # clock, sysex, active sensing ...: counted, not logged

    def _run_input(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._inbox.get(timeout=LEARN_PAIR_WINDOW / 2 if self._learn.waiting else 0.5)
            except queue.Empty:
                self._learn.timeout()
                continue
            if message is _STOP:
                return
            if self._clock is not None and self._clock.wants(message):
                self._clock.handle(message)
                continue
            events = self._decoder.feed(message)
            if not self._learn.offer(events):
                for event in events:
                    self._bindings.apply(event)
            self.received += 1  # counted once handled: whoever waits for the count sees what the message did

    def _run_ports(self) -> None:
        while not self._stop.wait(self.poll_interval):
            self._ports.sync()

    def _changed(self, name: str, value: Any, source: str) -> None:
        """Store listener, on the writer's thread: pick-up bookkeeping and queued feedback, nothing slow."""
        for live in self._bindings.changed(name):
            self._feedback.queue(id(live), live.binding, value)

    def _send_all_feedback(self) -> None:
        for live in self._bindings.lives:
            if live.binding.feedback:
                self._feedback.queue(id(live), live.binding, self.store.get(live.binding.param.name))

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)
