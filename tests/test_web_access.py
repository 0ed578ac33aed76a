"""Who may use the web servers (webaccess), and what OSCQuery gives the browser page: real sockets throughout.

The browser itself is in test_web_page.py; these are the rules and server parts beneath it, quick to run.
Each way in (the preview's HTTP, OSCQuery's HTTP, OSCQuery's websocket) is shown to ask the one check,
`WebAccess.refusal`, for origins, hosts and the token.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import wait_for
from vjengine.control.actions import Actions, Targets
from vjengine.control.oscquery import STATUS_COMMAND, OSCQueryError, OSCQueryServer
from vjengine.control.web import controls_notice, page_html, serve_page
from vjengine.errors import VJError
from vjengine.outputs.preview import PreviewSink
from vjengine.params import REGISTRY, default_store
from vjengine.webaccess import WebAccess, is_this_machine, lan_addresses, token_in, without_token

LAN = next(iter(lan_addresses()), None)


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.4.5.6", "::1", "::ffff:127.0.0.1"])
def test_this_machine_is_always_served(peer):
    assert WebAccess(remote=False).allows(peer, "/")
    assert WebAccess(remote=True).allows(peer, "/")


def test_another_host_is_never_served_without_remote():
    access = WebAccess(remote=False)
    assert not access.allows("192.168.1.20", "/")
    assert not access.allows("192.168.1.20", "/?token=")  # no token exists to match, not even an empty one


def test_another_host_is_served_with_the_token_only():
    access = WebAccess(remote=True, token="s3cret")
    assert access.allows("192.168.1.20", "/stream?token=s3cret")
    assert not access.allows("192.168.1.20", "/stream")
    assert not access.allows("192.168.1.20", "/stream?token=s3cre")
    assert not access.allows("::ffff:192.168.1.20", "/?token=wrong")


def test_each_run_gets_its_own_random_token():
    tokens = {WebAccess(remote=True).token for _ in range(5)}
    assert len(tokens) == 5 and all(len(token) >= 20 for token in tokens)


def test_the_token_is_read_from_the_query_and_left_out_of_the_rest():
    assert token_in("/vj/x?VALUE&token=abc") == "abc" and token_in("/") == ""
    assert without_token("token=abc&VALUE") == "VALUE"


@pytest.mark.skipif(LAN is None, reason="this machine has no network address besides 127.0.0.1")
def test_a_preview_without_remote_does_not_listen_on_the_network():
    preview = PreviewSink("preview:0", 0)
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((LAN, preview.port), timeout=30).close()
    finally:
        preview.close()


@pytest.fixture
def access():
    """The run's access rule, shared by its preview and its OSCQuery server as `vjengine run` shares it."""
    return WebAccess()


class StoringPresets:
    """Notes the presets stored, as the run's preset player would store them."""

    def __init__(self, calls: list[tuple]) -> None:
        self.calls = calls

    def store_preset(self, slot: int, name: str = "") -> None:
        self.calls.append(("store", slot, name))


@pytest.fixture
def server(access):
    calls: list[tuple] = []
    store = default_store()
    presets = StoringPresets(calls)
    actions = Actions(Targets(store, presets=presets, learn=lambda name: calls.append(("learn", name))))
    server = OSCQueryServer(store, port=0, mdns=False, actions=actions, access=access)
    server.start()
    server.calls = calls
    yield server
    server.close()


@pytest.fixture
def preview(access):
    """A real preview: its port is one of the run's own pages, the origin OSCQuery lets browsers in from."""
    sink = PreviewSink("preview:0", 0, access)
    yield sink
    sink.close()


def test_every_node_is_tagged_with_its_registry_group(server):
    for param in REGISTRY:
        status, body = server.answer(param.osc_address)
        assert json.loads(body)["TAGS"] == [param.group], param.name


def test_an_attribute_query_works_beside_the_token(server):
    status, body = server.answer("/vj/truncation/psi?token=abc&VALUE")
    assert json.loads(body) == {"VALUE": [server.store.get("truncation.psi")]}


def test_a_command_sent_over_the_websocket_runs(server):
    message = OscMessageBuilder("/vj/learn")
    message.add_arg("visual.mix")
    with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=30) as websocket:
        websocket.send(message.build().dgram)
        assert wait_for(lambda: server.calls == [("learn", "visual.mix")])


