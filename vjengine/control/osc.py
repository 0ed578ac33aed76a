"""OSC in and out over UDP: every parameter at `/vj/<name with dots as slashes>`, 0..1 faders at `/vj/norm/...`.

The receiver is python-osc's blocking server on its own thread: one thread handles every datagram in
order, which kept up with bursts where the threading server (a thread per datagram) fell behind.
Bundle timetags are ignored (`strict_timing=False`): TouchDesigner stamps its bundles, and a control
must act now, not sleep until a timestamp. Bad datagrams, unknown addresses and wrong types are
logged once per address and dropped; the parameters only ever hold valid values.
"""

from __future__ import annotations

import contextlib
import fnmatch
import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pythonosc import osc_bundle_builder, osc_message_builder, osc_packet
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.osc_tcp_server import MODE_1_0, MODE_1_1, ThreadingOSCTCPServer

from vjengine.errors import VJError
from vjengine.params import Param, ParamError, ParamStore
from vjengine.params.registry import RENAMED

if TYPE_CHECKING:
    from vjengine.control.actions import Action, Actions

log = logging.getLogger(__name__)

PREFIX = "/vj/"
NORM_PREFIX = "/vj/norm/"
SIGNAL_PREFIX = "/vj/signal/"
RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024  # rides out bursts while the handler catches up (the kernel may cap it)
MAX_LOGGED_PROBLEMS = 200
TCP_FRAMINGS = ("slip", "length")  # OSC 1.1 SLIP-encoded stream, or OSC 1.0 32-bit length prefixes


class OSCError(VJError):
    """An OSC server or target that cannot be set up; the message says what to change."""


def signal_address(name: str) -> str:
    """Where an analysis signal is sent: `hand.x` -> `/vj/signal/hand/x`."""
    return SIGNAL_PREFIX + name.replace(".", "/")


def parse_target(spec: str) -> tuple[str, int]:
    """`host:port` (or just `port`, meaning 127.0.0.1) for OSC out; OSCError on anything else."""
    host, _, port = spec.strip().rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise OSCError(f"OSC target {spec!r}: expected HOST:PORT, e.g. 127.0.0.1:7000") from None
    if not 0 < number < 65536:
        raise OSCError(f"OSC target {spec!r}: the port must be between 1 and 65535")
    return (host or "127.0.0.1"), number


class _ParamDispatcher(Dispatcher):
    """Exact addresses are a dict lookup; only addresses with OSC wildcards go through pattern matching."""

    def handlers_for_address(self, address_pattern: str):
        handlers = self._map.get(address_pattern)
        if handlers and not any(c in address_pattern for c in "*?[{"):
            return iter(handlers)
        return super().handlers_for_address(address_pattern)

    def call_handlers_for_packet(self, data: bytes, client_address: tuple[str, int]) -> list:
        try:
            return super().call_handlers_for_packet(data, client_address)
        except Exception as exc:  # python-osc raises more than ParseError on some malformed packets
            log.debug("dropped a malformed OSC packet from %s: %s", client_address, exc)
            return []


class _Server(BlockingOSCUDPServer):
    def __init__(self, address: tuple[str, int], dispatcher: Dispatcher, allow: list) -> None:
        self.allow = allow
        super().__init__(address, dispatcher)

    def server_bind(self) -> None:
        with contextlib.suppress(OSError):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        super().server_bind()

    def verify_request(self, request, client_address) -> bool:
        if self.allow and not any(ipaddress.ip_address(client_address[0]) in net for net in self.allow):
            return False
        return super().verify_request(request, client_address)

    def handle_error(self, request, client_address) -> None:
        log.debug("error handling an OSC packet from %s", client_address, exc_info=True)


