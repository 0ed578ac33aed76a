"""OSC in and out over real UDP on 127.0.0.1."""

import contextlib
import logging
import os
import random
import socket
import time

import numpy as np
import pytest
from pythonosc import osc_bundle_builder, osc_message_builder
from pythonosc.tcp_client import SimpleTCPClient
from pythonosc.udp_client import SimpleUDPClient

from tests.conftest import FIXTURES, wait_for
from vjengine.control.actions import Actions, Targets
from vjengine.control.osc import OSCError, OSCReceiver, OSCSender, decode
from vjengine.latent.morph import PresetPlayer
from vjengine.latent.presets import Preset, PresetBank
from vjengine.params import default_store


@pytest.fixture
def store():
    return default_store()


@pytest.fixture
def receiver(store):
    received = []
    osc = OSCReceiver(store, port=0, actions=Actions(Targets(store, learn=received.append)))
    osc.start()
    osc.learned = received
    yield osc
    osc.close()


@pytest.fixture
def client(receiver):
    return SimpleUDPClient("127.0.0.1", receiver.port)


def test_a_message_sets_its_parameter_in_its_own_units(store, receiver, client):
    client.send_message("/vj/truncation/psi", 0.5)
    assert wait_for(lambda: store.get("truncation.psi") == 0.5)


def test_norm_addresses_take_zero_to_one(store, receiver, client):
    client.send_message("/vj/norm/transform/rotate", 0.75)  # -180..180
    assert wait_for(lambda: store.get("transform.rotate") == 90.0)


def test_norm_steps_through_enum_choices(store, receiver, client):
    client.send_message("/vj/norm/generator/noise", 0.99)
    assert wait_for(lambda: store.get("generator.noise") == "none")


def test_floats_are_rounded_for_whole_number_parameters(store, receiver, client):
    client.send_message("/vj/latent/seed", 41.6)  # TouchDesigner sends every channel as a float
    assert wait_for(lambda: store.get("latent.seed") == 42)


def test_out_of_range_values_are_clamped(store, receiver, client):
    client.send_message("/vj/corruption/gain", 7.0)
    assert wait_for(lambda: store.get("corruption.gain") == 1.0)


def test_wildcards_reach_every_matching_parameter(store, receiver, client):
    client.send_message("/vj/transform/{x,y}", 0.25)
    assert wait_for(lambda: store.get("transform.x") == 0.25 and store.get("transform.y") == 0.25)


def test_bundles_with_future_timetags_apply_at_once(store, receiver, client):
    bundle = osc_bundle_builder.OscBundleBuilder(time.time() + 3600)  # an hour ahead
    message = osc_message_builder.OscMessageBuilder("/vj/truncation/psi")
    message.add_arg(0.25)
    bundle.add_content(message.build())
    client.send(bundle.build())
    assert wait_for(lambda: store.get("truncation.psi") == 0.25, timeout=60)  # far sooner than the hour


def test_commands_receive_their_arguments(receiver, client):
    client.send_message("/vj/learn", "truncation.psi")
    assert wait_for(lambda: receiver.learned == ["truncation.psi"])


def test_an_action_at_a_parameters_address_acts_once_with_all_its_arguments(store, caplog, tmp_path):
    changes = []
    store.add_listener(lambda name, value, source: changes.append(name))
    PresetBank(tmp_path).store(Preset(3, np.zeros((8, 16), np.float32), {}, "drop"))
    actions = Actions(Targets(store, PresetPlayer(PresetBank(tmp_path), store)))
    actions.listen()  # as a run does: a write of the preset.recall parameter would recall a second time
    osc = OSCReceiver(store, port=0, actions=actions)
    osc.start()
    try:
        client = SimpleUDPClient("127.0.0.1", osc.port)
        with caplog.at_level(logging.INFO, logger="vjengine"):
            client.send_message("/vj/preset/recall", [3, 2.5])
            client.send_message("/vj/truncation/psi", 0.5)  # handled after the recall: one thread, in order
            assert wait_for(lambda: store.get("truncation.psi") == 0.5)
        assert [r.getMessage() for r in caplog.records if "recalled" in r.getMessage()] == ["recalled preset 3 (drop)"]
        assert "preset.recall" not in changes and store.get("preset.a") == 3 and osc.applied == 2
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        osc.close()
        actions.close()