# --- the page itself, and what it says when its controls cannot work ---


def test_the_page_is_told_where_oscquery_answers_and_what_to_say():
    body = page_html(5999, 'controls unavailable: port <5999> "in use"')
    assert 'data-oscquery-port="5999"' in body and "decodeOSC" in body  # the script is inlined
    assert 'data-notice="controls unavailable: port &lt;5999&gt; &quot;in use&quot;"' in body


def test_the_page_reads_no_status_file():
    assert "status.json" not in page_html(5999) and STATUS_COMMAND in page_html(5999)


def test_a_taken_oscquery_port_says_which_and_what_to_pass(access):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = OSCQueryServer(default_store(), port=port, mdns=False, access=access)
        with pytest.raises(OSCQueryError) as error:
            server.start()
    assert str(error.value) == f"OSCQuery port {port} is in use (by another program, or another vjengine) — " + (
        "start with --oscquery-port N"
    )
    notice = controls_notice(None, {"OSCQuery": error.value})
    assert notice == f"controls unavailable: {error.value}"


def test_the_notice_names_each_surface_that_is_missing(server):
    assert controls_notice(server, {}) == ""
    assert controls_notice(None, {}).startswith("controls off: OSCQuery is off (--oscquery-port 0)")
    osc = VJError("cannot listen for OSC on 127.0.0.1:9000 (Address already in use); choose --osc-port")
    assert controls_notice(server, {"OSC in": osc}) == f"OSC in is off: {osc}"
    both = controls_notice(None, {"OSC in": osc, "OSCQuery": VJError("OSCQuery port 5678 is in use")})
    assert both == f"controls unavailable: OSCQuery port 5678 is in use; OSC in is off: {osc}"


def test_the_page_shows_its_notice_and_the_log_says_it(preview, access, caplog):
    off = {"OSCQuery": OSCQueryError("OSCQuery port 5678 is in use — start with --oscquery-port N")}
    with caplog.at_level(logging.INFO, logger="vjengine.control.web"):
        serve_page([preview], None, dict, access, off)
    status, _, body = request(preview.port, "/")
    assert status == 200 and b'data-notice="controls unavailable: OSCQuery port 5678 is in use' in body
    said = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 1 and said[0].getMessage() == (
        f"control page at http://127.0.0.1:{preview.port}/ says: controls unavailable: {off['OSCQuery']}"
    )


def test_the_preview_has_no_status_path_to_poll(preview, access, server):
    serve_page([preview], server, dict, access)
    assert request(preview.port, "/")[0] == 200
    assert request(preview.port, "/status.json")[0] == 404


# --- the status, pushed over OSCQuery's websocket to the clients that ask ---


def status_pushes(websocket, count: int) -> list[dict]:
    """The next `count` status messages the websocket is pushed (each a whole message: COMMAND, DATA, HANDLED)."""
    pushed = []
    while len(pushed) < count:
        message = websocket.recv(timeout=30)
        if isinstance(message, str) and json.loads(message)["COMMAND"] == STATUS_COMMAND:
            pushed.append(json.loads(message))
    return pushed


class CountingStatus:
    """A status source that counts its reads; `changing`: each read is a new frame count, else always the same."""

    def __init__(self, changing: bool) -> None:
        self.changing = changing
        self.reads = 0

    def __call__(self) -> dict:
        self.reads += 1
        return {"frames": self.reads if self.changing else 1}


def test_the_status_is_pushed_while_it_changes(server):
    server.publish_status(CountingStatus(changing=True))
    with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=30) as websocket:
        websocket.send(json.dumps({"COMMAND": STATUS_COMMAND}))
        frames = [push["DATA"]["frames"] for push in status_pushes(websocket, 3)]
    assert frames == sorted(set(frames))  # each push is news: a new frame count, never a repeat