class _TCPServer(ThreadingOSCTCPServer):
    """OSC over TCP, one thread per connection (not per message); SLIP (OSC 1.1) or length-prefixed (1.0)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], dispatcher: Dispatcher, allow: list, framing: str) -> None:
        self.allow = allow
        super().__init__(address, dispatcher, mode=MODE_1_1 if framing == "slip" else MODE_1_0)

    def verify_request(self, request, client_address) -> bool:
        return not self.allow or any(ipaddress.ip_address(client_address[0]) in net for net in self.allow)

    def handle_error(self, request, client_address) -> None:
        log.debug("dropped an OSC TCP connection from %s after a malformed stream", client_address, exc_info=True)


class OSCReceiver:
    """Applies OSC messages to the parameters; `actions` answers the actions' addresses (`/vj/learn` ...).

    Values arrive in the parameter's own units at its address, or as 0..1 at `/vj/norm/...`.
    Addresses may use OSC wildcards (`/vj/transform/*`). Numbers are accepted for every numeric kind
    (controllers send floats), rounded for whole-number parameters; enums take a choice or its index.
    """

    def __init__(
        self,
        store: ParamStore,
        host: str = "127.0.0.1",
        port: int = 9000,
        allow: Iterable[str] = (),
        actions: Actions | None = None,
        tcp_port: int = 0,
        tcp_framing: str = "slip",
    ) -> None:
        if tcp_framing not in TCP_FRAMINGS:
            raise OSCError(f"OSC TCP framing {tcp_framing!r}: use {' or '.join(TCP_FRAMINGS)}")
        self.store = store
        self.host = host
        self.requested_port = port
        self.requested_tcp_port = tcp_port
        self.tcp_framing = tcp_framing
        self._tcp: _TCPServer | None = None
        self.allow = [_network(spec) for spec in allow]
        self.actions = actions
        self.received = 0
        self.applied = 0
        self._logged: set[tuple[str, str]] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the requested one, or the one the system chose for 0)."""
        return self._server.server_address[1] if self._server else self.requested_port

    @property
    def tcp_port(self) -> int | None:
        """The bound TCP port, or None without OSC over TCP."""
        return self._tcp.server_address[1] if self._tcp else None

    def start(self) -> None:
        """Bind and serve on daemon threads; OSCError when a port cannot be had."""
        dispatcher = self._dispatcher()
        try:
            self._server = _Server((self.host, self.requested_port), dispatcher, self.allow)
        except OSError as exc:
            raise OSCError(
                f"cannot listen for OSC on {self.host}:{self.requested_port} ({exc.strerror or exc}); "
                "another program (or vjengine) may use it: choose another with --osc-port"
            ) from None
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.2,), name="osc in", daemon=True)
        self._thread.start()
        if self.requested_tcp_port:
            self._start_tcp(dispatcher)

    def _start_tcp(self, dispatcher: Dispatcher) -> None:
        try:
            self._tcp = _TCPServer((self.host, self.requested_tcp_port), dispatcher, self.allow, self.tcp_framing)
        except OSError as exc:
            self.close()
            raise OSCError(
                f"cannot listen for OSC over TCP on {self.host}:{self.requested_tcp_port} ({exc.strerror or exc}); "
                "choose another [osc] tcp_port"
            ) from None
        thread = threading.Thread(target=self._tcp.serve_forever, args=(0.2,), name="osc in tcp", daemon=True)
        thread.start()

    def close(self) -> None:
        for server in (self._server, self._tcp):
            if server is not None:
                server.shutdown()
                server.server_close()
        if self._thread is not None:
            self._thread.join(2)
        self._server = self._tcp = None

    def _dispatcher(self) -> Dispatcher:
        dispatcher = _ParamDispatcher(strict_timing=False)
        actions = self.actions.declared if self.actions is not None else ()
        taken = {action.address for action in actions}
        for param in self.store.params.values():
            # An action at a parameter's address (/vj/preset/recall) replaces its setter: it takes the
            # same value and more arguments, and one message must not act twice.
            if param.osc_address not in taken:
                dispatcher.map(param.osc_address, self._setter(param, norm=False))
            if param.normalisable:
                dispatcher.map(NORM_PREFIX + param.name.replace(".", "/"), self._setter(param, norm=True))
        for old, new in RENAMED.items():  # old addresses work one more release (the store says so once)
            if new in self.store.params:
                dispatcher.map(PREFIX + old.replace(".", "/"), self._setter(self.store.params[new], False, old))
        for action in actions:
            dispatcher.map(action.address, self._action(action))
        dispatcher.set_default_handler(self._unknown)
        return dispatcher

    def _setter(self, param: Param, norm: bool, name: str = "") -> Callable[..., None]:
        def handle(address: str, *args: Any) -> None:
            self.received += 1
            try:
                value = param.from_norm(_one_number(param, args)) if norm else osc_value(param, args)
                self.store.set(name or param.name, value, source="osc")
                self.applied += 1
            except ParamError as exc:
                self._log_once(address, "value", f"OSC {address}: {exc}; ignored")

        return handle

    def _action(self, action: Action) -> Callable[..., None]:
        actions = self.actions

        def handle(_address: str, *args: Any) -> None:
            self.received += 1
            if actions.invoke(action.name, args, source="osc"):  # a mistake is said there, once
                self.applied += 1

        return handle

    def _unknown(self, address: str, *args: Any) -> None:
        self.received += 1
        hint = "" if address.startswith(PREFIX) else f"; vjengine's addresses start with {PREFIX}"
        self._log_once(address, "unknown", f"OSC {address}: no such parameter{hint} (list them: vjengine params)")

    def _log_once(self, address: str, kind: str, message: str) -> None:
        key = (address[:200], kind)
        if key in self._logged or len(self._logged) >= MAX_LOGGED_PROBLEMS:
            return
        self._logged.add(key)
        log.warning("%s", message)