def test_wrong_arguments_to_a_command_say_what_to_send(receiver, client, caplog):
    client.send_message("/vj/learn", [])
    assert wait_for(lambda: any("send /vj/learn NAME" in r.getMessage() for r in caplog.records))
    assert receiver.learned == []


def test_an_action_that_fails_unexpectedly_is_said_and_the_server_goes_on(store, caplog):
    def broken(name):
        raise OSError(28, "No space left on device")

    osc = OSCReceiver(store, port=0, actions=Actions(Targets(store, learn=broken)))
    osc.start()
    try:
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/vj/learn", "truncation.psi")
        assert wait_for(lambda: "OSError: [Errno 28] No space left on device" in caplog.text)
        client.send_message("/vj/truncation/psi", 0.5)
        assert wait_for(lambda: store.get("truncation.psi") == 0.5)
    finally:
        osc.close()


def test_wrong_types_and_unknown_addresses_are_ignored_and_logged_once(store, receiver, client, caplog):
    for _ in range(3):
        client.send_message("/vj/truncation/psi", "wild")
        client.send_message("/vj/no/such/thing", 1.0)
    client.send_message("/vj/truncation/psi", 0.3)
    assert wait_for(lambda: abs(store.get("truncation.psi") - 0.3) < 1e-6)
    assert sum("truncation/psi" in r.getMessage() for r in caplog.records) == 1
    assert sum("no/such/thing" in r.getMessage() for r in caplog.records) == 1


def test_random_and_truncated_datagrams_leave_values_valid(store, receiver, client):
    rng = random.Random(0)
    good = osc_message_builder.OscMessageBuilder("/vj/corruption/gain")
    good.add_arg(0.5)
    packet = good.build().dgram
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(3000):
        if i % 2:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        else:
            data = packet[: rng.randrange(1, len(packet))]
        sock.sendto(data, ("127.0.0.1", receiver.port))
    sock.close()
    client.send_message("/vj/latent/seed", 7)
    assert wait_for(lambda: store.get("latent.seed") == 7)
    for name, param in store.params.items():
        assert param.coerce(store.get(name)) == store.get(name)


def test_a_burst_of_ten_thousand_messages_ends_at_the_last_value(store, receiver, client):
    for i in range(10_000):
        client.send_message("/vj/latent/seed", i)
    client.send_message("/vj/latent/seed", 123_456)
    assert wait_for(lambda: store.get("latent.seed") == 123_456)


def test_senders_outside_the_allow_list_are_ignored(store):
    osc = OSCReceiver(store, port=0, allow=["127.0.0.2/32"])
    osc.start()
    try:
        SimpleUDPClient("127.0.0.1", osc.port).send_message("/vj/truncation/psi", 0.1)  # from 127.0.0.1: refused
        # A later message from an allowed address (all of 127/8 is this machine) lands after the refused one
        # would have: the server handles datagrams one at a time, in order.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as allowed:
            allowed.bind(("127.0.0.2", 0))
            message = osc_message_builder.OscMessageBuilder("/vj/latent/seed")
            message.add_arg(7)
            allowed.sendto(message.build().dgram, ("127.0.0.1", osc.port))
            assert wait_for(lambda: store.get("latent.seed") == 7)
        assert store.get("truncation.psi") == 0.7
    finally:
        osc.close()


def test_a_bad_allow_list_entry_is_a_one_line_error(store):
    with pytest.raises(OSCError, match="192.168.1.0/24"):
        OSCReceiver(store, allow=["my laptop"])


def test_a_port_in_use_says_how_to_choose_another(store, receiver):
    other = OSCReceiver(store, port=receiver.port)
    with pytest.raises(OSCError, match="--osc-port"):
        other.start()