def test_a_status_that_does_not_change_is_not_pushed_again(server):
    """Read on, but pushed again only for news: here the client's own message, which the status says it saw."""
    status = CountingStatus(changing=False)
    server.publish_status(status)
    with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=30) as websocket:
        websocket.send(json.dumps({"COMMAND": STATUS_COMMAND}))
        first = status_pushes(websocket, 1)[0]
        reads = status.reads
        assert wait_for(lambda: status.reads >= reads + 3)  # read three times more, the same each time
        message = OscMessageBuilder("/vj/preset/store")
        message.add_arg(2)
        websocket.send(message.build().dgram)
        second = status_pushes(websocket, 1)[0]  # a repeat of the first would come before this one
    assert (first["HANDLED"], second["HANDLED"]) == (0, 1) and first["DATA"] == second["DATA"] == {"frames": 1}


def test_a_pushed_status_reflects_the_clients_messages_it_counts(server):
    """A stored preset is in the first status that says it handled the store: the page's pads and learn rely on it."""
    server.publish_status(lambda: {"presets": [call[1] for call in server.calls]})
    with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=30) as websocket:
        websocket.send(json.dumps({"COMMAND": STATUS_COMMAND}))
        assert status_pushes(websocket, 1)[0]["DATA"] == {"presets": []}
        message = OscMessageBuilder("/vj/preset/store")
        message.add_arg(4)
        websocket.send(message.build().dgram)
        push = status_pushes(websocket, 1)[0]
    assert push == {"COMMAND": STATUS_COMMAND, "DATA": {"presets": [4]}, "HANDLED": 1}


def test_a_client_that_does_not_ask_is_never_pushed_the_status(server):
    server.publish_status(lambda: {"fps": 30.0})
    listen = json.dumps({"COMMAND": "LISTEN", "DATA": "/vj/truncation/psi"})
    with (
        connect(f"ws://127.0.0.1:{server.port}/", open_timeout=30) as app,
        connect(f"ws://127.0.0.1:{server.port}/", open_timeout=30) as page,
    ):
        app.send(listen)
        page.send(json.dumps({"COMMAND": STATUS_COMMAND}))
        status_pushes(page, 1)
        app.send(listen)  # handled in order: once psi is set from elsewhere, LISTEN has taken hold
        server.store.set("truncation.psi", 0.5, source="test")
        assert isinstance(app.recv(timeout=30), bytes)  # its first message is the value, no status before it


def test_a_failing_status_is_pushed_as_an_error(server):
    def broken() -> dict:
        raise RuntimeError("engine gone")

    server.publish_status(broken)
    with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=30) as websocket:
        websocket.send(json.dumps({"COMMAND": STATUS_COMMAND}))
        assert status_pushes(websocket, 1)[0]["DATA"] == {"error": "engine gone"}


# --- one check for every way in: the preview's HTTP, OSCQuery's HTTP and its websocket ---

EVIL = "http://evil.example"


def request(port: int, target: str = "/", host: str = "127.0.0.1", **headers: str) -> tuple[int, dict, bytes]:
    """GET `target` with exactly `headers` (a Host given replaces the usual one), from `host`'s own address."""
    connection = http.client.HTTPConnection(host, port, timeout=30, source_address=(host, 0))
    try:
        connection.putrequest("GET", target, skip_host="Host" in headers)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def websocket_status(port: int, target: str = "/", host: str = "127.0.0.1", **headers: str) -> tuple[int, bytes]:
    """Open a websocket on `port` (from `host`'s own address): 101 once it opens, else the refusal's status."""
    sock = socket.create_connection((host, port), timeout=30, source_address=(host, 0))
    try:
        with connect(f"ws://{host}:{port}{target}", sock=sock, open_timeout=30, **headers):
            return 101, b""
    except InvalidStatus as refused:
        return refused.response.status_code, refused.response.body


ENTRIES = ["preview", "oscquery http", "oscquery websocket"]


def knock(entry: str, preview: PreviewSink, server: OSCQueryServer, target: str = "/", host: str = "127.0.0.1",
          origin: str | None = None) -> tuple[int, bytes]:  # fmt: skip
    """One request through `entry`: its status and body."""
    headers = {"Origin": origin} if origin else {}
    if entry == "preview":
        return request(preview.port, target, host, **headers)[::2]
    if entry == "oscquery http":
        return request(server.port, target, host, **headers)[::2]
    return websocket_status(server.port, target, host, **({"origin": origin} if origin else {}))


