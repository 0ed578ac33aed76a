"""Who may use the engine's web servers: the browser page and preview, and OSCQuery's HTTP and websocket.

By default everything listens on 127.0.0.1 and answers only this machine. `--remote` (`[web] remote = true`)
opens the page to the network for a phone or a second laptop, guarded by a random token made at start and
printed in the log: a request from another machine is answered only when its address carries `token=...`,
so nothing, not even the picture, reaches someone who merely found the port.

Two more rules keep other web sites out, since any page open in the performer's browser can send requests
to 127.0.0.1: a request's `Host` must name this machine (so a site whose name a DNS rebinding points at
127.0.0.1 gets nothing), and a request carrying an `Origin` (a browser's) must come from one of the engine's
own pages, the ports its previews serve (`WebAccess.add_page`). Programs that send no Origin (OSCQuery apps) pass.

`WebAccess.refusal` is the one place these rules are applied: the preview (which serves the control page)
and OSCQuery (HTTP and websocket) hand it each request and answer 403 with what it says; a refused origin
or host is said in the log once per run, whichever server it knocked on.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import secrets
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from vjengine.kit import SayOnce

LOCAL_HOST = "127.0.0.1"
ANY_HOST = "0.0.0.0"
TOKEN_KEY = "token"
TOKEN_BYTES = 16  # 128 random bits: not guessable over a network, still short enough to type from a log
WILDCARD_HOSTS = ("", "0.0.0.0", "::")
REFUSALS_LOGGED = 32  # distinct origins or hosts said in the log; past that a misbehaving page only gets 403s

log = logging.getLogger(__name__)


def is_loopback(address: str) -> bool:
    """Whether `address` (a peer's or a listening host) is this machine itself (127.x, ::1, ::ffff:127.x)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address == "localhost"
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def token_in(target: str) -> str:
    """The `token=` value of a request target such as `/stream?token=abc` ("" when there is none)."""
    values = parse_qs(urlsplit(target).query).get(TOKEN_KEY)
    return values[0] if values else ""


def without_token(query: str) -> str:
    """A query string with its `token=` item left out (the rest keeps its meaning, e.g. OSCQuery's `?VALUE`)."""
    return "&".join(item for item in query.split("&") if item and item.split("=")[0].lower() != TOKEN_KEY)


@dataclass(frozen=True)
class WebRequest:
    """What the access rules read of one HTTP request (a websocket's opening one too)."""

    peer: str  # the client's IP address
    target: str  # path and query, e.g. `/stream?token=abc`
    hosts: list[str]  # every `Host` header it sent
    origins: list[str]  # every `Origin` header it sent (a browser's; none from an OSCQuery app)


class WebAccess:
    """The access rule every web server of one run applies: this machine always, others only with the token;
    browsers only from the run's own pages, and only for this machine's names (`refusal`)."""

    def __init__(self, remote: bool = False, token: str | None = None) -> None:
        self.remote = remote
        self.token = (token or secrets.token_urlsafe(TOKEN_BYTES)) if remote else ""
        self._pages: set[int] = set()  # ports of this machine where the run serves its own pages (previews)
        self._lock = threading.Lock()
        self._refusals = Refusals(log)

    @property
    def host(self) -> str:
        """Where the page's servers listen: every network with `remote`, else this machine only."""
        return ANY_HOST if self.remote else LOCAL_HOST

    def allows(self, peer: str, target: str) -> bool:
        """Whether a request from `peer` (its IP address) for `target` (path and query) may be answered."""
        if is_loopback(peer):
            return True
        # compare_digest: the time taken does not tell a guesser how much of the token was right.
        return self.remote and hmac.compare_digest(token_in(target).encode(), self.token.encode())

    def add_page(self, port: int) -> None:
        """Note that the run serves its own page on `port` (of this machine): browsers showing it are trusted."""
        with self._lock:
            self._pages.add(port)

    def remove_page(self, port: int) -> None:
        with self._lock:
            self._pages.discard(port)

    def is_own_page(self, origins: list[str], listening: str, names: Iterable[str] = ()) -> bool:
        """Whether a request's `Origin` headers (all of them) are one of the run's own pages; none: not a browser's.

        An own page is `http://HOST:PORT` with a PORT where the run serves a page (`add_page`) and a HOST that
        is this machine (`is_this_machine`): 127.0.0.1, localhost, or the address a `--remote` link names.
        """
        if not origins:
            return True
        if len(origins) > 1:
            return False
        try:
            parts = urlsplit(origins[0])
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:
            return False
        with self._lock:
            own_port = port in self._pages
        host = (parts.hostname or "").rstrip(".")
        return parts.scheme in ("http", "https") and own_port and bool(host) and is_this_machine(host, listening, names)

    def refusal(
        self, request: WebRequest, server: str, listening: str, names: Iterable[str] = (), guarded: bool = True
    ) -> str | None:
        """Why `request` to `server` (listening on `listening`, also known as `names`) is refused; None: answer it.

        Every web server of the run asks this, for every request: a `Host` that is not this machine (DNS
        rebinding), an `Origin` that is not one of the run's pages (another site open in the browser), and,
        where `guarded`, a peer on another machine without the token. The reason comes back as the one line
        of a 403; a refused host or origin is also said once in the log. `guarded` False: a server the
        config opened to the network itself (OSCQuery with `[osc] host`), as open as OSC over UDP.
        """
        if not host_allowed(request.hosts, listening, names):
            host = ", ".join(request.hosts)
            self._refusals.say(
                f"host {host}", "%s refused a request for host %.100r, which is not this machine (a guard against "
                "DNS rebinding): open it by 127.0.0.1 or by this machine's address", server, host
            )  # fmt: skip
            return f"this {server} server answers only requests for its own machine's names and addresses\n"
        if not self.is_own_page(request.origins, listening, names):
            origin = ", ".join(request.origins)
            self._refusals.say(
                f"origin {origin}", "%s refused the web page at %.100r: in a browser only this engine's own control "
                "page (at the preview's address) may use it; open that page, or use an OSCQuery app", server, origin
            )  # fmt: skip
            return f"only this engine's own control page may use its {server} server from a browser\n"
        if guarded and not self.allows(request.peer, request.target):
            if self.remote:
                return "this vjengine page needs its access token: open the address with ?token=... from its log\n"
            return "this vjengine serves this machine only; start it with --remote to open it to the network\n"
        return None

    def link(self, host: str, port: int, path: str = "/") -> str:
        """The address to open from another machine: `http://HOST:PORT/PATH?token=...`."""
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}{path}?{TOKEN_KEY}={self.token}" if self.remote else f"http://{host}:{port}{path}"


