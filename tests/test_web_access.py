"""Who may use the web servers (webaccess), and what OSCQuery gives the browser page: real sockets throughout.

The browser itself is in test_web_page.py; these are the rules and server parts beneath it, quick to run.
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
from vjengine.control.oscquery import OSCQueryServer
from vjengine.control.web import ControlPage
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
def server():
    calls: list[tuple] = []
    store = default_store()
    actions = Actions(Targets(store, learn=lambda name: calls.append(("learn", name))))
    server = OSCQueryServer(store, port=0, mdns=False, actions=actions)
    server.start()
    server.calls = calls
    yield server
    server.close()


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


def test_the_page_is_told_where_oscquery_answers():
    status, kind, body = ControlPage(5999, dict)("/")
    assert status == 200 and kind.startswith("text/html")
    assert b'data-oscquery-port="5999"' in body and b"decodeOSC" in body  # the script is inlined


def test_a_failing_status_never_breaks_the_page():
    def broken() -> dict:
        raise RuntimeError("engine gone")

    status, kind, body = ControlPage(5999, broken)("/status.json")
    assert status == 200 and json.loads(body) == {"error": "engine gone"}


def test_paths_the_page_does_not_know_are_left_to_the_preview():
    assert ControlPage(5999, dict)("/stream") is None


# --- other web sites in the performer's browser: Origin and Host (cross-site websockets, DNS rebinding) ---

EVIL = "http://evil.example"


@pytest.fixture
def preview():
    """A real preview: its port is one of the engine's own pages, the origin OSCQuery lets browsers in from."""
    sink = PreviewSink("preview:0", 0)
    yield sink
    sink.close()


def request(port: int, target: str = "/", **headers: str) -> tuple[int, dict, bytes]:
    """GET `target` from 127.0.0.1 with exactly `headers` (a Host given replaces the usual one)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("GET", target, skip_host="Host" in headers)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def refused_websocket(server: OSCQueryServer, origin: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{server.port}/", origin=origin, open_timeout=30)
    return refused.value.response.status_code


def test_a_websocket_from_another_site_is_refused(server, preview):
    assert refused_websocket(server, EVIL) == 403
    assert refused_websocket(server, f"http://evil.example:{preview.port}") == 403  # the page's port, not its host
    assert refused_websocket(server, "null") == 403  # a file:// page or a sandboxed frame


def test_a_websocket_from_this_machine_on_a_port_that_is_no_page_is_refused(server, preview):
    assert refused_websocket(server, f"http://127.0.0.1:{server.port}") == 403


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_websocket_from_the_engines_own_page_plays(server, preview, host):
    message = OscMessageBuilder("/vj/learn")
    message.add_arg("visual.mix")
    with connect(f"ws://127.0.0.1:{server.port}/", origin=f"http://{host}:{preview.port}", open_timeout=30) as ws:
        ws.send(message.build().dgram)
        assert wait_for(lambda: server.calls == [("learn", "visual.mix")])


def test_a_websocket_without_origin_plays_as_an_oscquery_app_does(server):
    message = OscMessageBuilder("/vj/truncation/psi")
    message.add_arg(0.25)
    with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=30) as websocket:
        assert "Origin" not in websocket.request.headers
        websocket.send(message.build().dgram)
        assert wait_for(lambda: server.store.get("truncation.psi") == 0.25)


def test_a_closed_preview_is_no_longer_a_page(server):
    sink = PreviewSink("preview:0", 0)
    origin = f"http://127.0.0.1:{sink.port}"
    connect(f"ws://127.0.0.1:{server.port}/", origin=origin, open_timeout=30).close()
    sink.close()
    assert refused_websocket(server, origin) == 403


def test_the_tree_is_shared_with_the_own_page_only(server, preview):
    own = f"http://127.0.0.1:{preview.port}"
    status, headers, body = request(server.port, "/vj/truncation/psi?VALUE", Origin=own)
    assert status == 200 and headers["Access-Control-Allow-Origin"] == own and "VALUE" in json.loads(body)
    status, headers, _ = request(server.port, "/vj/truncation/psi?VALUE", Origin=EVIL)
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    status, headers, body = request(server.port, "/vj/truncation/psi?VALUE")  # an OSCQuery app: no Origin
    assert status == 200 and "Access-Control-Allow-Origin" not in headers and "VALUE" in json.loads(body)


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


def test_a_refused_page_is_said_once_with_what_to_do(server, preview, caplog):
    with caplog.at_level(logging.DEBUG, logger="vjengine.control.oscquery"):
        for _ in range(3):  # a page retrying its connection
            refused_websocket(server, EVIL)
    said = [r for r in caplog.records if r.levelno >= logging.WARNING and EVIL in r.getMessage()]
    assert len(said) == 1 and "control page" in said[0].getMessage()


@pytest.mark.skipif(LAN is None, reason="this machine has no network address besides 127.0.0.1")
def test_the_machines_addresses_count_only_where_the_server_listens_on_every_network():
    assert is_this_machine(LAN, "0.0.0.0")
    assert not is_this_machine(LAN, "127.0.0.1")
    assert not is_this_machine("evil.example", "0.0.0.0")


def test_an_address_of_another_machine_is_never_this_one():
    assert not is_this_machine("192.0.2.7", "0.0.0.0") and not is_this_machine("192.0.2.7", "127.0.0.1")
    assert is_this_machine("::1", "127.0.0.1") and is_this_machine("127.0.0.1", "0.0.0.0")
