"""MIDI in and out: controller maps move parameters; parameters light LEDs and move motorised faders.

Ports open through mido with the backend that `MIDO_BACKEND` names (default `mido.backends.rtmidi`;
the tests use `mido.backends.rtmidi/UNIX_JACK`), by full name or by part of one. The threads:

- rtmidi's callback (JACK's process thread on JACK) only drops what we do not use (sysex, active
  sensing, clock unless `follow_clock` ... counted, never logged one by one) and queues the rest,
  clock ticks stamped with their arrival time;
- "midi in" decodes (14-bit CC pairs, NRPN), runs MIDI learn, applies the bindings with pick-up
  and writes the ParamStore; with `follow_clock`, the clock's tempo goes to `tempo.bpm` (as tempo.source allows);
- "midi ports" reads the port list every `poll_interval` seconds and reopens a port that vanished
  once it is back (hot-plug), without a restart;
- "midi out" sends feedback. The store listener only records the newest value per binding, so a
  writer (OSC, presets, the render loop) never waits on MIDI.

Pick-up (soft takeover): after a parameter is changed by anything other than a fader or knob bound
to it, that control only takes over once its position crosses the current value (or comes within
`PICKUP_THRESHOLD` of it), so a recalled preset does not jump. Encoders and buttons act at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import mido

from vjengine.control.clock import TICKS_PER_BEAT, TempoFollower
from vjengine.control.mapping import (
    Binding,
    Control,
    ControllerMap,
    MappingError,
    combine,
    default_mode,
    load_map,
    resolve_map,
    save_map,
)
from vjengine.errors import VJError
from vjengine.params import Param, ParamError, ParamStore
from vjengine.tempo.arbiter import arbiter_for

log = logging.getLogger(__name__)

DEFAULT_BACKEND = "mido.backends.rtmidi"
HANDLED_TYPES = frozenset({"control_change", "note_on", "note_off", "pitchwheel"})
CLOCK_TYPES = frozenset({"clock", "start", "continue", "stop"})
PICKUP_THRESHOLD = 0.02  # of the control's travel: about 2.5 steps of a 7-bit knob
LEARN_PAIR_WINDOW = 0.05  # seconds to wait for the LSB (CC n+32) after CC n before learning a plain CC
NRPN_SELECT = (99, 98)  # parameter number MSB, LSB
RPN_SELECT = (101, 100)
DATA_ENTRY = (6, 38)  # value MSB, LSB
_STOP = object()


class MidiError(VJError):
    """A MIDI port or backend that cannot be used; the message says what to do."""


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


def find_port(pattern: str, names: Sequence[str]) -> str | None:
    """The port called `pattern`, else the first whose name contains it (case-insensitive)."""
    if pattern in names:
        return pattern
    wanted = pattern.casefold()
    return next((name for name in names if wanted in name.casefold()), None)


def open_backend() -> mido.Backend:
    """The mido backend `MIDO_BACKEND` names (read now, so a test or wrapper may set it late)."""
    name = os.environ.get("MIDO_BACKEND") or DEFAULT_BACKEND
    try:
        return mido.Backend(name, load=True)
    except Exception as exc:  # ImportError, ValueError, and whatever a backend module raises on import
        raise MidiError(f"MIDI backend {name!r} (MIDO_BACKEND) cannot be loaded: {exc}") from None


def midi_ports() -> tuple[list[str], list[str]]:
    """(input names, output names) for `vjengine devices`; MidiError when MIDI cannot be used here."""
    lister = PortLister(open_backend())
    try:
        return lister.inputs(), lister.outputs()
    finally:
        lister.close()


class PortLister:
    """Lists port names cheaply enough to poll every second.

    mido's own listing creates and destroys a client per call: about 0.2 s on JACK, and a graph change
    every poll that other JACK clients see. With rtmidi we keep one client open and ask it.
    """

    def __init__(self, backend: mido.Backend) -> None:
        self._backend = backend
        self._clients: dict[str, Any] = {}
        self._rtmidi = None
        if backend.module.__name__ == DEFAULT_BACKEND:
            import rtmidi

            self._rtmidi = rtmidi
            _silence_alsa_errors()
            self._client("input")  # fails now, with a clear message, if the MIDI system is not there

    def inputs(self) -> list[str]:
        return self._client("input").get_ports() if self._rtmidi else self._backend.get_input_names()

    def outputs(self) -> list[str]:
        return self._client("output").get_ports() if self._rtmidi else self._backend.get_output_names()

    def close(self) -> None:
        for client in self._clients.values():
            client.delete()
        self._clients.clear()

    def _client(self, role: str) -> Any:
        if role not in self._clients:
            rtmidi, backend = self._rtmidi, self._backend
            try:
                api = getattr(rtmidi, f"API_{backend.api}") if backend.api else rtmidi.API_UNSPECIFIED
                kind = rtmidi.MidiIn if role == "input" else rtmidi.MidiOut
                self._clients[role] = kind(rtapi=api, name="vjengine ports")
            except AttributeError:
                raise MidiError(f"MIDI backend {_describe(backend)!r}: rtmidi has no API {backend.api!r}") from None
            except Exception as exc:  # rtmidi.SystemError: "JACK server not running?", no ALSA sequencer ...
                reason = str(exc).rstrip(". ")
                raise MidiError(f"MIDI backend {_describe(backend)!r} cannot start: {reason}{_hint(backend)}") from None
        return self._clients[role]


class _Live:
    """A binding in use, with its pick-up state."""

    __slots__ = ("binding", "engaged", "last_position", "before_press")

    def __init__(self, binding: Binding) -> None:
        self.binding = binding
        self.engaged = True  # nothing else has moved the value yet: the first move takes over
        self.last_position: float | None = None
        self.before_press: Any = _STOP  # momentary: the value to restore on release


def learnable(store: ParamStore, name: str) -> Param:
    """The parameter MIDI learn can bind `name` to; ParamError/MidiError (one line) when there is none."""
    param = store.param(name)
    if param.kind == "string":
        raise MidiError(f'{param.name} is text: a control cannot set it; use a map binding with mode = "trigger"')
    if not param.normalisable:
        raise MidiError(f"{param.name} has no range to map a control onto; bind it in a map with min and max")
    return param


class MidiControl:
    """A MIDI controller driving parameters: ports, maps, learn, pick-up, feedback and hot-plug.

    `port` is (part of) the input port's name; None takes `[controller] port` from the maps. Feedback
    goes to `output` (default: the maps' `[controller] output`, else the same name as the input), and
    is only opened when a binding asks for feedback. `learn_file` is a user map: loaded last (so it
    overrides the others) and rewritten by MIDI learn. `clock` (seconds, `time.monotonic` by default)
    stamps each MIDI clock tick as it arrives, and times MIDI learn's wait for a second control.
    """

    def __init__(
        self,
        store: ParamStore,
        port: str | None = None,
        mapping_files: Iterable[str | os.PathLike] = (),
        learn_file: str | os.PathLike | None = None,
        output: str | None = None,
        poll_interval: float = 1.0,
        follow_clock: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._now = clock
        self.clock = TempoFollower() if follow_clock else None
        self._ticks = -1  # clock ticks since the last Start: tick 0 is the downbeat
        maps = [load_map(resolve_map(spec), store.params) for spec in mapping_files]
        self.learn_file = Path(learn_file).expanduser() if learn_file else None
        self._learned = ControllerMap(name="learned")
        if self.learn_file is not None and self.learn_file.exists():
            self._learned = load_map(self.learn_file, store.params)
            maps.append(self._learned)
        self.port = port or next((m.port for m in maps if m.port), None)
        if not self.port:
            raise MidiError(
                "no MIDI port to open: give --midi NAME (part of a port name; 'vjengine devices' lists them) "
                "or a map with [controller] port"
            )
        self.output_port = output or next((m.output for m in maps if m.output), None) or self.port
        self.name = next((m.name for m in maps if m.name), self.port)
        self.poll_interval = poll_interval
        self._learned.port = self._learned.port or self.port
        self._install(combine(maps))
        self.received = self.applied = self.ignored = self.held = self.connects = 0
        self._decoder = Decoder()
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._ports_lock = threading.Lock()
        self._input: Any = None
        self._output: Any = None
        self._outbox: dict[int, tuple[_Live, Any]] = {}
        self._outbox_lock = threading.Lock()
        self._wake_output = threading.Event()
        self._stop = threading.Event()
        self._writer: _Live | None = None
        self._input_thread_id: int | None = None
        self._learning: Param | None = None
        self._learn_pending: Event | None = None
        self._learn_deadline = 0.0
        self._warned: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._backend: mido.Backend | None = None
        self._lister: PortLister | None = None

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the ports that are there now and start the threads; MidiError if MIDI cannot be used."""
        self._backend = open_backend()
        self._lister = PortLister(self._backend)
        self.store.add_listener(self._changed)
        self._sync_ports()
        for target, name in (
            (self._run_input, "midi in"),
            (self._run_ports, "midi ports"),
            (self._run_output, "midi out"),
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
        self._wake_output.set()
        for thread in self._threads:
            thread.join(2)
        self._threads.clear()
        with self._ports_lock:
            ports, self._input, self._output = (self._input, self._output), None, None
        for port in ports:
            if port is not None:
                with contextlib.suppress(Exception):
                    port.close()
        if self._lister is not None:
            self._lister.close()

    def __enter__(self) -> MidiControl:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def status(self) -> dict[str, Any]:
        """Ports open now, bindings, learn state and message counts."""
        with self._ports_lock:
            input_name = self._input.name if self._input is not None else None
            output_name = self._output.name if self._output is not None else None
        return {
            "controller": self.name,
            "port": self.port,
            "input": input_name,
            "output": output_name,
            "bindings": len(self._lives),
            "learning": self._learning.name if self._learning else None,
            "received": self.received,
            "applied": self.applied,
            "held": self.held,
            "ignored": self.ignored,
            "connects": self.connects,
            "bpm": self.clock.bpm if self.clock is not None else None,
        }

    @property
    def bindings(self) -> list[Binding]:
        """The bindings in use (maps combined, learned ones included)."""
        return [live.binding for live in self._lives]

    # -- MIDI learn -------------------------------------------------------------------------------

    def learn(self, param_name: str | None = None) -> None:
        """Arm MIDI learn for `param_name`: the next control moved is bound to it and saved to the learn
        file. An empty name cancels. ParamError/MidiError (one line) for a parameter a control cannot set."""
        if not param_name:
            self._learning = None
            return
        param = learnable(self.store, param_name)
        self._learn_pending = None
        self._learning = param
        log.info("MIDI learn: move a control on %s to bind it to %s", self.port, param.name)

    def _learn(self, events: list[Event]) -> bool:
        """Offer one message's events to MIDI learn; True when learn used them up."""
        if self._learning is None or not events:
            return False
        pending, self._learn_pending = self._learn_pending, None
        first = events[0]
        if pending is not None:
            if first.control == Control("cc", pending.control.channel, pending.control.number + 32):
                self._bind_learned(Control("cc14", pending.control.channel, pending.control.number), events[-1])
                return True
            self._bind_learned(pending.control, pending)
            return False  # this message is a move of its own
        control = first.control
        if control.type == "note" and not first.pressed:
            return True  # a key's release: wait for a press
        if control.type == "cc" and control.number in NRPN_SELECT + RPN_SELECT:
            return True  # the NRPN's data entry that follows is what gets bound
        if control.type == "cc" and control.number < 32:
            self._learn_pending = first  # maybe the MSB of a 14-bit pair: see whether CC n+32 follows
            self._learn_deadline = self._now() + LEARN_PAIR_WINDOW
            return True
        self._bind_learned(control, first)
        return True

    def _learn_timeout(self) -> None:
        pending = self._learn_pending
        if pending is not None and self._now() >= self._learn_deadline:
            self._learn_pending = None
            self._bind_learned(pending.control, pending)

    def _bind_learned(self, control: Control, event: Event) -> None:
        param = self._learning
        if param is None:
            return
        mode = "toggle" if param.kind == "bool" and control.type == "cc" else default_mode(param, control.type)
        binding = Binding(param=param, control=control, mode=mode, low=param.min, high=param.max)
        self._install([b for b in self.bindings if b.control != control] + [binding])
        if binding.continuous:
            self._apply(self._table[control][-1], event)  # the move that was learned counts too
        self._learned.bindings = [b for b in self._learned.bindings if b.control != control] + [binding]
        saved = self._save_learned()
        log.info("MIDI learn: %s -> %s%s", control, param.name, f" (saved to {saved})" if saved else "")
        self._learning = None

    def _save_learned(self) -> Path | None:
        if self.learn_file is None:
            return None
        try:
            save_map(self._learned, self.learn_file)
        except OSError as exc:
            log.warning(
                "MIDI learn: cannot write %s (%s); the binding works until the engine stops", self.learn_file, exc
            )
            return None
        return self.learn_file

    # -- applying bindings ------------------------------------------------------------------------

    def _install(self, bindings: list[Binding]) -> None:
        lives = [_Live(b) for b in bindings]
        table: dict[Control, list[_Live]] = {}
        by_param: dict[str, list[_Live]] = {}
        for live in lives:
            table.setdefault(live.binding.control, []).append(live)
            by_param.setdefault(live.binding.param.name, []).append(live)
        # swapped whole, so the listener (other threads) always sees one consistent set
        self._lives, self._table, self._by_param = lives, table, by_param

    def _receive(self, message: mido.Message) -> None:
        """rtmidi's callback: as little as possible on the driver's thread."""
        if message.type in HANDLED_TYPES:
            self._inbox.put(message)
        elif self.clock is not None and message.type in CLOCK_TYPES:
            self._inbox.put(message.copy(time=self._now()))  # stamped now: the tempo is in the timing
        else:
            self.ignored += 1  # clock, sysex, active sensing ...: counted, not logged

    def _run_input(self) -> None:
        self._input_thread_id = threading.get_ident()
        while not self._stop.is_set():
            try:
                message = self._inbox.get(timeout=LEARN_PAIR_WINDOW / 2 if self._learn_pending else 0.5)
            except queue.Empty:
                self._learn_timeout()
                continue
            if message is _STOP:
                return
            if message.type in CLOCK_TYPES:
                self._follow_clock(message)
                continue
            self.received += 1
            events = self._decoder.feed(message)
            if self._learn(events):
                continue
            for event in events:
                for live in self._table.get(event.control, ()):
                    self._apply(live, event)

    def _follow_clock(self, message: mido.Message) -> None:
        tempo = arbiter_for(self.store)
        if message.type != "clock":
            self.clock.restart()
            if message.type == "start":  # the next tick is the song's first beat
                self._ticks = -1
            return
        self._ticks += 1
        tempo.anchor("clock", self._ticks / TICKS_PER_BEAT, message.time)  # the beat phase follows the clock
        if (bpm := self.clock.tick(message.time)) is not None:
            tempo.propose("clock", bpm)
        else:  # a steady clock publishes no new tempo, yet it is running: it keeps its rank (tempo.source auto)
            tempo.present("clock")

    def _apply(self, live: _Live, event: Event) -> None:
        binding = live.binding
        if binding.mode == "absolute":
            self._absolute(live, event)
        elif binding.mode == "relative":
            ticks = relative_ticks(event.raw, binding.encoding)
            if ticks:
                self._write(live, binding.nudge(self.store.get(binding.param.name), ticks))
        elif event.pressed:
            current = self.store.get(binding.param.name)
            if binding.mode == "momentary" and live.before_press is _STOP:
                live.before_press = current  # a second press while held must not make the held value stick
            self._write(live, binding.on_press(current))
        elif binding.mode == "momentary" and live.before_press is not _STOP:
            before, live.before_press = live.before_press, _STOP
            self._write(live, before)

    def _absolute(self, live: _Live, event: Event) -> None:
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

    def _write(self, live: _Live, value: Any) -> None:
        self._writer = live
        try:
            self.store.set(live.binding.param.name, value, source="midi")
            self.applied += 1
        except ParamError as exc:
            self._warn_once(f"value {live.binding.param.name}", f"MIDI {live.binding.control}: {exc}; ignored")
        finally:
            self._writer = None

    def _changed(self, name: str, value: Any, source: str) -> None:
        """Store listener, on the writer's thread: pick-up bookkeeping and queued feedback, nothing slow."""
        lives = self._by_param.get(name)
        if not lives:
            return
        writer = self._writer if threading.get_ident() == self._input_thread_id else None
        queued = False
        for live in lives:
            if live is not writer:
                live.engaged = False  # moved by something else: this control must pick the value up again
            if live.binding.feedback and not (live is writer and live.binding.continuous):
                with self._outbox_lock:
                    self._outbox[id(live)] = (live, value)
                queued = True
        if queued:
            self._wake_output.set()

    # -- feedback ---------------------------------------------------------------------------------

    def _run_output(self) -> None:
        while not self._stop.is_set():
            self._wake_output.wait()
            self._wake_output.clear()
            with self._outbox_lock:
                pending, self._outbox = self._outbox, {}
            with self._ports_lock:
                port = self._output
            if port is None or not pending:
                continue  # nothing to send to: a reconnect sends every value again
            try:
                for live, value in pending.values():
                    for message in feedback_messages(live.binding, value):
                        port.send(message)
            except Exception as exc:  # a port that vanished mid-send; the port watcher reopens it
                log.debug("MIDI feedback to %s failed: %s", port.name, exc)

    def _send_all_feedback(self) -> None:
        with self._outbox_lock:
            for live in self._lives:
                if live.binding.feedback:
                    self._outbox[id(live)] = (live, self.store.get(live.binding.param.name))
        self._wake_output.set()

    # -- ports and hot-plug -----------------------------------------------------------------------

    @property
    def _wants_output(self) -> bool:
        return any(live.binding.feedback for live in self._lives)

    def _run_ports(self) -> None:
        while not self._stop.wait(self.poll_interval):
            self._sync_ports()

    def _sync_ports(self) -> None:
        try:
            inputs = self._lister.inputs()
            outputs = self._lister.outputs() if self._wants_output else []
        except Exception as exc:  # the MIDI system itself went away (e.g. JACK stopped)
            self._warn_once("list", f"cannot list MIDI ports ({exc}); retrying")
            return
        self._sync_port("input", inputs, self.port)
        if self._wants_output:
            self._sync_port("output", outputs, self.output_port)

    def _sync_port(self, role: str, names: list[str], pattern: str) -> None:
        attribute = f"_{role}"
        with self._ports_lock:
            port = getattr(self, attribute)
        if port is not None and port.name in names:
            return
        if port is not None:
            log.warning("MIDI %s %s is gone; it reopens when it comes back", role, port.name)
            with self._ports_lock:
                setattr(self, attribute, None)
            with contextlib.suppress(Exception):
                port.close()
        name = find_port(pattern, names)
        if name is None:
            self._warn_once(
                f"missing {role}",
                f"MIDI {role} {pattern!r} is not there (ports: {', '.join(names) or 'none'}); waiting for it",
            )
            return
        try:
            if role == "input":
                opened = self._backend.open_input(name, callback=self._receive)
            else:
                opened = self._backend.open_output(name)
        except Exception as exc:  # vanished between listing and opening, or busy: try again next poll
            self._warn_once(f"open {role}", f"cannot open MIDI {role} {name} ({exc}); retrying")
            return
        with self._ports_lock:
            setattr(self, attribute, opened)
        self._warned.discard(f"missing {role}")
        self.connects += 1
        log.info("MIDI %s: %s (%s)", role, name, self.name)
        if role == "output":
            self._send_all_feedback()

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)


_ALSA_HANDLER: Any = None


def _silence_alsa_errors() -> None:
    """Stop alsa-lib printing its own "ALSA lib seq_hw.c ..." lines to stderr.

    rtmidi's errors reach the user through MidiError as one line with a hint; alsa-lib's raw lines
    beside it only confuse. Process-wide, and only alsa-lib's error printing is affected.
    """
    global _ALSA_HANDLER
    if _ALSA_HANDLER is not None or not sys.platform.startswith("linux"):
        return
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("asound")
    try:
        alsa = ctypes.CDLL(name or "libasound.so.2")
    except OSError:
        return
    # snd_lib_error_handler_t is variadic; a handler that ignores its arguments is safe to declare short.
    _ALSA_HANDLER = ctypes.CFUNCTYPE(
        None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
    )(lambda *args: None)
    alsa.snd_lib_error_set_handler(_ALSA_HANDLER)


def _describe(backend: mido.Backend) -> str:
    return f"{backend.name}/{backend.api}" if backend.api else backend.name


def _hint(backend: mido.Backend) -> str:
    if backend.api == "UNIX_JACK":
        return "; start a JACK server (e.g. jackd -d dummy) or choose another MIDO_BACKEND"
    if sys.platform.startswith("linux") and not os.path.exists("/dev/snd/seq"):
        return (
            "; on Linux without an ALSA sequencer (/dev/snd/seq) run JACK and set "
            "MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK"
        )
    return ""


def _crossed(last: float | None, now: float, target: float) -> bool:
    """Whether a control moving from `last` to `now` passed (or reached) `target`."""
    if abs(now - target) <= PICKUP_THRESHOLD:
        return True
    return last is not None and min(last, now) <= target <= max(last, now)


def _cc(channel: int, number: int, value: int) -> mido.Message:
    return mido.Message("control_change", channel=channel, control=number, value=value)


__all__ = [
    "Decoder",
    "Event",
    "MappingError",
    "MidiControl",
    "MidiError",
    "PortLister",
    "feedback_messages",
    "find_port",
    "midi_ports",
    "open_backend",
    "relative_ticks",
]
