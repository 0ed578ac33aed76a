"""Starting and stopping every control surface of a run: OSC in and out, OSCQuery, MIDI.

A surface that cannot start (a port in use, no MIDI port) is reported in one line and left off:
the engine renders on, and the rest of the rig keeps working.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from vjengine.control.actions import Actions, Targets
from vjengine.control.mapping import builtin_map_for_port
from vjengine.control.midi import MidiControl
from vjengine.control.osc import OSCReceiver, OSCSender
from vjengine.control.oscquery import OSCQueryServer
from vjengine.engine.bank import ModelBank
from vjengine.errors import VJError
from vjengine.latent.morph import PresetPlayer
from vjengine.params import ParamStore
from vjengine.params.modulation import Modulation
from vjengine.settings.config import Config
from vjengine.tempo.service import Tempo
from vjengine.webaccess import WebAccess, is_loopback

log = logging.getLogger(__name__)


class Controls:
    """The running control surfaces; `close()` stops them all."""

    def __init__(self) -> None:
        self.osc_in: OSCReceiver | None = None
        self.osc_out: OSCSender | None = None
        self.oscquery: OSCQueryServer | None = None
        self.midi: MidiControl | None = None
        self.clock: MidiControl | None = None  # a clock-only input (a DAW's bus, a DJ mixer)
        self.presets: PresetPlayer | None = None
        self.off: dict[str, VJError] = {}  # surfaces asked for that could not start ("OSC in", "OSCQuery", ...)
        self.actions: Actions | None = None  # every action, whoever asks; `actions.defer` waits for the beat
        self._closers: list[Callable[[], None]] = []

    def summary(self) -> str:
        """One short status fragment: OSC messages so far, and whether the MIDI controller is there."""
        parts = []
        if self.osc_in is not None:
            parts.append(f"osc :{self.osc_in.port} {self.osc_in.received} msgs")
        if self.midi is not None:
            status = self.midi.status()
            state = "learning " + status["learning"] if status["learning"] else "ok" if status["input"] else "WAITING"
            clock = f" {status['bpm']:.1f} bpm" if status["bpm"] else ""
            parts.append(f"midi {status['controller']} {state}{clock}")
        if self.clock is not None:
            status = self.clock.status()
            state = f"{status['bpm']:.1f} bpm" if status["bpm"] and status["input"] else "WAITING"
            parts.append(f"clock {status['controller']} {state}")
        return " | ".join(parts)

    def page_status(self) -> dict[str, Any]:
        """What the browser page shows besides parameters: MIDI (None when off; learn needs it) and the
        stored preset slots (for the pads)."""
        midi = None
        if self.midi is not None:
            status = self.midi.status()
            midi = {key: status[key] for key in ("controller", "input", "learning", "bpm")}
        bank = self.presets.bank if self.presets is not None else None
        presets = [] if bank is None else [{"slot": slot, "name": bank.get(slot).name} for slot in bank.slots()]
        return {"midi": midi, "presets": presets}

    def signal_listeners(self) -> list[Callable[[dict[str, float]], None]]:
        """What the render loop should hand each frame's signals to."""
        return [self.osc_out.publish_signals] if self.osc_out is not None and self.osc_out.signal_patterns else []

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception as exc:  # one surface failing to stop must not keep the others open
                log.debug("closing a control surface failed: %s", exc)
        self._closers.clear()


