"""MIDI through a real stack: JACK's dummy server, mido's rtmidi/UNIX_JACK backend and virtual ports.

Each test plays a controller with a virtual output port ("vjtest-ctrl-..."), which MidiControl finds
by part of its name, and waits (briefly polling) for the parameter store to show the effect.
"""

from __future__ import annotations

import logging
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import mido
import pytest

from tests.conftest import FakeClock, finishes, wait_for
from vjengine.control.mapping import Control, load_map
from vjengine.control.midi import Decoder, MidiControl, MidiError, relative_ticks
from vjengine.params import ParamStore, default_store
from vjengine.tempo.service import Tempo

pytest_plugins = ["tests.jack_server"]


def cc(number: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", channel=channel, control=number, value=value)


class Controller:
    """A pretend controller: a virtual output port on JACK, and what MidiControl made of its messages."""

    def __init__(self, backend: mido.Backend, name: str) -> None:
        self.backend = backend
        self.name = name
        self.port = backend.open_output(name, virtual=True)

    def send(self, control: MidiControl, *messages: mido.Message) -> None:
        """Send, then wait until the engine has handled every one of them."""
        expected = control.status()["received"] + sum(
            m.type in ("control_change", "note_on", "note_off", "pitchwheel") for m in messages
        )
        for message in messages:
            self.port.send(message)
        assert wait_for(lambda: control.status()["received"] >= expected)

    def unplug(self) -> None:
        self.port.close()

    def plug_in(self) -> None:
        self.port = self.backend.open_output(self.name, virtual=True)


@pytest.fixture
def backend(jack_server: str) -> mido.Backend:
    return mido.Backend(jack_server, load=True)


@pytest.fixture
def controller(backend) -> Iterator[Controller]:
    device = Controller(backend, f"vjtest-ctrl-{uuid.uuid4().hex[:8]}")
    yield device
    device.port.close()


@pytest.fixture
def store() -> ParamStore:
    return default_store()


@pytest.fixture
def midi(store, controller, tmp_path) -> Iterator[Callable[..., MidiControl]]:
    """Start a MidiControl on the test controller with the given map text; closed after the test."""
    started: list[MidiControl] = []

    def start(bindings: str = "", **kwargs) -> MidiControl:
        path = tmp_path / f"map{len(started)}.toml"
        path.write_text(f'[controller]\nport = "{controller.name}"\n\n' + textwrap.dedent(bindings))
        control = MidiControl(store, mapping_files=[path], poll_interval=0.05, **kwargs)
        control.start()
        started.append(control)
        assert wait_for(lambda: control.status()["input"] is not None)
        return control

    yield start
    for control in started:
        control.close()


MIX_ON_CC7 = """
[[binding]]
param = "visual.mix"
type = "cc"
number = 7
"""


def test_cc_moves_its_mapped_parameter(midi, controller, store):
    control = midi(MIX_ON_CC7)
    controller.send(control, cc(7, 0))
    assert store.get("visual.mix") == 0.0
    controller.send(control, cc(7, 127))
    assert store.get("visual.mix") == 1.0


def test_port_is_found_by_part_of_its_name(midi, controller):
    control = midi(MIX_ON_CC7)
    assert control.status()["input"].endswith(controller.name)


def test_fourteen_bit_cc_pair_gives_fine_values(midi, controller, store):
    control = midi('[[binding]]\nparam = "transform.rotate"\ntype = "cc14"\nnumber = 1\n')
    controller.send(control, cc(1, 100), cc(33, 77))
    assert store.get("transform.rotate") == pytest.approx(-180.0 + 360.0 * ((100 << 7) | 77) / 16383)


def test_nrpn_sets_its_parameter(midi, controller, store):
    control = midi('[[binding]]\nparam = "truncation.psi"\ntype = "nrpn"\nnumber = 300\n')
    controller.send(control, cc(99, 300 >> 7), cc(98, 300 & 127), cc(6, 64), cc(38, 0))
    assert store.get("truncation.psi") == pytest.approx(-1.0 + 3.0 * (64 << 7) / 16383)


def test_pitch_bend_sets_its_parameter(midi, controller, store):
    control = midi('[[binding]]\nparam = "transform.x"\ntype = "pitchbend"\nmin = -1.0\nmax = 1.0\n')
    controller.send(control, mido.Message("pitchwheel", pitch=8191))
    assert store.get("transform.x") == 1.0


def test_relative_encoder_adds_its_steps(midi, controller, store):
    control = midi('[[binding]]\nparam = "transform.rotate"\ntype = "cc"\nnumber = 20\nmode = "relative"\nstep = 5.0\n')
    controller.send(control, cc(20, 3), cc(20, 127))
    assert store.get("transform.rotate") == 10.0


def test_relative_offset_encoding(midi, controller, store):
    control = midi(
        '[[binding]]\nparam = "transform.rotate"\ntype = "cc"\nnumber = 20\nmode = "relative"\nstep = 1.0\n'
        'encoding = "offset"\n'
    )
    controller.send(control, cc(20, 66), cc(20, 63))
    assert store.get("transform.rotate") == 1.0


def test_note_toggles_a_bool_on_press_only(midi, controller, store):
    control = midi('[[binding]]\nparam = "visual.enabled"\ntype = "note"\nnumber = 36\n')
    controller.send(control, mido.Message("note_on", note=36, velocity=100), mido.Message("note_off", note=36))
    assert store.get("visual.enabled") is False
    controller.send(
        control, mido.Message("note_on", note=36, velocity=100), mido.Message("note_on", note=36, velocity=0)
    )
    assert store.get("visual.enabled") is True


def test_momentary_holds_while_pressed_and_restores(midi, controller, store):
    control = midi('[[binding]]\nparam = "corruption.gain"\ntype = "note"\nnumber = 41\n')
    store.set("corruption.gain", 0.3)
    controller.send(control, mido.Message("note_on", note=41, velocity=90))
    assert store.get("corruption.gain") == 1.0
    controller.send(control, mido.Message("note_off", note=41))
    assert store.get("corruption.gain") == pytest.approx(0.3)


def test_button_steps_an_enum_through_its_choices(midi, controller, store):
    control = midi('[[binding]]\nparam = "generator.noise"\ntype = "cc"\nnumber = 40\nmode = "step"\n')
    controller.send(control, cc(40, 127), cc(40, 0))
    assert store.get("generator.noise") == "random"


def test_learn_binds_the_next_cc_and_saves_a_map_that_loads_again(midi, controller, store, tmp_path):
    learn_file = tmp_path / "learned.toml"
    control = midi(learn_file=learn_file)
    control.learn("corruption.gain")
    assert control.status()["learning"] == "corruption.gain"
    controller.send(control, cc(70, 127))
    assert wait_for(lambda: control.status()["learning"] is None)
    assert store.get("corruption.gain") == 1.0
    saved = load_map(learn_file, store.params)
    assert [(b.control, b.param.name) for b in saved.bindings] == [(Control("cc", 0, 70), "corruption.gain")]
    assert saved.port == controller.name
    controller.send(control, cc(70, 0))
    assert store.get("corruption.gain") == 0.0


def test_learned_file_is_loaded_by_the_next_session(store, controller, tmp_path, jack_server):
    learn_file = tmp_path / "learned.toml"
    first = MidiControl(store, port=controller.name, learn_file=learn_file, poll_interval=0.05)
    with first:
        first.learn("visual.mix")
        controller.send(first, cc(12, 0))
        assert wait_for(lambda: learn_file.exists())
    second = MidiControl(store, learn_file=learn_file, poll_interval=0.05)  # the port comes from the file
    with second:
        assert wait_for(lambda: second.status()["input"] is not None)
        controller.send(second, cc(12, 127))
        assert store.get("visual.mix") == 1.0


def test_learn_recognises_a_fourteen_bit_pair(midi, controller, store):
    control = midi()
    control.learn("transform.rotate")
    controller.send(control, cc(2, 64), cc(34, 5))
    assert wait_for(lambda: control.status()["learning"] is None)
    assert [b.control for b in control.bindings] == [Control("cc14", 0, 2)]


def test_learn_replaces_the_controls_old_binding(midi, controller, store):
    control = midi(MIX_ON_CC7)
    control.learn("corruption.gain")
    controller.send(control, cc(7, 127))
    assert wait_for(lambda: control.status()["learning"] is None)
    assert [b.param.name for b in control.bindings] == ["corruption.gain"]


def test_learn_rejects_a_text_parameter(midi):
    control = midi()
    with pytest.raises(MidiError, match="visual.layout is text"):
        control.learn("visual.layout")


def test_pickup_holds_until_the_knob_crosses_the_value(midi, controller, store):
    control = midi(MIX_ON_CC7)
    controller.send(control, cc(7, 0))
    store.set("visual.mix", 0.5, source="osc")  # e.g. a preset recalled over OSC
    controller.send(control, cc(7, 20), cc(7, 40))
    assert store.get("visual.mix") == 0.5
    assert control.status()["held"] == 2
    controller.send(control, cc(7, 80))  # passed 0.5 on the way: takes over
    assert store.get("visual.mix") == pytest.approx(80 / 127)
    controller.send(control, cc(7, 30))
    assert store.get("visual.mix") == pytest.approx(30 / 127)


def test_pickup_takes_over_near_the_value(midi, controller, store):
    control = midi(MIX_ON_CC7)
    store.set("visual.mix", 0.5, source="osc")
    controller.send(control, cc(7, 64))
    assert store.get("visual.mix") == pytest.approx(64 / 127)


def test_pickup_off_jumps_at_once(midi, controller, store):
    control = midi('[[binding]]\nparam = "visual.mix"\ntype = "cc"\nnumber = 7\npickup = false\n')
    store.set("visual.mix", 0.5, source="osc")
    controller.send(control, cc(7, 0))
    assert store.get("visual.mix") == 0.0


def test_a_port_that_closes_and_reopens_is_reconnected(midi, controller, store):
    control = midi(MIX_ON_CC7)
    controller.unplug()
    assert wait_for(lambda: control.status()["input"] is None)
    controller.plug_in()
    assert wait_for(lambda: control.status()["input"] is not None)
    controller.send(control, cc(7, 127))
    assert store.get("visual.mix") == 1.0
    assert control.status()["connects"] == 2


def test_a_port_that_is_not_there_yet_is_opened_when_it_appears(store, backend, jack_server):
    name = f"vjtest-late-{uuid.uuid4().hex[:8]}"
    with MidiControl(store, port=name, poll_interval=0.05) as control:
        assert control.status()["input"] is None
        device = Controller(backend, name)
        try:
            assert wait_for(lambda: control.status()["input"] is not None)
        finally:
            device.unplug()


@pytest.fixture
def listener(backend) -> Iterator[tuple[str, mido.ports.BaseInput]]:
    """A virtual input port standing in for the controller's LEDs and motorised faders."""
    name = f"vjtest-leds-{uuid.uuid4().hex[:8]}"
    port = backend.open_input(name, virtual=True)
    yield name, port
    port.close()


def received(port, count: int = 1) -> list[mido.Message]:
    messages: list[mido.Message] = []
    assert wait_for(lambda: messages.extend(port.iter_pending()) or len(messages) >= count)
    return messages


def test_feedback_follows_values_set_elsewhere(midi, listener, store):
    name, port = listener
    control = midi(
        '[[binding]]\nparam = "visual.mix"\ntype = "cc"\nnumber = 7\nchannel = 2\nfeedback = true\n', output=name
    )
    assert received(port)[-1] == cc(7, 127, channel=1)  # the current value on connect
    store.set("visual.mix", 0.5, source="osc")
    assert received(port)[-1] == cc(7, 64, channel=1)
    assert control.status()["output"].endswith(name)


def test_feedback_port_that_comes_back_gets_every_value_again(midi, listener, backend, store):
    name, port = listener
    control = midi('[[binding]]\nparam = "visual.mix"\ntype = "cc"\nnumber = 7\nfeedback = true\n', output=name)
    received(port)
    port.close()
    assert wait_for(lambda: control.status()["output"] is None)
    store.set("visual.mix", 0.25, source="osc")  # changed while the controller was unplugged
    again = backend.open_input(name, virtual=True)
    try:
        assert received(again)[-1] == cc(7, 32)
    finally:
        again.close()


def test_button_leds_show_the_selected_choice(midi, listener, store):
    name, port = listener
    midi(
        """
        [[binding]]
        param = "generator.noise"
        type = "note"
        number = 5
        mode = "trigger"
        value = "random"
        feedback = true
        on_value = 21
        """,
        output=name,
    )
    assert received(port)[-1] == mido.Message("note_on", note=5, velocity=0)
    store.set("generator.noise", "random")
    assert received(port)[-1] == mido.Message("note_on", note=5, velocity=21)


def test_fourteen_bit_feedback_sends_both_halves(midi, listener, store):
    name, port = listener
    midi('[[binding]]\nparam = "visual.mix"\ntype = "cc14"\nnumber = 3\nfeedback = true\n', output=name)
    assert received(port, 2)[-2:] == [cc(3, 127), cc(35, 127)]


class StalledPort:
    """Stands in for an output port whose device stopped reading (JACK itself never blocks a sender): `send`
    hangs until released, then passes the message on to the real port."""

    def __init__(self, port) -> None:
        self.port, self.name = port, port.name
        self.release = threading.Event()

    def send(self, message: mido.Message) -> None:
        self.release.wait()
        self.port.send(message)

    def close(self) -> None:
        self.release.set()
        self.port.close()


def test_feedback_never_blocks_the_writer_and_sends_the_newest_value(midi, listener, store):
    name, port = listener
    control = midi('[[binding]]\nparam = "visual.mix"\ntype = "cc"\nnumber = 7\nfeedback = true\n', output=name)
    received(port)
    ports = control._ports  # no public way to slow a port down: the stall is the point of the test
    with ports._lock:
        stalled = ports._ports["output"] = StalledPort(ports._ports["output"])

    def burst() -> None:
        store.set("visual.mix", 0.5, source="osc")  # the feedback thread takes it and hangs in send
        for i in range(2000):
            store.set("visual.mix", (i % 100) / 100, source="osc")
        store.set("visual.mix", 0.0, source="osc")

    assert finishes(burst)  # the writer (OSC here) went on while the feedback was stuck
    stalled.release.set()
    messages: list[mido.Message] = []
    assert wait_for(lambda: messages.extend(port.iter_pending()) or (bool(messages) and messages[-1] == cc(7, 0)))
    assert len(messages) <= 2  # coalesced: the stuck value, then only the newest of the burst


def test_clock_and_sysex_are_ignored_quietly(midi, controller, store, caplog):
    control = midi(MIX_ON_CC7)
    with caplog.at_level(logging.DEBUG, logger="vjengine.control.midi"):
        for _ in range(3):
            controller.port.send(mido.Message("clock"))
        controller.port.send(mido.Message("sysex", data=[0x47, 0x7F, 0x29]))
        controller.send(control, cc(7, 0))
    assert store.get("visual.mix") == 0.0
    assert wait_for(lambda: control.status()["ignored"] == 4)
    assert control.status()["received"] == 1
    assert not caplog.records


def tick_clock(bpm: float) -> FakeClock:
    """The tempo's clock, one MIDI clock interval at `bpm` further on each time it is read: MIDI reads it
    once per clock message as it arrives, so the tempo it hears is exactly `bpm` however late
    a busy machine delivers the messages."""
    return FakeClock(per_read=60.0 / (bpm * 24))


def play_clock(port, beats: int) -> None:
    """Send `beats` beats of MIDI clock (24 ticks each), a beat at a time, as a drum machine would."""
    for _ in range(beats):
        for _ in range(24):
            port.send(mido.Message("clock"))
        time.sleep(0.01)  # lets the driver's buffer drain between beats


def test_midi_clock_sets_the_walk_tempo(midi, controller, store):
    control = midi(MIX_ON_CC7, tempo=Tempo(store, tick_clock(128)))
    controller.port.send(mido.Message("start"))
    play_clock(controller.port, 8)
    assert wait_for(lambda: store.get("tempo.bpm") == 128.0)
    assert control.status()["bpm"] == 128.0


def test_midi_clock_counts_beats_from_start_for_the_beat_phase(midi, controller, store):
    tempo = Tempo(store, tick_clock(128))
    midi(MIX_ON_CC7, tempo=tempo)
    controller.port.send(mido.Message("start"))
    play_clock(controller.port, 8)
    assert wait_for(lambda: tempo.arbiter.anchors().get("clock", (0.0,))[0] == pytest.approx(191 / 24))
    controller.port.send(mido.Message("start"))  # the song starts again: the next tick is its first beat
    play_clock(controller.port, 1)
    assert wait_for(lambda: tempo.arbiter.anchors()["clock"][0] == pytest.approx(23 / 24))


def test_midi_clock_is_ignored_unless_followed(midi, controller, store):
    control = midi(MIX_ON_CC7)  # no tempo to follow it into
    play_clock(controller.port, 2)
    assert wait_for(lambda: control.status()["ignored"] == 48)
    assert store.get("tempo.bpm") == 0.0


def test_unusable_backend_is_a_one_line_error(store, monkeypatch):
    monkeypatch.setenv("MIDO_BACKEND", "mido.backends.nosuchthing")
    control = MidiControl(store, port="anything")
    with pytest.raises(MidiError, match="MIDI backend 'mido.backends.nosuchthing' .* cannot be loaded"):
        control.start()


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or Path("/dev/snd/seq").exists(),
    reason="needs Linux without an ALSA sequencer (the machines CI runs on)",
)
def test_missing_alsa_sequencer_is_our_one_line_and_nothing_from_alsa_lib(store, monkeypatch, capfd):
    monkeypatch.setenv("MIDO_BACKEND", "mido.backends.rtmidi/LINUX_ALSA")
    control = MidiControl(store, port="anything")
    with pytest.raises(MidiError, match="run JACK and set MIDO_BACKEND"):
        control.start()
    assert "ALSA lib" not in capfd.readouterr().err


def test_no_port_anywhere_is_a_one_line_error(store, tmp_path: Path):
    with pytest.raises(MidiError, match="give --midi NAME"):
        MidiControl(store, mapping_files=["generic"])


def test_decoder_turns_nrpn_data_entry_into_one_event():
    decoder = Decoder()
    assert decoder.feed(cc(99, 0)) and decoder.feed(cc(98, 7))
    assert decoder.feed(cc(6, 1)) == [(Control("nrpn", 0, 7), 1 << 7, None)]


@pytest.mark.parametrize(
    ("raw", "encoding", "ticks"),
    [(1, "twos", 1), (127, "twos", -1), (65, "offset", 1), (62, "offset", -2), (66, "signbit", -2), (3, "signbit", 3)],
)
def test_relative_encodings(raw, encoding, ticks):
    assert relative_ticks(raw, encoding) == ticks
