"""Who may use the engine's web servers: the browser page and preview, and OSCQuery's HTTP and websocket.

By default everything listens on 127.0.0.1 and answers only this machine. `--remote` (`[web] remote = true`)
opens the page to the network for a phone or a second laptop, guarded by a random token made at start and
printed in the log: a request from another machine is answered only when its address carries `token=...`,
so nothing, not even the picture, reaches someone who merely found the port.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import parse_qs, urlsplit

LOCAL_HOST = "127.0.0.1"
ANY_HOST = "0.0.0.0"
TOKEN_KEY = "token"
TOKEN_BYTES = 16  # 128 random bits: not guessable over a network, still short enough to type from a log


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


class WebAccess:
    """The access rule every web server of one run applies: this machine always, others only with the token."""

    def __init__(self, remote: bool = False, token: str | None = None) -> None:
        self.remote = remote
        self.token = (token or secrets.token_urlsafe(TOKEN_BYTES)) if remote else ""

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

    def refusal(self) -> str:
        """The one line a refused request gets: what to do, never the token."""
        if self.remote:
            return "this vjengine page needs its access token: open the address with ?token=... printed in its log\n"
        return "this vjengine serves this machine only; start it with --remote to open it to the network\n"

    def link(self, host: str, port: int, path: str = "/") -> str:
        """The address to open from another machine: `http://HOST:PORT/PATH?token=...`."""
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}{path}?{TOKEN_KEY}={self.token}" if self.remote else f"http://{host}:{port}{path}"


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback, where other devices can reach a `remote` page."""
    import ifaddr

    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not is_loopback(ip.ip) and not ip.ip.startswith("169.254."):
                found.append(ip.ip)
    return found


__all__ = ["ANY_HOST", "LOCAL_HOST", "WebAccess", "is_loopback", "lan_addresses", "token_in", "without_token"]
