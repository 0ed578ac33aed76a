"""MIDI ports: the backend `MIDO_BACKEND` names (default `mido.backends.rtmidi`; the tests use
`mido.backends.rtmidi/UNIX_JACK`), ports found by full name or by part of one, and a controller's input
and output reopened when they come back after being unplugged (hot-plug), without a restart."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import mido

from vjengine.errors import VJError

log = logging.getLogger(__name__)

DEFAULT_BACKEND = "mido.backends.rtmidi"


class MidiError(VJError):
    """A MIDI port or backend that cannot be used; the message says what to do."""


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


class Ports:
    """One controller's input (to `receive`) and output port, (re)opened whenever `sync()` finds them.

    `wants_output` says whether any binding sends feedback (no output is opened otherwise); `reopened`
    is called when the output opens, so every value is shown again.
    """

    def __init__(
        self,
        name: str,
        input_pattern: str,
        output_pattern: str,
        receive: Callable[[mido.Message], None],
        wants_output: Callable[[], bool],
        reopened: Callable[[], None],
    ) -> None:
        self.name, self.input_pattern, self.output_pattern = name, input_pattern, output_pattern
        self._receive, self._wants_output, self._reopened = receive, wants_output, reopened
        self._lock = threading.Lock()
        self._ports: dict[str, Any] = {"input": None, "output": None}
        self._backend: mido.Backend | None = None
        self._lister: PortLister | None = None
        self._warned: set[str] = set()
        self.connects = 0

    def open(self) -> None:
        """Load the backend and its port lister (`sync()` opens the ports); MidiError if MIDI cannot be used."""
        self._backend = open_backend()
        self._lister = PortLister(self._backend)

    def port(self, role: str) -> Any:
        """The open "input" or "output" port, or None."""
        with self._lock:
            return self._ports[role]

    def close(self) -> None:
        with self._lock:
            ports = list(self._ports.values())
            self._ports = {"input": None, "output": None}
        for port in ports:
            if port is not None:
                with contextlib.suppress(Exception):
                    port.close()
        if self._lister is not None:
            self._lister.close()

    def sync(self) -> None:
        """Close ports that vanished and open the ones that are (back) there."""
        try:
            inputs = self._lister.inputs()
            outputs = self._lister.outputs() if self._wants_output() else []
        except Exception as exc:  # the MIDI system itself went away (e.g. JACK stopped)
            self._warn_once("list", f"cannot list MIDI ports ({exc}); retrying")
            return
        self._sync("input", inputs, self.input_pattern)
        if self._wants_output():
            self._sync("output", outputs, self.output_pattern)

    def _sync(self, role: str, names: list[str], pattern: str) -> None:
        port = self.port(role)
        if port is not None and port.name in names:
            return
        if port is not None:
            log.warning("MIDI %s %s is gone; it reopens when it comes back", role, port.name)
            with self._lock:
                self._ports[role] = None
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
        with self._lock:
            self._ports[role] = opened
        self._warned.discard(f"missing {role}")
        self.connects += 1
        log.info("MIDI %s: %s (%s)", role, name, self.name)
        if role == "output":
            self._reopened()

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)


_ALSA_HANDLER: Any = None  # a cache that says so: the one handler installed for this process


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