class Refusing(WebAccess):
    """The run's rule with its one check refusing everything: proves each way in asks it, and only it."""

    def refusal(self, request, server, listening, names=(), guarded=True) -> str | None:
        self.asked.append((server, request.target))
        return "refused by the one check\n"


@pytest.mark.parametrize("entry", ENTRIES)
def test_every_way_in_asks_the_one_check(entry):
    access = Refusing()
    access.asked = []
    preview, server = (
        PreviewSink("preview:0", 0, access),
        OSCQueryServer(default_store(), port=0, mdns=False, access=access),
    )
    server.start()
    try:
        status, body = knock(entry, preview, server, "/?probe")
    finally:
        server.close()
        preview.close()
    assert status == 403 and body == b"refused by the one check\n"
    assert access.asked == [("preview" if entry == "preview" else "OSCQuery", "/?probe")]


@pytest.mark.parametrize("entry", ENTRIES)
def test_another_site_is_refused_at_every_way_in(entry, preview, server):
    status, body = knock(entry, preview, server, origin=EVIL)
    assert status == 403 and b"only this engine's own control page may use its" in body
    status, _ = knock(entry, preview, server, origin=f"http://evil.example:{preview.port}")  # the page's port only
    assert status == 403
    assert knock(entry, preview, server, origin="null")[0] == 403  # a file:// page or a sandboxed frame


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_runs_own_page_is_let_in_at_every_way_in(entry, preview, server, host):
    assert knock(entry, preview, server, origin=f"http://{host}:{preview.port}")[0] in (200, 101)


@pytest.mark.parametrize("entry", ["oscquery http", "oscquery websocket"])
def test_this_machine_on_a_port_that_is_no_page_is_refused(entry, preview, server):
    assert knock(entry, preview, server, origin=f"http://127.0.0.1:{server.port}")[0] == 403


def test_a_page_of_another_run_is_not_one_of_this_runs_pages(server):
    """The pages are the run's own (its WebAccess), not a registry of the process: another run's preview is out."""
    other = PreviewSink("preview:0", 0, WebAccess())
    try:
        assert websocket_status(server.port, origin=f"http://127.0.0.1:{other.port}")[0] == 403
    finally:
        other.close()


def test_a_closed_preview_is_no_longer_a_page(server, access):
    sink = PreviewSink("preview:0", 0, access)
    origin = f"http://127.0.0.1:{sink.port}"
    assert websocket_status(server.port, origin=origin)[0] == 101
    sink.close()
    assert websocket_status(server.port, origin=origin)[0] == 403


def test_an_action_sent_from_the_engines_own_page_runs(server, preview):
    message = OscMessageBuilder("/vj/learn")
    message.add_arg("visual.mix")
    with connect(f"ws://127.0.0.1:{server.port}/", origin=f"http://127.0.0.1:{preview.port}", open_timeout=30) as ws:
        ws.send(message.build().dgram)
        assert wait_for(lambda: server.calls == [("learn", "visual.mix")])


def test_a_websocket_without_origin_plays_as_an_oscquery_app_does(server):
    message = OscMessageBuilder("/vj/truncation/psi")
    message.add_arg(0.25)
    with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=30) as websocket:
        assert "Origin" not in websocket.request.headers
        websocket.send(message.build().dgram)
        assert wait_for(lambda: server.store.get("truncation.psi") == 0.25)


def test_the_tree_is_shared_with_the_own_page_only(server, preview):
    own = f"http://127.0.0.1:{preview.port}"
    status, headers, body = request(server.port, "/vj/truncation/psi?VALUE", Origin=own)
    assert status == 200 and headers["Access-Control-Allow-Origin"] == own and "VALUE" in json.loads(body)
    status, headers, _ = request(server.port, "/vj/truncation/psi?VALUE", Origin=EVIL)
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    status, headers, body = request(server.port, "/vj/truncation/psi?VALUE")  # an OSCQuery app: no Origin
    assert status == 200 and "Access-Control-Allow-Origin" not in headers and "VALUE" in json.loads(body)


