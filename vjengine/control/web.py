"""The browser control surface: every parameter, the live picture, preset pads and MIDI learn in one page.

The page is served at the preview's address (`/`) beside its MJPEG stream, and is a plain OSCQuery client
of the engine's own OSCQuery server: it builds one control per node of the tree (so per registry
parameter, grouped by the registry's groups, which the tree carries as TAGS), LISTENs to every value over
the websocket and sends values as binary OSC. Whatever moves a parameter (OSC, MIDI, a preset, another
page) moves the page's control, and any other OSCQuery client sees the same thing.

What OSCQuery does not carry (fps, model, source, outputs, tracking, MIDI, the stored preset slots) is
pushed over the same websocket (`OSCQueryServer.publish_status`): one connection per page, nothing polled.
When the controls cannot work (OSCQuery's port was taken, or it is off) the page says so above the picture,
and the log says so where it names the page. The page is three files in `webpage/` (HTML, CSS,
JavaScript) served as one document, so a `--remote` page needs its token on one address only; no build
step and no library: the DOM and WebSocket APIs, and a 60-line OSC codec, are all it needs.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any, Protocol

from vjengine.control.oscquery import OSCQueryServer
from vjengine.webaccess import WebAccess, lan_addresses

log = logging.getLogger(__name__)

OSCQUERY = "OSCQuery"  # the surface the page needs, as `open_controls` names it among those that are off


def _asset(name: str) -> str:
    return resources.files("vjengine.control").joinpath("webpage", name).read_text(encoding="utf-8")


def page_html(oscquery_port: int, notice: str = "", name: str = "vjengine") -> str:
    """The whole page: the HTML with its style and script inlined, told where OSCQuery answers (0: nowhere)
    and what to say above the picture (`notice`: why controls are missing; "" when all is well)."""
    return (
        _asset("index.html")
        .replace("/*{{STYLE}}*/", _asset("page.css"))
        .replace("/*{{SCRIPT}}*/", _asset("page.js"))
        .replace("{{OSCQUERY_PORT}}", str(int(oscquery_port)))
        .replace("{{NOTICE}}", html.escape(notice))
        .replace("{{NAME}}", html.escape(name))
    )


def controls_notice(oscquery: OSCQueryServer | None, off: Mapping[str, Exception]) -> str:
    """Why the page's controls are missing or reach less than they should ("" when every surface is up).

    `off` holds the surfaces that could not start ("OSCQuery", "OSC in", "MIDI" ...), each with its one-line
    error, which says what to pass instead; OSCQuery None without an error is OSCQuery turned off (port 0)."""
    parts = []
    if OSCQUERY in off:
        parts.append(f"controls unavailable: {off[OSCQUERY]}")
    elif oscquery is None:
        parts.append("controls off: OSCQuery is off (--oscquery-port 0), so only the picture is shown")
    parts += [f"{what} is off: {why}" for what, why in off.items() if what != OSCQUERY]
    return "; ".join(parts)


class Preview(Protocol):
    """Where the page is served (a preview): its port, and a document to show at `/`."""

    port: int

    def show_page(self, html: bytes) -> None: ...


def serve_page(
    previews: list[Preview],
    oscquery: OSCQueryServer | None,
    status: Callable[[], dict[str, Any]],
    access: WebAccess,
    off: Mapping[str, Exception] | None = None,
) -> None:
    """Serve the control page on every preview, push `status` to it, and log where to open it (with
    `--remote`, from other devices), or, when its controls cannot work (`off`: surfaces that could not
    start), what the page shows instead."""
    if not previews:
        return
    notice = controls_notice(oscquery, off or {})
    page = page_html(oscquery.port if oscquery is not None else 0, notice).encode("utf-8")
    for preview in previews:
        preview.show_page(page)
    if oscquery is not None:
        oscquery.publish_status(status)
    port = previews[0].port
    if notice:
        log.warning("control page at http://127.0.0.1:%d/ says: %s", port, notice)
    else:
        log.info("control page at http://127.0.0.1:%d/", port)
    if not access.remote:
        return
    links = [access.link(address, port) for address in lan_addresses()]
    if links:
        log.info("control page for other devices (keep the token to yourself): %s", " or ".join(links))
    else:
        log.warning("--remote: this machine has no network address besides 127.0.0.1; no other device can reach it")


__all__ = ["controls_notice", "page_html", "serve_page"]
