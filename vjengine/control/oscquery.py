"""OSCQuery (Vidvox's proposal): every parameter described as JSON over HTTP, values streamed over a websocket.

One port serves both: a plain `GET /vj/truncation/psi` answers with the node's JSON (`?VALUE`, `?TYPE`,
`?HOST_INFO` ... with one attribute), and a websocket upgrade on the same port takes `LISTEN`/`IGNORE`
commands and pushes each change of a listened-to parameter as a binary OSC message. The tree is built from
the parameter registry, so it never disagrees with the OSC addresses; values are read at request time.

Built on `websockets` (its `process_request` hook answers plain HTTP on the websocket port, which is
exactly the proposal's layout) rather than aiohttp: one small dependency, no web framework for a handful of
GETs. The server runs its own asyncio loop on its own thread; store listeners only hand changes to that
loop, so a writer (the OSC thread, MIDI, the render loop) never waits on a slow websocket client.
mDNS (`_oscjson._tcp` and `_osc._udp`, through zeroconf) is announced in the background and skipped with
a debug log where multicast does not work.

The browser page (`control/web.py`) is a plain client of this server: it reads the tree (each node's TAGS
name its registry group), LISTENs to every value and sends OSC over the websocket, including the actions
(`/vj/preset/store`, `/vj/learn`, `vjengine.control.actions`) when `actions` are given. One extension serves
it: a client that sends `{"COMMAND": "VJENGINE_STATUS"}` is pushed the run's status (fps, model, outputs,
MIDI, preset slots: `publish_status`) as a text message whenever it changes, at most STATUS_RATE times a
second; other clients never see it. Every request, the websocket's too, goes through the run's one access
check (`WebAccess.refusal`): Host and Origin always (another web site in the browser is kept out, OSCQuery
apps send no Origin and are served as ever), the token where `guarded` (`--remote`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pythonosc import osc_packet
from pythonosc.osc_message_builder import OscMessageBuilder
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from vjengine.control.osc import PREFIX, osc_value
from vjengine.errors import VJError
from vjengine.params import Param, ParamError, ParamStore
from vjengine.webaccess import WILDCARD_HOSTS, WebAccess, WebRequest, without_token

if TYPE_CHECKING:
    from vjengine.control.actions import Actions

log = logging.getLogger(__name__)

DEFAULT_PORT = 5678  # ossia's and Chataigne's default OSCQuery port
OSCJSON_SERVICE = "_oscjson._tcp.local."
OSC_SERVICE = "_osc._udp.local."
START_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 3.0
MDNS_CLOSE_TIMEOUT_S = 1.0
UPDATE_RATE = 60.0  # most value updates per second and address sent to a listening client
STATUS_COMMAND = "VJENGINE_STATUS"  # the page's extension: this client wants the run's status pushed
STATUS_RATE = 2.0  # most status pushes per second: fps and frame counts change with every frame
_PORT_IN_USE = {errno.EADDRINUSE, 10048}  # 10048: WSAEADDRINUSE, what Windows sockets report

# Node attributes this server can answer with `?ATTRIBUTE`; other attributes of the proposal get 400.
NODE_ATTRIBUTES = (
    "FULL_PATH", "CONTENTS", "TYPE", "VALUE", "RANGE", "ACCESS", "DESCRIPTION", "UNIT", "CLIPMODE", "TAGS"
)  # fmt: skip
EXTENSIONS = {
    "ACCESS": True,
    "VALUE": True,
    "RANGE": True,
    "DESCRIPTION": True,
    "UNIT": True,
    "CLIPMODE": True,
    "LISTEN": True,
    "TAGS": True,
    "EXTENDED_TYPE": False,
    "CRITICAL": False,
    "HTML": False,
    "PATH_CHANGED": False,
    "PATH_RENAMED": False,
    "PATH_ADDED": False,
    "PATH_REMOVED": False,
}
_TYPE_TAGS = {"float": "f", "int": "i", "bool": "T", "enum": "s", "string": "s"}
_WILDCARD_HOSTS = set(WILDCARD_HOSTS)


class OSCQueryError(VJError):
    """The OSCQuery server cannot start; the message says what to change."""


def type_tag(param: Param) -> str:
    """The OSC type tag string of `param`'s messages: `f`, `i`, `T` (true/false), `s`, or `ff...` for vectors."""
    return "f" * param.size if param.kind == "vector" else _TYPE_TAGS[param.kind]


