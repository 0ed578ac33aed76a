"""The browser control surface: every parameter, the live picture, preset pads and MIDI learn in one page.

The page is served at the preview's address (`/`) beside its MJPEG stream, and is a plain OSCQuery client
of the engine's own OSCQuery server: it builds one control per node of the tree (so per registry
parameter, grouped by the registry's groups, which the tree carries as TAGS), LISTENs to every value over
the websocket and sends values as binary OSC. Whatever moves a parameter (OSC, MIDI, a preset, another
page) moves the page's control, and any other OSCQuery client sees the same thing.

Only what OSCQuery does not carry is served here: `/status.json` (fps, model, source, outputs, tracking,
MIDI, the stored preset slots) for the status line and the pads. The page is three files in `webpage/`
(HTML, CSS, JavaScript) served as one document, so a `--remote` page needs its token on one address only;
no build step and no library: the DOM and WebSocket APIs, and a 60-line OSC codec, are all it needs.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable
from importlib import resources
from typing import Any, Protocol

from vjengine.webaccess import WebAccess, lan_addresses

log = logging.getLogger(__name__)

STATUS_PATH = "/status.json"


def _asset(name: str) -> str:
    return resources.files("vjengine.control").joinpath("webpage", name).read_text(encoding="utf-8")


def page_html(oscquery_port: int, name: str = "vjengine") -> str:
    """The whole page: the HTML with its style and script inlined, told where OSCQuery answers."""
    return (
        _asset("index.html")
        .replace("/*{{STYLE}}*/", _asset("page.css"))
        .replace("/*{{SCRIPT}}*/", _asset("page.js"))
        .replace("{{OSCQUERY_PORT}}", str(int(oscquery_port)))
        .replace("{{NAME}}", html.escape(name))
    )


class ControlPage:
    """Answers the page's paths for a preview (`PreviewSink.serve_site`); every other path is the preview's.

    `oscquery_port` is where the page finds the tree and the websocket (0: OSCQuery is off, the page says so
    and shows only the picture); `status` returns the status line's fields as a JSON-able dict.
    """

    def __init__(self, oscquery_port: int, status: Callable[[], dict[str, Any]], name: str = "vjengine") -> None:
        self.status = status
        # Built once: the page is the same for every request, and a missing file should fail at start.
        self._page = page_html(oscquery_port, name).encode("utf-8")

    def __call__(self, path: str) -> tuple[int, str, bytes] | None:
        """(status, content type, body) for one of the page's paths, None for any other."""
        if path in ("/", "/index.html"):
            return 200, "text/html; charset=utf-8", self._page
        if path == STATUS_PATH:
            return 200, "application/json", json.dumps(self._status()).encode("utf-8")
        return None

    def _status(self) -> dict[str, Any]:
        try:
            return self.status()
        except Exception as exc:  # the status line is a convenience: it must never break the page
            log.debug("the page's status failed: %s", exc)
            return {"error": str(exc)}


class Site(Protocol):
    """A server the page can be served on (a preview): its port, and where to hand the page."""

    port: int

    def serve_site(self, site: Callable[[str], tuple[int, str, bytes] | None]) -> None: ...


def serve_page(
    previews: list[Site], oscquery_port: int, status: Callable[[], dict[str, Any]], access: WebAccess
) -> None:
    """Serve the control page on every preview, and log where to open it (with `--remote`, from other devices)."""
    if not previews:
        return
    page = ControlPage(oscquery_port, status)
    for preview in previews:
        preview.serve_site(page)
    port = previews[0].port
    log.info("control page at http://127.0.0.1:%d/", port)
    if not access.remote:
        return
    links = [access.link(address, port) for address in lan_addresses()]
    if links:
        log.info("control page for other devices (keep the token to yourself): %s", " or ".join(links))
    else:
        log.warning("--remote: this machine has no network address besides 127.0.0.1; no other device can reach it")


__all__ = ["ControlPage", "serve_page"]