def test_oscquery_apps_read_the_root_and_host_info_as_ever(server):
    """TouchDesigner and Chataigne: `GET /`, `GET /?HOST_INFO`, then the websocket, all without Origin."""
    status, _, body = request(server.port, "/")
    assert status == 200 and "CONTENTS" in json.loads(body)
    status, _, body = request(server.port, "/?HOST_INFO")
    assert status == 200 and json.loads(body)["WS_PORT"] == server.port
    assert websocket_status(server.port)[0] == 101


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5678", "127.0.0.1.evil.example", "192.0.2.7"])
def test_a_request_for_another_host_is_refused(server, host):
    """DNS rebinding: a site's name pointed at 127.0.0.1 reaches the port, but the browser sends the site's name."""
    assert request(server.port, "/", Host=host)[0] == 403
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}
    upgrade["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
    assert request(server.port, "/", Host=host, **upgrade)[0] == 403


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST.", "[::1]"])
def test_a_request_for_this_machine_is_answered(server, host):
    status, _, body = request(server.port, "/?HOST_INFO", Host=f"{host}:{server.port}")
    assert status == 200 and json.loads(body)["WS_PORT"] == server.port


def test_the_preview_refuses_another_host(preview):
    assert request(preview.port, "/", Host="evil.example")[0] == 403
    assert request(preview.port, "/", Host=f"localhost:{preview.port}")[0] == 200


def test_a_refused_page_is_said_once_per_run_whichever_server_it_knocks_on(server, preview, caplog):
    with caplog.at_level(logging.DEBUG, logger="vjengine.webaccess"):
        for _ in range(3):  # a page retrying its connection
            assert websocket_status(server.port, origin=EVIL)[0] == 403
        assert request(preview.port, "/", Origin=EVIL)[0] == 403
    said = [r for r in caplog.records if r.levelno >= logging.WARNING and EVIL in r.getMessage()]
    assert len(said) == 1 and "control page" in said[0].getMessage()


# --- the token, from this machine's network address (never traffic off the machine) ---

needs_lan = pytest.mark.skipif(LAN is None, reason="this machine has no network address besides 127.0.0.1")


@pytest.fixture
def remote():
    """A `--remote` run's preview and guarded OSCQuery, listening on every network, token required."""
    access = WebAccess(remote=True, token="s3cret")
    preview = PreviewSink("preview:0", 0, access)
    server = OSCQueryServer(default_store(), host=access.host, port=0, mdns=False, access=access, guarded=True)
    server.start()
    yield preview, server
    server.close()
    preview.close()


@needs_lan
@pytest.mark.parametrize("entry", ENTRIES)
def test_another_machine_needs_the_token_at_every_way_in(entry, remote):
    preview, server = remote
    status, body = knock(entry, preview, server, "/", host=LAN)
    assert status == 403 and body.startswith(b"this vjengine page needs its access token")
    assert knock(entry, preview, server, "/?token=wrong", host=LAN)[0] == 403
    assert knock(entry, preview, server, "/?token=s3cret", host=LAN)[0] in (200, 101)
    assert knock(entry, preview, server, "/")[0] in (200, 101)  # this machine needs none


@needs_lan
def test_an_oscquery_the_config_opened_to_the_network_needs_no_token():
    """`[osc] host = "0.0.0.0"`: OSCQuery apps on the network are served, as OSC over UDP is."""
    server = OSCQueryServer(default_store(), host="0.0.0.0", port=0, mdns=False, access=WebAccess(remote=True))
    server.start()
    try:
        assert request(server.port, "/?HOST_INFO", host=LAN)[0] == 200
        assert websocket_status(server.port, host=LAN)[0] == 101
    finally:
        server.close()


@pytest.mark.skipif(LAN is None, reason="this machine has no network address besides 127.0.0.1")
def test_the_machines_addresses_count_only_where_the_server_listens_on_every_network():
    assert is_this_machine(LAN, "0.0.0.0")
    assert not is_this_machine(LAN, "127.0.0.1")
    assert not is_this_machine("evil.example", "0.0.0.0")


def test_an_address_of_another_machine_is_never_this_one():
    assert not is_this_machine("192.0.2.7", "0.0.0.0") and not is_this_machine("192.0.2.7", "127.0.0.1")
    assert is_this_machine("::1", "127.0.0.1") and is_this_machine("127.0.0.1", "0.0.0.0")