def _per_value(param: Param, item: Any) -> list:
    """One entry per value in the type tag (RANGE, UNIT and CLIPMODE have one for each)."""
    return [item] * len(type_tag(param))


def _clipmode(param: Param) -> str:
    low, high = param.min is not None, param.max is not None
    return {(True, True): "both", (True, False): "low", (False, True): "high"}.get((low, high), "none")


def json_value(param: Param, value: Any) -> list:
    """VALUE is always an array: one JSON value per type tag."""
    return [float(v) for v in value] if param.kind == "vector" else [value]


def method_node(param: Param, value: Any) -> dict[str, Any]:
    """The proposal's description of one parameter (an OSC method) holding `value`.

    Parameters are read-write (ACCESS 3); actions (`Param.action`: recall a preset, tap a tempo) are
    write-only (ACCESS 2) and have no VALUE, since what reads back is never what was sent.
    """
    node: dict[str, Any] = {
        "FULL_PATH": param.osc_address,
        "TYPE": type_tag(param),
        "ACCESS": 2 if param.action else 3,
    }
    if not param.action:
        node["VALUE"] = json_value(param, value)
    node["DESCRIPTION"] = param.description
    if param.kind == "enum":
        node["RANGE"] = [{"VALS": list(param.choices)}]
    elif param.kind in ("float", "int", "vector") and (param.min is not None or param.max is not None):
        bounds = {key: limit for key, limit in (("MIN", param.min), ("MAX", param.max)) if limit is not None}
        node["RANGE"] = _per_value(param, bounds)
        node["CLIPMODE"] = _per_value(param, _clipmode(param))
    if param.unit:
        node["UNIT"] = _per_value(param, param.unit)
    if param.group:
        node["TAGS"] = [param.group]  # the registry's group: clients (the browser page) group controls by it
    return node


def osc_message(param: Param, value: Any) -> bytes:
    """`value` as the binary OSC message a listening client gets, typed as `type_tag(param)` says."""
    builder = OscMessageBuilder(address=param.osc_address)
    if param.kind == "vector":
        for v in value:
            builder.add_arg(float(v), OscMessageBuilder.ARG_TYPE_FLOAT)
    elif param.kind == "float":
        builder.add_arg(float(value), OscMessageBuilder.ARG_TYPE_FLOAT)
    elif param.kind == "int":
        builder.add_arg(int(value), OscMessageBuilder.ARG_TYPE_INT)
    elif param.kind == "bool":
        builder.add_arg(bool(value))  # T or F: booleans travel in the type tag
    else:
        builder.add_arg(str(value), OscMessageBuilder.ARG_TYPE_STRING)
    return builder.build().dgram


class _QuietLogger(logging.LoggerAdapter):
    """websockets reports every connection and request at INFO; a show's log should only carry problems."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(logging.DEBUG if level == logging.INFO else level, msg, *args, **kwargs)


class _Client:
    """One websocket client: the addresses it listens to, and what it was last told of the status."""

    def __init__(self) -> None:
        self.listening: set[str] = set()
        self.handled = 0  # its OSC messages handled so far: a pushed status says how many it reflects
        self.wants_status = False
        self.told: tuple[Any, int] | None = None  # (status, handled) last pushed to it


class _Node:
    """A point of the OSC address space: a container, a parameter, or (in principle) both."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.param: Param | None = None
        self.children: dict[str, _Node] = {}

    def to_json(self, value_of: Callable[[str], Any]) -> dict[str, Any]:
        node = method_node(self.param, value_of(self.param.name)) if self.param else {"FULL_PATH": self.path}
        if not self.param:
            node["ACCESS"] = 0
        if self.path == "/":
            node["DESCRIPTION"] = "vjengine: every parameter of the render engine"
        if self.children:
            node["CONTENTS"] = {name: child.to_json(value_of) for name, child in self.children.items()}
        return node


def build_tree(params: dict[str, Param]) -> dict[str, _Node]:
    """The address space of `params` as nested nodes, each by its full path (`/` is the root)."""
    root = _Node("/")
    nodes = {"/": root}
    for param in params.values():
        node = root
        for segment in param.osc_address.strip("/").split("/"):
            path = node.path.rstrip("/") + "/" + segment
            node = node.children.setdefault(segment, _Node(path))
            nodes[path] = node
        node.param = param
    return nodes