def open_controls(
    config: Config,
    store: ParamStore,
    presets: PresetPlayer | None,
    modulation: Modulation,
    name: str = "vjengine",
    access: WebAccess | None = None,
    models: ModelBank | None = None,
    tempo: Tempo | None = None,
) -> Controls:
    """Start what the config asks for; surfaces that cannot start are logged and left off. A MIDI clock
    goes to `tempo`, the run's tempo (a new one when left out).

    `access` (`--remote`) opens OSCQuery to the network for the browser page, token required, unless the
    config already opened it (`[osc] host`): then it stays as open as asked, as OSC over UDP is."""
    controls = Controls()
    controls.presets = presets
    tempo = tempo or Tempo(store)
    if config.midi_port or config.midi_mappings:
        controls.midi = _open_midi(config, store, tempo)
        if controls.midi is not None:
            controls._closers.append(controls.midi.close)
    if config.midi_clock.strip().lower() not in ("auto", "off", ""):
        controls.clock = _open_clock(config.midi_clock, store, tempo)
        if controls.clock is not None:
            controls._closers.append(controls.clock.close)
    learn = controls.midi.learn if controls.midi is not None else None
    if config.learn and learn is None and (config.midi_port or config.midi_mappings):
        log.warning("--learn %s: MIDI is off (the line above says why); nothing to learn from", config.learn)
    elif config.learn and learn is None:
        log.warning("--learn %s: MIDI learn needs a controller; give --midi NAME or --mapping", config.learn)
    elif config.learn and learn is not None:
        learn(config.learn)
    targets = Targets(store, presets, modulation, models, learn, tempo.tap.tap)
    actions = controls.actions = Actions(targets)
    actions.listen()  # MIDI pads, triggers and `--set` write preset.recall and tempo.tap: the same actions
    controls._closers.append(actions.close)
    if config.osc_port:
        receiver = OSCReceiver(
            store,
            config.osc_host,
            config.osc_port,
            config.osc_allow,
            actions,
            tcp_port=config.osc_tcp_port,
            tcp_framing=config.osc_tcp_framing,
        )
        if _start(receiver.start, "OSC in", controls.off):
            controls.osc_in = receiver
            controls._closers.append(receiver.close)
            log.info("OSC in on udp://%s:%d (addresses: vjengine params)", config.osc_host, receiver.port)
            if receiver.tcp_port:
                framing = config.osc_tcp_framing
                log.info("OSC in on tcp://%s:%d (%s framing)", config.osc_host, receiver.tcp_port, framing)
    if config.oscquery_port:
        osc_port = controls.osc_in.port if controls.osc_in is not None else config.osc_port
        host, mdns, guarded, osc_host = config.osc_host, config.oscquery_mdns, False, None
        if access is not None and access.remote and is_loopback(host):
            # Opened for the page only: every request from elsewhere needs the token, so announcing it to
            # OSCQuery apps on the network (which cannot send one) would only lead them to a refusal.
            host, mdns, guarded, osc_host = access.host, False, True, config.osc_host
        server = OSCQueryServer(
            store,
            host,
            config.oscquery_port,
            osc_port,
            name=name,
            osc_host=osc_host,
            mdns=mdns,
            actions=actions,
            access=access,
            guarded=guarded,
        )
        if _start(server.start, "OSCQuery", controls.off):
            controls.oscquery = server
            controls._closers.append(server.close)
            log.info("OSCQuery on %s", server.url)
    if config.osc_targets:
        sender = OSCSender(store, config.osc_targets, config.osc_rate, config.osc_signals, config.osc_send_params)
        sender.start()
        controls.osc_out = sender
        controls._closers.append(sender.close)
        log.info("OSC out to %s", ", ".join(config.osc_targets))
    return controls


def _open_midi(config: Config, store: ParamStore, tempo: Tempo) -> MidiControl | None:
    """The MIDI controller; a bad map stops the start (a user mistake), a missing port only warns."""
    mappings = config.midi_mappings
    if config.midi_port and not mappings:
        mappings = [builtin_map_for_port(config.midi_port)]
        log.info("MIDI map: %s (chosen by the port name; --mapping FILE chooses another)", mappings[0])
    clock_to = tempo if config.midi_clock.strip().lower() == "auto" else None
    midi = MidiControl(store, config.midi_port or None, mappings, config.midi_learn_file, tempo=clock_to)
    if not _start(midi.start, "MIDI"):
        return None
    log.info("MIDI: %s (waits for the port if it is not plugged in yet)", midi.name)
    return midi


def _open_clock(port: str, store: ParamStore, tempo: Tempo) -> MidiControl | None:
    """An input that only follows the MIDI clock; it waits for its port like a controller does."""
    clock = MidiControl(store, port, tempo=tempo)
    if not _start(clock.start, "MIDI clock"):
        return None
    log.info("MIDI clock: %s sets tempo.bpm (waits for the port if it is not there yet)", port)
    return clock


def _start(start: Callable[[], None], what: str, off: dict[str, VJError] | None = None) -> bool:
    try:
        start()
        return True
    except VJError as exc:
        log.warning("%s is off: %s", what, exc)
        if off is not None:
            off[what] = exc  # the page says it too
        return False
