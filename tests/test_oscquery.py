"""OSCQuery over real HTTP and real websockets on 127.0.0.1 (mDNS off, except where its start/stop is tested)."""

import contextlib
import http.client
import json
import socket
import time

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient
from websockets.sync.client import connect

from tests.conftest import finishes, wait_for
from vjengine.control.actions import Actions, Targets
from vjengine.control.osc import OSCReceiver
from vjengine.control.oscquery import OSCQueryError, OSCQueryServer
from vjengine.latent.morph import PresetPlayer
from vjengine.latent.presets import PresetBank
from vjengine.params import REGISTRY, default_store
from vjengine.tempo.tap import TapTempo

# The attribute names of the OSCQuery proposal (github.com/Vidvox/OSCQueryProposal).
NODE_ATTRIBUTES = {
    "FULL_PATH",
    "CONTENTS",
    "TYPE",
    "ACCESS",
    "VALUE",
    "RANGE",
    "DESCRIPTION",
    "TAGS",
    "EXTENDED_TYPE",
    "UNIT",
    "CRITICAL",
    "CLIPMODE",
    "OVERLOADS",
    "HTML",
}
HOST_INFO_ATTRIBUTES = {"NAME", "EXTENSIONS", "OSC_IP", "OSC_PORT", "OSC_TRANSPORT", "WS_IP", "WS_PORT"}
RANGE_KEYS = {"MIN", "MAX", "VALS"}
CLIPMODES = {"none", "low", "high", "both"}
OSC_TYPE_TAGS = set("ifsbhtdScrmTFNI[]")
TAGS_BY_KIND = {"float": "f", "int": "i", "bool": "T", "enum": "s", "string": "s"}


def validate_node(node: dict, path: str = "/") -> int:
    """Assert that `node` and everything under it uses the proposal's attributes correctly; count the methods."""
    assert set(node) <= NODE_ATTRIBUTES, f"{path}: not in the proposal: {set(node) - NODE_ATTRIBUTES}"
    assert node["FULL_PATH"] == path
    assert node.get("ACCESS", 0) in (0, 1, 2, 3)
    assert isinstance(node.get("DESCRIPTION", ""), str)
    methods = 0
    if "TYPE" in node:
        methods = 1
        assert set(node["TYPE"]) <= OSC_TYPE_TAGS, f"{path}: bad type tag {node['TYPE']!r}"
        values = len(node["TYPE"].strip("[]"))
        for per_value in ("VALUE", "RANGE", "CLIPMODE", "UNIT"):
            if per_value in node:
                assert isinstance(node[per_value], list) and len(node[per_value]) == values, f"{path} {per_value}"
        assert all(isinstance(r, dict) and set(r) <= RANGE_KEYS for r in node.get("RANGE", []))
        assert set(node.get("CLIPMODE", [])) <= CLIPMODES
    else:
        assert not {"VALUE", "RANGE", "CLIPMODE", "UNIT"} & set(node), f"{path}: a value without a TYPE"
    for name, child in node.get("CONTENTS", {}).items():
        methods += validate_node(child, path.rstrip("/") + "/" + name)
    return methods


def find(tree: dict, address: str) -> dict:
    node = tree
    for segment in address.strip("/").split("/"):
        node = node["CONTENTS"][segment]
    return node