class OSCQueryServer:
    """Serves the OSCQuery tree of `store` on `host:port` (HTTP and websocket), on its own thread.

    `osc_port` (and `osc_host`, if OSC listens elsewhere) is where clients send values: it goes into
    HOST_INFO and the `_osc._udp` announcement. `port=0` picks a free port (read `port` after `start`).
    `access` is the run's access rule (its pages are the browsers let in); `guarded` asks another machine
    for the run's token (`--remote`), unguarded it is served as OSC over UDP is (`[osc] host`).
    """

    def __init__(
        self,
        store: ParamStore,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        osc_port: int = 9000,
        name: str = "vjengine",
        osc_host: str | None = None,
        mdns: bool = True,
        actions: Actions | None = None,
        access: WebAccess | None = None,
        guarded: bool = False,
    ) -> None:
        self.store = store
        self.actions = actions
        self._actions = {action.address for action in actions.declared} if actions is not None else set()
        self.access = access or WebAccess()
        self.guarded = guarded
        self.host = host
        self.requested_port = port
        self.osc_port = osc_port
        self.osc_host = osc_host
        self.name = name
        self.mdns = mdns
        self._nodes = build_tree(store.params)
        self._by_address = {p.osc_address: p for p in store.params.values()}
        self._clients: dict[ServerConnection, _Client] = {}
        self._status: Callable[[], dict[str, Any]] | None = None
        self._status_due: asyncio.Event | None = None
        self._pending: dict[str, Any] = {}
        self._pending_lock = threading.Lock()
        self._last_flush = float("-inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._bound_port: int | None = None
        self._zeroconf: Any = None
        # The name announced over mDNS, never the host's own: a client that connects by it sends it as Host.
        self._mdns_name = f"{_label(name)}-{_label(socket.gethostname())}.local"

    @property
    def port(self) -> int:
        """The bound port (the requested one, or the one the system chose for 0)."""
        return self._bound_port if self._bound_port is not None else self.requested_port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in _WILDCARD_HOSTS else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        """Bind and serve on a daemon thread; OSCQueryError when the port cannot be had."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failure), name="oscquery", daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT_S):
            raise OSCQueryError(f"the OSCQuery server on {self.host}:{self.requested_port} did not start in time")
        if failure:
            self._thread.join(STOP_TIMEOUT_S)
            raise OSCQueryError(self._why_not(failure[0])) from None
        self.store.add_listener(self._changed)

    def _why_not(self, exc: BaseException) -> str:
        if getattr(exc, "errno", None) in _PORT_IN_USE:
            return (
                f"OSCQuery port {self.requested_port} is in use (by another program, or another vjengine) — "
                "start with --oscquery-port N"
            )
        return f"cannot serve OSCQuery on {self.host}:{self.requested_port} ({_reason(exc)}); choose --oscquery-port N"

    def publish_status(self, status: Callable[[], dict[str, Any]]) -> None:
        """Push `status()` (JSON-able) to every client that asks for it (`STATUS_COMMAND`), when it changes."""
        self._status = status

    def close(self) -> None:
        """Stop serving, say goodbye on mDNS, release the port; returns within a few seconds at most."""
        with contextlib.suppress(ValueError):
            self.store.remove_listener(self._changed)
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            self._thread = None

    # --- the server's own thread and loop ---

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            asyncio.run(self._serve(ready))
        except BaseException as exc:
            if ready.is_set():
                log.warning("the OSCQuery server stopped: %s", _reason(exc))
            else:
                failure.append(exc)  # start() raises it as one line
        finally:
            self._loop = None
            ready.set()

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._status_due = asyncio.Event()
        async with serve(
            self._session,
            self.host,
            self.requested_port,
            process_request=self._http,
            close_timeout=1.0,
            server_header="vjengine",
            logger=_QuietLogger(log.getChild("websockets"), {}),
        ) as server:
            self._bound_port = server.sockets[0].getsockname()[1]
            ready.set()
            advertising = asyncio.create_task(self._advertise()) if self.mdns else None
            pushing = asyncio.create_task(self._push_status())
            await self._stop.wait()
            pushing.cancel()
            if advertising is not None:
                advertising.cancel()
                await self._withdraw()

    # --- HTTP: the JSON tree ---

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        peer = str(connection.remote_address[0])
        asked = WebRequest(peer, request.path, request.headers.get_all("Host"), request.headers.get_all("Origin"))
        if refused := self.access.refusal(asked, "OSCQuery", self.host, [self._mdns_name], self.guarded):
            return connection.respond(HTTPStatus.FORBIDDEN, refused)  # the websocket too
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None  # go on with the websocket handshake
        status, body = self.answer(request.path)
        response = connection.respond(status, "" if body is None else body)
        if body is not None and status == HTTPStatus.OK:
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
        if origin := request.headers.get("Origin"):  # the engine's own page, on the preview's port
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    def answer(self, target: str) -> tuple[HTTPStatus, str | None]:
        """The HTTP status and body for a request target such as `/vj/truncation/psi?VALUE`."""
        parts = urlsplit(target)
        path = unquote(parts.path).rstrip("/") or "/"
        attribute = without_token(parts.query).split("&")[0].split("=")[0].upper()
        if attribute == "HOST_INFO":
            return HTTPStatus.OK, json.dumps(self.host_info())
        node = self._nodes.get(path)
        if node is None:
            return HTTPStatus.NOT_FOUND, f"no OSC node at {path}; the parameters are under {PREFIX}"
        description = node.to_json(self.store.get)
        if not attribute:
            return HTTPStatus.OK, json.dumps(description)
        if attribute not in NODE_ATTRIBUTES:
            return HTTPStatus.BAD_REQUEST, f"attribute {attribute} is not supported; ask for one of " + ", ".join(
                NODE_ATTRIBUTES
            )
        if attribute not in description:
            return HTTPStatus.NO_CONTENT, None
        return HTTPStatus.OK, json.dumps({attribute: description[attribute]})

    def host_info(self) -> dict[str, Any]:
        """HOST_INFO: who we are, where OSC goes, which optional parts of the proposal we support."""
        info: dict[str, Any] = {
            "NAME": self.name,
            "EXTENSIONS": dict(EXTENSIONS),
            "OSC_PORT": self.osc_port,
            "OSC_TRANSPORT": "UDP",
            "WS_PORT": self.port,
        }
        # Left out, an IP means "the address you reached this server at", the right answer for wildcards.
        if self.osc_host and self.osc_host not in _WILDCARD_HOSTS:
            info["OSC_IP"] = self.osc_host
        if self.host not in _WILDCARD_HOSTS:
            info["WS_IP"] = self.host
        return info

    # --- websocket: LISTEN / IGNORE, values both ways ---

    async def _session(self, connection: ServerConnection) -> None:
        client = _Client()
        self._clients[connection] = client
        try:
            async for message in connection:
                if isinstance(message, str):
                    self._command(message, client)
                else:
                    self._osc_in(message)
                    client.handled += 1
                    if client.wants_status:
                        self._status_due.set()  # a stored preset, MIDI learn: the page sees it at once
        except ConnectionClosed:
            pass
        finally:
            self._clients.pop(connection, None)

    def _command(self, text: str, client: _Client) -> None:
        try:
            command = json.loads(text)
            verb, address = command["COMMAND"], command.get("DATA")
        except (ValueError, TypeError, KeyError):
            log.debug("OSCQuery: ignored a websocket text that is not a command: %.200s", text)
            return
        if verb == "LISTEN" and address in self._by_address and not self._by_address[address].action:
            client.listening.add(address)  # an action has no value to stream: it is write-only
        elif verb == "IGNORE":
            client.listening.discard(address)
        elif verb == STATUS_COMMAND:
            client.wants_status = True
            self._status_due.set()
        else:
            log.debug("OSCQuery: ignored websocket command %s %s", verb, address)

    def _osc_in(self, data: bytes) -> None:
        """OSC sent over the websocket sets parameters, as if it had come over UDP."""
        try:
            messages = [m.message for m in osc_packet.OscPacket(data).messages]
        except Exception as exc:  # python-osc raises more than ParseError on malformed packets
            log.debug("OSCQuery: dropped a malformed OSC packet from a websocket: %s", exc)
            return
        for message in messages:
            if message.address in self._actions:  # the page's pads and keys: the same actions as over UDP
                self.actions.invoke(message.address, tuple(message.params), source="oscquery")
                continue
            param = self._by_address.get(message.address)
            if param is None:
                log.debug("OSCQuery: no parameter at %s", message.address)
                continue
            try:
                self.store.set(param.name, osc_value(param, tuple(message.params)), source="oscquery")
            except ParamError as exc:
                log.debug("OSCQuery: %s", exc)

    def _changed(self, name: str, value: Any, source: str) -> None:
        """Store listener, on the writer's thread: note the newest value and wake the loop once."""
        loop = self._loop
        if loop is None:
            return
        with self._pending_lock:
            wake = not self._pending
            self._pending[name] = value  # a burst of changes to one address sends only the newest
        if wake:
            with contextlib.suppress(RuntimeError):  # closing: the loop is gone
                loop.call_soon_threadsafe(self._schedule_flush)

    def _schedule_flush(self) -> None:
        # The first change after a quiet spell goes out at once; a stream of them at most UPDATE_RATE times a second.
        loop = asyncio.get_running_loop()
        loop.call_later(max(0.0, self._last_flush + 1.0 / UPDATE_RATE - loop.time()), self._flush)

    def _flush(self) -> None:
        self._last_flush = asyncio.get_running_loop().time()
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        for name, value in pending.items():
            param = self.store.params[name]
            targets = [c for c, client in self._clients.items() if param.osc_address in client.listening]
            if targets:
                broadcast(targets, osc_message(param, value))  # never waits: slow clients buffer their own

    # --- the page's status, pushed ---

    async def _push_status(self) -> None:
        """Twice a second, and at once when a client asks or sends something, push a changed status."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_due.wait(), 1.0 / STATUS_RATE)
            self._status_due.clear()
            watchers = {c: client for c, client in self._clients.items() if client.wants_status}
            if not watchers or self._status is None:
                continue
            handled = {c: client.handled for c, client in watchers.items()}  # read before: the status reflects them
            status = await asyncio.to_thread(self._read_status, self._status)
            for connection, client in watchers.items():
                told = (status, handled[connection])
                if client.told != told:
                    client.told = told
                    text = json.dumps({"COMMAND": STATUS_COMMAND, "DATA": status, "HANDLED": told[1]})
                    broadcast([connection], text)  # never waits: a slow client buffers its own

    @staticmethod
    def _read_status(status: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return status()
        except Exception as exc:  # the status line is a convenience: it must never stop the pushes
            log.debug("OSCQuery: the page's status failed: %s", exc)
            return {"error": str(exc)}

    # --- mDNS ---

    async def _advertise(self) -> None:
        try:
            from zeroconf import IPVersion
            from zeroconf.asyncio import AsyncZeroconf

            self._zeroconf = AsyncZeroconf(ip_version=IPVersion.V4Only)
            for info in self._service_infos():
                await self._zeroconf.async_register_service(info, allow_name_change=True)
            log.info("OSCQuery announced over mDNS as %r", self.name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # no multicast here (containers, some VPNs): discovery is a convenience
            log.debug("OSCQuery: mDNS announcement skipped: %s", exc)

    def _service_infos(self) -> list:
        from zeroconf import ServiceInfo

        addresses = _advertised_addresses(self.host)
        if not addresses:
            raise OSError("no network address to announce")
        server = self._mdns_name + "."  # never claim the host's own name
        osc_addresses = [self.osc_host] if self.osc_host and self.osc_host not in _WILDCARD_HOSTS else addresses
        return [
            ServiceInfo(OSCJSON_SERVICE, f"{self.name}.{OSCJSON_SERVICE}", port=self.port,
                        parsed_addresses=addresses, server=server),
            ServiceInfo(OSC_SERVICE, f"{self.name}.{OSC_SERVICE}", port=self.osc_port,
                        parsed_addresses=osc_addresses, server=server),
        ]  # fmt: skip

    async def _withdraw(self) -> None:
        zeroconf, self._zeroconf = self._zeroconf, None
        if zeroconf is None:
            return
        try:
            await asyncio.wait_for(zeroconf.async_close(), MDNS_CLOSE_TIMEOUT_S)  # sends goodbyes, then closes
        except Exception as exc:
            log.debug("OSCQuery: mDNS goodbye failed: %s", exc)


def _advertised_addresses(host: str) -> list[str]:
    if host not in _WILDCARD_HOSTS:
        return [host]
    import ifaddr

    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ipaddress.ip_address(ip.ip).is_loopback:
                found.append(ip.ip)
    return found


def _label(text: str) -> str:
    """A DNS label from free text."""
    cleaned = "".join(c if c.isalnum() else "-" for c in text.split(".")[0]).strip("-")
    return cleaned[:40] or "vjengine"


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


__all__ = [
    "DEFAULT_PORT", "STATUS_COMMAND", "OSCQueryError", "OSCQueryServer", "build_tree", "method_node", "osc_message",
    "type_tag",
]  # fmt: skip
