"""`preset.quantize = bar` holds on every path a recall can take: OSC over real UDP and TCP, OSCQuery's
websocket (what the browser page sends; the page itself in Chromium: test_quantize_page.py), a MIDI pad over
the JACK dummy server, and a trigger. Each asks mid-bar (beat 2.5 of 4) and must land on the frame that
reaches the downbeat (beat 4), not before: the beat count runs on a frame clock the test moves."""

from __future__ import annotations

import socket
import uuid

import mido
import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.tcp_client import SimpleTCPClient
from pythonosc.udp_client import SimpleUDPClient
from websockets.sync.client import connect

from tests.conftest import wait_for
from tests.test_quantize import SLOT, QuantizedRig, stored_bank
from vjengine.analysis.signals import check_signal
from vjengine.control.midi import MidiControl
from vjengine.control.osc import OSCReceiver
from vjengine.control.oscquery import OSCQueryServer
from vjengine.params.modulation import Modulation

pytest_plugins = ["tests.jack_server"]

DOWNBEAT = 4.0


@pytest.fixture
def rig(tmp_path):
    """Mid-bar at 120 bpm, four beats to the bar, recalls quantised to the bar."""
    rig = QuantizedRig(stored_bank(tmp_path))
    rig.store.set_many({"preset.quantize": "bar", "tempo.quantum": 4})
    rig.play_to(2.5)
    yield rig
    rig.close()


def lands_on_the_downbeat(rig: QuantizedRig) -> None:
    rig.wait_requested()
    assert rig.play_until_landed() == pytest.approx(DOWNBEAT, abs=1e-6)
    assert rig.store.get("corruption.gain") == 0.5 and rig.store.get("preset.recall") == 0


def test_osc_over_udp(rig):
    receiver = OSCReceiver(rig.store, port=0, actions=rig.actions)
    receiver.start()
    try:
        SimpleUDPClient("127.0.0.1", receiver.port).send_message("/vj/preset/recall", SLOT)
        lands_on_the_downbeat(rig)
    finally:
        receiver.close()


@pytest.mark.parametrize(("framing", "mode"), [("slip", "1.1"), ("length", "1.0")])
def test_osc_over_tcp(rig, framing, mode):
    receiver = OSCReceiver(rig.store, port=0, actions=rig.actions, tcp_port=_free_port(), tcp_framing=framing)
    receiver.start()
    try:
        with SimpleTCPClient("127.0.0.1", receiver.tcp_port, mode=mode) as client:
            client.send_message("/vj/preset/recall", SLOT)
        lands_on_the_downbeat(rig)
    finally:
        receiver.close()


def test_oscquery_websocket_as_the_page_sends_it(rig):
    server = OSCQueryServer(rig.store, port=0, mdns=False, actions=rig.actions)
    server.start()
    try:
        message = OscMessageBuilder("/vj/preset/recall")
        message.add_arg(SLOT, OscMessageBuilder.ARG_TYPE_INT)  # the page's pads send an int
        with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=30) as websocket:
            websocket.send(message.build().dgram)
            lands_on_the_downbeat(rig)
    finally:
        server.close()


def test_a_midi_pad_over_jack(rig, jack_server, tmp_path):
    name = f"vjtest-pad-{uuid.uuid4().hex[:8]}"
    pad = mido.Backend(jack_server, load=True).open_output(name, virtual=True)
    mapping = tmp_path / "pads.toml"
    mapping.write_text(
        f'[controller]\nport = "{name}"\n\n[[binding]]\nparam = "preset.recall"\ntype = "note"\nnumber = 36\n'
        f'mode = "trigger"\nvalue = {SLOT}\n'
    )
    control = MidiControl(rig.store, mapping_files=[mapping], poll_interval=0.05)
    control.start()
    try:
        assert wait_for(lambda: control.status()["input"] is not None)
        pad.send(mido.Message("note_on", note=36, velocity=100))
        lands_on_the_downbeat(rig)
    finally:
        control.close()
        pad.close()


def test_a_trigger(rig):
    modulation = Modulation(rig.store, [f"preset.recall = {SLOT} when hand.fist >= 0.6"], check_signal)
    modulation.apply(rig.store.snapshot(), {"hand.fist": 0.0})  # a trigger starts unarmed: the hand was open
    modulation.apply(rig.store.snapshot(), {"hand.fist": 0.9})  # a fist, mid-bar (the render thread, as in a run)
    lands_on_the_downbeat(rig)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