@pytest.fixture
def listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def _collect(sock, until, timeout=30.0):
    messages = []

    def heard() -> bool:
        with contextlib.suppress(TimeoutError):
            messages.extend(decode(sock.recv(65536)))
        return until(messages)

    wait_for(heard, timeout, interval=0)
    return messages


def test_osc_out_sends_parameter_changes_from_any_source(store, listener):
    sender = OSCSender(store, [f"127.0.0.1:{listener.getsockname()[1]}"], rate=100)
    sender.start()
    try:
        store.set("truncation.psi", 0.4, source="midi")
        messages = _collect(listener, lambda m: ("/vj/truncation/psi", [pytest.approx(0.4)]) in m)  # float32
        assert ("/vj/truncation/psi", [pytest.approx(0.4)]) in messages
    finally:
        sender.close()


def test_osc_out_sends_chosen_signals_only(store, listener):
    sender = OSCSender(store, [str(listener.getsockname()[1])], rate=100, signals=["hand.*"], params=False)
    sender.start()
    try:
        sender.publish_signals({"hand.x": 0.25, "face.x": 0.5})
        messages = _collect(listener, lambda m: any(a == "/vj/signal/hand/x" for a, _ in m))
        addresses = {address for address, _ in messages}
        assert "/vj/signal/hand/x" in addresses
        assert "/vj/signal/face/x" not in addresses
    finally:
        sender.close()


def test_a_bad_osc_target_is_a_one_line_error(store):
    with pytest.raises(OSCError, match="HOST:PORT"):
        OSCSender(store, ["touchdesigner"])


def test_a_burst_does_not_stall_the_render_loop(store):
    from vjengine.engine import assemble_engine
    from vjengine.engine.rig import Rig
    from vjengine.models import load_generator
    from vjengine.sources import open_source

    store.set("render.fps", 0, immediate=True)
    osc = OSCReceiver(store, port=0)
    osc.start()
    with open_source("pattern", 64, 48, 30).start() as source:
        engine = assemble_engine(Rig.build(load_generator(FIXTURES / "sg2_64.pkl")), store, source, [])
        engine.start()
        try:
            assert wait_for(lambda: engine.stats.frames >= 3, timeout=30)
            client = SimpleUDPClient("127.0.0.1", osc.port)
            before = engine.stats.frames
            for i in range(10_000):
                client.send_message("/vj/truncation/psi", (i % 100) / 100)
            client.send_message("/vj/latent/seed", 99)
            assert wait_for(lambda: store.get("latent.seed") == 99, timeout=20)
            assert engine.stats.frames > before  # frames kept coming while the burst was handled
        finally:
            engine.stop()
            engine.join(10)
            engine.close()
            osc.close()


@pytest.fixture(params=["slip", "length"])
def tcp_receiver(store, request):
    osc = OSCReceiver(store, port=0, tcp_port=free_tcp_port(), tcp_framing=request.param)
    osc.start()
    osc.mode = "1.1" if request.param == "slip" else "1.0"
    yield osc
    osc.close()


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_osc_over_tcp_sets_parameters(store, tcp_receiver):
    with SimpleTCPClient("127.0.0.1", tcp_receiver.tcp_port, mode=tcp_receiver.mode) as client:
        for i in range(100):
            client.send_message("/vj/latent/seed", i)
    assert wait_for(lambda: store.get("latent.seed") == 99)


def test_a_broken_tcp_stream_only_drops_that_connection(store, tcp_receiver):
    with socket.create_connection(("127.0.0.1", tcp_receiver.tcp_port)) as sock:
        sock.sendall(b"\\xdb\\xdd\\x00garbage\\xc0" + os.urandom(2000) + b"\\xc0")
    with SimpleTCPClient("127.0.0.1", tcp_receiver.tcp_port, mode=tcp_receiver.mode) as client:
        client.send_message("/vj/latent/seed", 5)
    assert wait_for(lambda: store.get("latent.seed") == 5)


def test_an_unknown_tcp_framing_is_a_one_line_error(store):
    with pytest.raises(OSCError, match="slip or length"):
        OSCReceiver(store, tcp_port=9, tcp_framing="websocket")