def _hostname(authority: str) -> str | None:
    """The host of a `Host` header or an origin's authority (`127.0.0.1:8080`, `[::1]`), lowercase; None if bad."""
    try:
        parts = urlsplit("//" + authority)
        _ = parts.port  # a port that is not a number is a bad header
    except ValueError:
        return None
    return (parts.hostname or "").rstrip(".") or None


def is_this_machine(host: str, listening: str, names: Iterable[str] = ()) -> bool:
    """Whether `host` (a name or address, no port) reaches this machine's server listening on `listening`.

    Loopback and `localhost` always; the listening address itself; and, listening on every network, any
    address of this machine and its host name (`.local` too). `names` adds the server's own (its mDNS name).
    Any other name is what a DNS rebinding looks like: a site's name made to point at this machine.
    """
    host = host.lower().rstrip(".")
    if host == "localhost" or is_loopback(host) or host == listening.lower():
        return True
    if host in {name.lower().rstrip(".") for name in names}:
        return True
    if listening not in WILDCARD_HOSTS:
        return False
    machine = socket.gethostname().lower()
    if host in (machine, machine.split(".")[0] + ".local"):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return ip in _interface_addresses()


def host_allowed(headers: list[str], listening: str, names: Iterable[str] = ()) -> bool:
    """Whether a request's `Host` headers (all of them) name this machine; none: not a browser, nothing to rebind."""
    if not headers:
        return True
    host = _hostname(headers[0]) if len(headers) == 1 else None
    return host is not None and is_this_machine(host, listening, names)


class Refusals(SayOnce):
    """Logs each refused origin or host once (the kit's SayOnce, remembering at most REFUSALS_LOGGED): a page
    retrying every second must not flood the show's log."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, limit=REFUSALS_LOGGED)

    def say(self, key: str, message: str, *args: object) -> None:
        """Log `message % args` as a warning the first time `key` is refused, as a debug line after that."""
        self(key, message, *args)


def _interface_addresses() -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    import ifaddr

    found = set()
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            address = ip.ip if isinstance(ip.ip, str) else ip.ip[0]  # IPv6 comes as (address, flow, scope)
            with contextlib.suppress(ValueError):
                found.add(ipaddress.ip_address(address.split("%")[0]))
    return found


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback, where other devices can reach a `remote` page."""
    import ifaddr

    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not is_loopback(ip.ip) and not ip.ip.startswith("169.254."):
                found.append(ip.ip)
    return found


__all__ = [
    "ANY_HOST", "LOCAL_HOST", "WILDCARD_HOSTS", "WebAccess", "WebRequest", "host_allowed", "is_loopback",
    "is_this_machine", "lan_addresses", "token_in", "without_token",
]  # fmt: skip
