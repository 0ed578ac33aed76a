"""Who may use the web servers (webaccess), and what OSCQuery gives the browser page: real sockets throughout.

The browser itself is in test_web_page.py; these are the rules and server parts beneath it, quick to run.
"""

from __future__ import annotations

import json
import socket

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from websockets.sync.client import connect

from tests.conftest import wait_for
from vjengine.control.oscquery import OSCQueryServer
from vjengine.control.web import ControlPage
from vjengine.outputs.preview import PreviewSink
from vjengine.params import REGISTRY, default_store
from vjengine.webaccess import WebAccess, lan_addresses, token_in, without_token

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
    commands = {"/vj/preset/store": lambda slot, name="": calls.append(("store", slot, name))}
    server = OSCQueryServer(store, port=0, mdns=False, commands=commands)
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
    message = OscMessageBuilder("/vj/preset/store")
    message.add_arg(7)
    with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=30) as websocket:
        websocket.send(message.build().dgram)
        assert wait_for(lambda: server.calls == [("store", 7, "")])


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
