"""A browser preview: the output as MJPEG over HTTP on 127.0.0.1 (or the network, with a token: webaccess).

It serves three paths: `/` a page (a bare picture, or the control page a run puts there with `show_page`),
`/stream` (MJPEG) and `/frame.jpg`. Its port is one of the run's own pages (`WebAccess.add_page`), the only
origin OSCQuery lets a browser in from; every request goes through the run's one check (`WebAccess.refusal`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from vjengine.errors import VJError
from vjengine.kit import Newest
from vjengine.outputs.base import Sink, missing_module
from vjengine.webaccess import WebAccess, WebRequest, token_in

log = logging.getLogger(__name__)

DEFAULT_PORT = 8080
DEFAULT_TRIES = 10  # plain `preview` moves on to 8081 ... 8089 when 8080 is taken (e.g. a second engine)
JPEG_QUALITY = 80
BOUNDARY = "frame"
_PORT_IN_USE = {errno.EADDRINUSE, 10048}  # 10048: WSAEADDRINUSE, what Windows sockets report

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>vjengine preview</title>
<style>html,body{{margin:0;height:100%;background:#000}}img{{width:100%;height:100%;object-fit:contain}}</style>
</head><body><img src="{stream}" alt="vjengine output"></body></html>
"""


class _Feed:
    """The newest JPEG (a kit Newest), shared between the sink thread that encodes and the HTTP threads that
    serve it, and the streaming clients' connections, cut on close."""

    def __init__(self) -> None:
        self.jpegs: Newest[bytes] = Newest()
        self.lock = threading.Lock()
        self._clients: set[socket.socket] = set()

    @property
    def jpeg(self) -> bytes | None:
        return self.jpegs.get()

    def publish(self, jpeg: bytes) -> None:
        self.jpegs.put(jpeg)

    def next_after(self, serial: int) -> tuple[int, bytes] | None:
        """Wait for a JPEG newer than `serial`; None once the feed is closed."""
        return self.jpegs.wait_newer(serial)

    def add_client(self, sock: socket.socket) -> None:
        with self.lock:
            self._clients.add(sock)

    def remove_client(self, sock: socket.socket) -> None:
        with self.lock:
            self._clients.discard(sock)

    def close(self) -> None:
        """Wake every streaming handler and cut its connection, so none of them hangs on a slow client."""
        self.jpegs.close()
        with self.lock:
            clients = list(self._clients)
        for sock in clients:
            with contextlib.suppress(OSError):  # the client may already be gone
                sock.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # streaming handlers are cut off by _Feed.close; never wait on them
    allow_reuse_address = os.name != "nt"  # on Windows SO_REUSEADDR would let two servers share the port

    def __init__(self, port: int, feed: _Feed, access: WebAccess) -> None:
        self.feed = feed
        self.access = access
        self.page: bytes | None = None  # the document at `/`; None: the bare picture
        super().__init__((access.host, port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        request = WebRequest(
            self.client_address[0], self.path, self.headers.get_all("Host", []), self.headers.get_all("Origin", [])
        )
        access = self.server.access
        if refused := access.refusal(request, "preview", access.host):
            self._send(403, "text/plain; charset=utf-8", refused.encode())
            return
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(200, "text/html; charset=utf-8", self.server.page or self._picture_page())
        elif path == "/frame.jpg":
            self._send_latest()
        elif path == "/stream":
            self._stream()
        else:
            self._send(404, "text/plain", b"not found: try / or /stream or /frame.jpg\n")

    def _picture_page(self) -> bytes:
        token = token_in(self.path)
        stream = f"/stream?token={token}" if token else "/stream"
        return _PAGE.format(stream=stream).encode()

    def _send_latest(self) -> None:
        jpeg = self.server.feed.jpeg
        if jpeg is None:
            self._send(503, "text/plain", b"no frame yet\n")
        else:
            self._send(200, "image/jpeg", jpeg)

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self) -> None:
        feed = self.server.feed
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        feed.add_client(self.connection)
        try:
            serial = 0
            while (latest := feed.next_after(serial)) is not None:
                serial, jpeg = latest
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                self.wfile.write(head.encode() + jpeg + b"\r\n")
        except OSError:
            pass  # the viewer closed the tab, or close() cut the connection
        finally:
            feed.remove_client(self.connection)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's signature
        log.debug("preview %s: " + format, self.address_string(), *args)


class PreviewSink(Sink):
    """`preview[:PORT]`: the latest frame as JPEG for any number of browsers; slow viewers only skip frames."""

    kind = "preview"
    usage = "preview[:PORT]"
    description = (
        f"preview[:PORT] - watch the output in a browser at http://127.0.0.1:PORT/ (MJPEG; default port "
        f"{DEFAULT_PORT}, or the next free one up to {DEFAULT_PORT + DEFAULT_TRIES - 1}; 0 picks any free one)"
    )
    live = True

    def __init__(self, name: str, port: int | None = None, access: WebAccess | None = None) -> None:
        """`port` None: DEFAULT_PORT, or the next free port after it; a port given is that port or an error.

        `access` says who may watch (default: this machine only)."""
        if why := _missing_cv2():
            raise VJError(f"cannot start {name}: {why}")
        self._feed = _Feed()
        self._access = access = access or WebAccess()
        self._server = _bind(port, self._feed, access) if port is not None else _bind_default(self._feed, access)
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        access.add_page(self.port)  # OSCQuery trusts this page's origin
        self._serving = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"{name} http", daemon=True
        )
        self._serving.start()
        # Named by the port it got ("preview" or "preview:0" asked for any), as the status line shows it.
        options = name.partition("?")[2]
        super().__init__(f"{self.kind}:{self.port}" + (f"?{options}" if options else ""))
        moved = f" ({DEFAULT_PORT} was in use)" if port is None and self.port != DEFAULT_PORT else ""
        log.info("preview at %s%s", self.url, moved)

    @classmethod
    def from_spec(cls, arg: str | None, name: str, fps: float, access: WebAccess | None = None) -> Sink:
        return cls(name, _parse_port(arg), access)

    def show_page(self, html: bytes) -> None:
        """Serve `html` (the control page) at `/` instead of the bare picture."""
        self._server.page = html

    @classmethod
    def availability(cls) -> str:
        return _missing_cv2() or "available"

    def _write(self, frame: np.ndarray) -> None:
        import cv2

        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError("OpenCV could not encode the frame as JPEG")
        self._feed.publish(jpeg.tobytes())

    def _close(self) -> None:
        self._access.remove_page(self.port)
        self._feed.close()
        self._server.shutdown()  # returns once serve_forever has stopped (within its poll interval)
        self._server.server_close()
        self._serving.join()


def _bind_default(feed: _Feed, access: WebAccess) -> _Server:
    last = DEFAULT_PORT + DEFAULT_TRIES - 1
    for port in range(DEFAULT_PORT, last + 1):
        with contextlib.suppress(VJError):
            return _bind(port, feed, access)
    raise VJError(f"ports {DEFAULT_PORT}-{last} are all in use; pass preview:PORT with another port (0 = any)")


def _bind(port: int, feed: _Feed, access: WebAccess) -> _Server:
    try:
        return _Server(port, feed, access)
    except OSError as exc:
        if exc.errno in _PORT_IN_USE:
            raise VJError(f"port {port} is in use; pass preview:PORT with another port") from None
        raise VJError(f"cannot serve the preview on port {port}: {exc.strerror or exc}; try preview:PORT") from None


def _parse_port(arg: str | None) -> int | None:
    if arg is None or arg == "":
        return None
    try:
        port = int(arg)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise VJError(f"bad preview port {arg!r}: use preview:PORT with PORT from 0 (any free port) to 65535")
    return port


def _missing_cv2() -> str | None:
    return missing_module("cv2", "the preview needs OpenCV: pip install opencv-python")