def get(server: OSCQueryServer, target: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def get_json(server: OSCQueryServer, target: str) -> dict:
    status, body = get(server, target)
    assert status == 200, body
    return json.loads(body)


def osc_bytes(address: str, *args) -> bytes:
    builder = OscMessageBuilder(address=address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


@pytest.fixture
def store():
    return default_store()


@pytest.fixture
def server(store):
    oscquery = OSCQueryServer(store, port=0, osc_port=9123, mdns=False)
    oscquery.start()
    yield oscquery
    oscquery.close()


@pytest.fixture
def websocket(server):
    with connect(server.url.replace("http://", "ws://")) as ws:
        yield ws


def command(ws, store, verb: str, address: str) -> None:
    """Send LISTEN/IGNORE and wait until the server has acted on it.

    The proposal has no reply to these commands; but a connection's messages are handled in order, so once
    an OSC message sent after the command has set its parameter, the command has been handled too.
    """
    ws.send(json.dumps({"COMMAND": verb, "DATA": address}))
    marker = store.get("corruption.seed") + 1
    ws.send(osc_bytes("/vj/corruption/seed", marker))
    assert wait_for(lambda: store.get("corruption.seed") == marker)


def updates(ws, until=lambda received: True, quiet: float = 0.3, timeout: float = 30.0) -> list[OscMessage]:
    """The binary OSC messages the websocket receives: until `until(received)` holds (within a generous
    `timeout`, so a busy machine only makes it slower), then any more that follow within `quiet` seconds.
    Only the check for what should not come relies on the quiet window, which load can shorten, never fail."""
    received: list[OscMessage] = []

    def heard() -> bool:
        if not until(received):
            with contextlib.suppress(TimeoutError):
                received.append(_osc(ws.recv(timeout=0.5)))
        return until(received)

    assert wait_for(heard, timeout, interval=0), (
        f"within {timeout:g} s only {[(m.address, m.params) for m in received]}"
    )
    while True:
        try:
            received.append(_osc(ws.recv(timeout=quiet)))
        except TimeoutError:
            return received


def _osc(data) -> OscMessage:
    assert isinstance(data, bytes), f"expected binary OSC, got {data!r}"
    return OscMessage(data)


def addresses(*wanted: str):
    """An `until` for `updates`: every one of `wanted` has arrived."""
    return lambda received: set(wanted) <= {m.address for m in received}


def test_the_tree_uses_only_the_proposals_attributes(server):
    assert validate_node(get_json(server, "/")) == len(REGISTRY)


def test_every_parameter_is_described_at_its_osc_address(server, store):
    tree = get_json(server, "/")
    for param in REGISTRY:
        node = find(tree, param.osc_address)
        assert node["FULL_PATH"] == param.osc_address
        assert node["TYPE"] == ("f" * param.size if param.kind == "vector" else TAGS_BY_KIND[param.kind])
        assert node["DESCRIPTION"] == param.description
        if param.action:
            assert node["ACCESS"] == 2 and "VALUE" not in node  # write-only: a trigger holds no value
        else:
            value = store.get(param.name)
            assert node["ACCESS"] == 3 and node["VALUE"] == (list(value) if param.kind == "vector" else [value])


def test_actions_are_write_only():
    assert {param.name for param in REGISTRY if param.action} == {"preset.recall", "tempo.tap"}


def methods_of(node: dict) -> list[dict]:
    """Every node under `node` (itself included) that is an OSC method, i.e. has a TYPE."""
    found = [node] if "TYPE" in node else []
    for child in node.get("CONTENTS", {}).values():
        found += methods_of(child)
    return found


def another_value(node: dict) -> list:
    """What a client that knows only the tree would send to change `node`: per type tag, another of the
    RANGE's VALS, the other end of its MIN .. MAX, the other truth value, or other text."""
    ranges = node.get("RANGE", [{}] * len(node["TYPE"]))
    values = []
    for tag, now, bounds in zip(node["TYPE"], node["VALUE"], ranges, strict=True):
        if tag == "T":
            values.append(not now)
        elif "VALS" in bounds:
            values.append(next(choice for choice in bounds["VALS"] if choice != now))
        elif tag == "s":
            values.append(f"{now}walked")
        else:
            far = bounds.get("MAX", now + 1) if now != bounds.get("MAX") else bounds.get("MIN", now - 1)
            values.append(int(far) if tag == "i" else float(far))
    return values


def reads(server: OSCQueryServer, address: str, expected: list) -> bool:
    got = get_json(server, f"{address}?VALUE")["VALUE"]
    return len(got) == len(expected) and all(
        g == pytest.approx(e, rel=1e-6) if isinstance(e, float) else g == e for g, e in zip(got, expected, strict=True)
    )


@pytest.fixture
def actions(store, tmp_path):
    """What acts on the actions in a running engine: a preset recall and tap tempo, each of which resets
    its parameter once it has acted (so what reads back is never what was sent)."""
    player, tapper = PresetPlayer(PresetBank(tmp_path / "bank"), store), TapTempo(store)
    actions = Actions(Targets(store, player, tap=tapper.tap))
    actions.listen()
    yield
    actions.close()


def test_walking_the_whole_tree_every_readable_node_reads_back_what_was_set(server, store, websocket, actions):
    """A generic client's walk over real HTTP: read the tree, send each method a value over the websocket,
    and read it back; write-only methods (actions) act on what is sent and have no value to read."""
    nodes = methods_of(get_json(server, "/"))
    assert len(nodes) == len(REGISTRY)
    sent, acted = {}, []
    store.add_listener(lambda name, value, source: acted.append(name))
    for node in nodes:
        if node["ACCESS"] & 1:
            sent[node["FULL_PATH"]] = another_value(node)
            websocket.send(osc_bytes(node["FULL_PATH"], *sent[node["FULL_PATH"]]))
        else:
            assert node["ACCESS"] == 2 and "VALUE" not in node
            assert get(server, node["FULL_PATH"] + "?VALUE") == (204, b"")
            websocket.send(osc_bytes(node["FULL_PATH"], 1 if node["TYPE"] == "i" else True))
    for address, value in sent.items():
        assert wait_for(lambda a=address, v=value: reads(server, a, v)), f"{address}: sent {value}"
    assert {p.name for p in REGISTRY if p.action} <= set(acted)  # the actions arrived and acted


def test_ranges_come_from_the_registry(server):
    tree = get_json(server, "/")
    psi = find(tree, "/vj/truncation/psi")
    assert psi["RANGE"] == [{"MIN": -1.0, "MAX": 2.0}] and psi["CLIPMODE"] == ["both"]
    assert find(tree, "/vj/generator/noise")["RANGE"] == [{"VALS": ["const", "random", "none"]}]
    assert find(tree, "/vj/transform/rotate")["UNIT"] == ["deg"]
    assert "RANGE" not in find(tree, "/vj/latent/anchor")  # free text has no range


def test_containers_have_no_value(server):
    node = get_json(server, "/vj/truncation")
    assert node["ACCESS"] == 0 and not {"TYPE", "VALUE"} & set(node)
    assert set(node["CONTENTS"]) == {p.name.split(".")[1] for p in REGISTRY if p.name.startswith("truncation.")}


def test_value_query_reads_the_store_at_request_time(server, store):
    store.set("truncation.psi", 1.5)
    assert get_json(server, "/vj/truncation/psi?VALUE") == {"VALUE": [1.5]}
    store.set("render.paused", True)
    assert get_json(server, "/vj/render/paused?VALUE") == {"VALUE": [True]}


def test_one_attribute_per_query(server):
    assert get_json(server, "/vj/latent/seed?TYPE") == {"TYPE": "i"}
    assert get_json(server, "/vj/latent/seed/?ACCESS") == {"ACCESS": 3}


def test_host_info_says_where_to_send_osc(server):
    info = get_json(server, "/?HOST_INFO")
    assert set(info) <= HOST_INFO_ATTRIBUTES
    assert info["OSC_PORT"] == 9123 and info["OSC_TRANSPORT"] == "UDP"
    assert info["WS_PORT"] == server.port
    assert info["EXTENSIONS"]["LISTEN"] is True and info["EXTENSIONS"]["VALUE"] is True
    assert all(isinstance(flag, bool) for flag in info["EXTENSIONS"].values())


def test_an_unknown_path_is_404(server):
    assert get(server, "/vj/no/such/thing")[0] == 404
    assert get(server, "/vj/no/such/thing?VALUE")[0] == 404


def test_an_unsupported_attribute_is_400(server):
    assert get(server, "/vj/truncation/psi?GABBAGABBAHEY")[0] == 400


def test_an_attribute_the_node_lacks_is_204(server):
    assert get(server, "/vj/latent/anchor?RANGE") == (204, b"")
    assert get(server, "/vj?VALUE") == (204, b"")


def test_listen_streams_changes_made_over_osc(server, store, websocket):
    receiver = OSCReceiver(store, port=0)
    receiver.start()
    try:
        command(websocket, store, "LISTEN", "/vj/truncation/psi")
        client = SimpleUDPClient("127.0.0.1", receiver.port)
        client.send_message("/vj/truncation/psi", 1.25)
        client.close()
        message = OscMessage(websocket.recv(timeout=30))
    finally:
        receiver.close()
    assert (message.address, message.params) == ("/vj/truncation/psi", [1.25])


def test_listen_sends_only_the_addresses_listened_to(server, store, websocket):
    command(websocket, store, "LISTEN", "/vj/generator/noise")
    store.set("truncation.psi", 0.1)
    store.set("generator.noise", "random")
    received = updates(websocket, addresses("/vj/generator/noise"))
    assert [(m.address, m.params) for m in received] == [("/vj/generator/noise", ["random"])]


def test_values_arrive_with_the_advertised_types(server, store, websocket):
    for address in ("/vj/render/paused", "/vj/latent/seed"):
        command(websocket, store, "LISTEN", address)
    store.set("render.paused", True)
    store.set("latent.seed", 42)
    received = {m.address: m.params for m in updates(websocket, addresses("/vj/render/paused", "/vj/latent/seed"))}
    assert received == {"/vj/render/paused": [True], "/vj/latent/seed": [42]}


def test_ignore_stops_the_updates(server, store, websocket):
    command(websocket, store, "LISTEN", "/vj/truncation/psi")
    store.set("truncation.psi", 0.25)
    assert [m.params for m in updates(websocket, addresses("/vj/truncation/psi"))] == [[0.25]]
    command(websocket, store, "IGNORE", "/vj/truncation/psi")
    store.set("truncation.psi", 0.375)
    assert updates(websocket) == []


def test_a_burst_ends_on_the_newest_value(server, store, websocket):
    command(websocket, store, "LISTEN", "/vj/transform/rotate")
    for step in range(1, 2001):
        store.set("transform.rotate", step * 0.05)
    received = updates(websocket, lambda got: bool(got) and got[-1].params == [pytest.approx(100.0)])
    assert received[-1].params == [pytest.approx(100.0)]
    assert len(received) < 200  # coalesced: not one message per change


def test_osc_over_the_websocket_sets_parameters(server, store, websocket):
    websocket.send(osc_bytes("/vj/transform/x", 0.5))
    assert wait_for(lambda: store.get("transform.x") == 0.5)


def test_bad_websocket_messages_are_ignored(server, store, websocket):
    websocket.send("not json")
    websocket.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/vj/no/such/thing"}))
    websocket.send(b"\x00garbage")
    websocket.send(osc_bytes("/vj/transform/x", "not a number"))
    command(websocket, store, "LISTEN", "/vj/transform/x")  # the connection still works
    store.set("transform.x", -1.0)
    assert [m.params for m in updates(websocket, addresses("/vj/transform/x"))] == [[-1.0]]


def test_close_releases_the_port_promptly(store):
    oscquery = OSCQueryServer(store, port=0, mdns=False)
    oscquery.start()
    with connect(oscquery.url.replace("http://", "ws://")):
        assert finishes(oscquery.close)  # with the client still connected: not waiting for it to leave
    with socket.create_server(("127.0.0.1", oscquery.port)):
        pass


def test_a_port_in_use_is_a_one_line_error(store):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        oscquery = OSCQueryServer(store, port=taken.getsockname()[1], mdns=False)
        with pytest.raises(OSCQueryError, match="--oscquery-port"):
            oscquery.start()


def test_mdns_on_neither_fails_nor_hangs(store):
    """zeroconf may or may not find a multicast interface here; either way start and close stay quick."""
    oscquery = OSCQueryServer(store, port=0, mdns=True)
    started = time.monotonic()
    oscquery.start()
    assert get_json(oscquery, "/?HOST_INFO")["NAME"] == "vjengine"
    time.sleep(0.5)  # let the announcement get under way: close must also stop one in progress
    oscquery.close()
    assert time.monotonic() - started < 60.0  # a hang, not a slow machine: zeroconf's own timeouts are seconds