def osc_value(param: Param, args: tuple) -> Any:
    """The value an OSC message's arguments give `param`; ParamError when they cannot."""
    if param.kind == "vector":
        if len(args) == 1 and isinstance(args[0], str):
            return param.parse(args[0])
        return param.coerce(list(args))
    if len(args) != 1:
        raise ParamError(f"{param.name}: expected one value, got {len(args)}")
    value = args[0]
    if isinstance(value, bool) or param.kind in ("string",):
        return param.accept(value)
    if param.kind == "bool" and isinstance(value, (int, float)):
        return value >= 0.5
    if param.kind == "int" and isinstance(value, float) and value == value and abs(value) < 2**63:
        return param.coerce(round(value))
    if param.kind == "enum" and isinstance(value, (int, float)) and not isinstance(value, bool):
        index = int(value)
        if 0 <= index < len(param.choices) and index == value:
            return param.choices[index]
        raise ParamError(f"{param.name}: choice index {value!r} is not between 0 and {len(param.choices) - 1}")
    return param.accept(value)


def _one_number(param: Param, args: tuple) -> float:
    if len(args) != 1 or isinstance(args[0], (str, bytes, bool)) or not isinstance(args[0], (int, float)):
        raise ParamError(f"{param.name}: /vj/norm takes one number between 0 and 1, got {list(args)!r}")
    if args[0] != args[0]:
        raise ParamError(f"{param.name}: /vj/norm takes a number, not NaN")
    return float(args[0])


def _network(spec: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(spec.strip(), strict=False)
    except ValueError:
        raise OSCError(f"OSC allow-list entry {spec!r} is not a network; write e.g. 192.168.1.0/24") from None


class OSCSender:
    """Sends parameter changes (from any source) and chosen analysis signals to OSC targets.

    Changes are coalesced and sent at most `rate` times a second, one bundle per target, from the
    sender's own thread: a listener call or `publish_signals` only stores the newest values.
    """

    def __init__(
        self,
        store: ParamStore,
        targets: Iterable[str],
        rate: float = 30.0,
        signals: Iterable[str] = (),
        params: bool = True,
    ) -> None:
        self.store = store
        self.targets = [parse_target(t) for t in targets]
        self.rate = max(1.0, float(rate))
        self.signal_patterns = list(signals)
        self.send_params = params
        self._pending: dict[str, Any] = {}
        self._signals: Mapping[str, float] = {}
        self._sent_signals: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._thread: threading.Thread | None = None
        self.sent = 0

    def start(self) -> None:
        if self.send_params:
            self.store.add_listener(self._changed)
        self._thread = threading.Thread(target=self._run, name="osc out", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self.send_params:
            with contextlib.suppress(ValueError):
                self.store.remove_listener(self._changed)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self._socket.close()

    def publish_signals(self, signals: Mapping[str, float]) -> None:
        """Called by the render loop with the frame's signals; never blocks."""
        self._signals = signals

    def _changed(self, name: str, value: Any, source: str) -> None:
        with self._lock:
            self._pending[name] = value

    def _run(self) -> None:
        while not self._stop.wait(1.0 / self.rate):
            messages = self._param_messages() + self._signal_messages()
            if messages:
                self._send(messages)

    def _param_messages(self) -> list[tuple[str, list]]:
        with self._lock:
            pending, self._pending = self._pending, {}
        return [(self.store.params[name].osc_address, _osc_args(value)) for name, value in pending.items()]

    def _signal_messages(self) -> list[tuple[str, list]]:
        signals, messages = self._signals, []
        for name, value in signals.items():
            if not any(fnmatch.fnmatchcase(name, p) for p in self.signal_patterns):
                continue
            if self._sent_signals.get(name) != value:
                self._sent_signals[name] = value
                messages.append((signal_address(name), [float(value)]))
        return messages

    def _send(self, messages: list[tuple[str, list]]) -> None:
        for chunk in _chunks(messages, 32):  # keeps every datagram well under a typical MTU-safe size
            data = _bundle(chunk)
            for target in self.targets:
                try:
                    self._socket.sendto(data, target)
                    self.sent += len(chunk)
                except OSError as exc:  # a target that is down must not stop the others
                    log.debug("OSC out to %s:%d failed: %s", *target, exc)


def _osc_args(value: Any) -> list:
    if isinstance(value, tuple):
        return [float(v) for v in value]
    return [value]


def _bundle(messages: list[tuple[str, list]]) -> bytes:
    builder = osc_bundle_builder.OscBundleBuilder(osc_bundle_builder.IMMEDIATELY)
    for address, args in messages:
        message = osc_message_builder.OscMessageBuilder(address=address)
        for arg in args:
            message.add_arg(arg)
        builder.add_content(message.build())
    return builder.build().dgram


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def decode(data: bytes) -> list[tuple[str, list]]:
    """(address, arguments) of every message in a datagram: for tests and tools that listen to OSC out."""
    return [(m.message.address, list(m.message.params)) for m in osc_packet.OscPacket(data).messages]


__all__ = ["OSCError", "OSCReceiver", "OSCSender", "decode", "osc_value", "parse_target", "signal_address"]
