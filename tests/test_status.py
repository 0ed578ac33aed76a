"""The status line says what runs, what is connected and what is down."""

from __future__ import annotations

from types import SimpleNamespace

from vjengine.engine import EngineStats
from vjengine.outputs import SinkStats
from vjengine.status import status_text


def engine_with(*sinks, landmarks=None, signals=None, model_name=""):
    return SimpleNamespace(
        stats=EngineStats(), sinks=list(sinks), landmarks=landmarks, signals=signals or {}, model_name=model_name
    )


def sink(name, **stats):
    return SimpleNamespace(name=name, stats=SinkStats(**stats))


def test_a_sink_being_retried_is_shown_as_down():
    text = status_text(engine_with(sink("ndi:TD", retrying="connection refused")), "m", "pattern", ["ndi:TD"])
    assert "DOWN (retrying): ndi:TD" in text


def test_the_control_surfaces_fragment_is_shown():
    text = status_text(engine_with(), "m", "pattern", [], controls="osc :9000 12 msgs | midi nano WAITING")
    assert text.endswith("osc :9000 12 msgs | midi nano WAITING")


def test_whether_a_hand_is_tracked_is_shown_while_hands_are_on():
    hands = SimpleNamespace(enabled={"hands": True})
    assert "hand yes" in status_text(engine_with(landmarks=hands, signals={"hand.present": 1.0}), "m", "s", [])
    assert "hand no" in status_text(engine_with(landmarks=hands, signals={"hand.present": 0.0}), "m", "s", [])


def test_skipped_frames_are_shown_only_when_there_are_some():
    engine = engine_with()
    assert "SKIPPED" not in status_text(engine, "m", "s", [])
    engine.stats.failed = 3
    assert "SKIPPED 3 (see the log)" in status_text(engine, "m", "s", [])


def midi_status(**status):
    base = {"controller": "nanoKONTROL2", "input": "nanoKONTROL2 MIDI 1", "learning": None, "bpm": None}
    return SimpleNamespace(status=lambda: {**base, **status})


def test_the_midi_fragment_shows_the_controller_state_and_its_clock():
    from vjengine.control.surfaces import Controls

    controls = Controls()
    controls.midi = midi_status(bpm=124.0)
    assert controls.summary() == "midi nanoKONTROL2 ok 124.0 bpm"
    controls.midi = midi_status(input=None)
    assert controls.summary() == "midi nanoKONTROL2 WAITING"


def test_a_clock_port_shows_its_tempo_or_that_it_waits():
    from vjengine.control.surfaces import Controls

    controls = Controls()
    controls.clock = midi_status(controller="IAC", bpm=128.0)
    assert controls.summary() == "clock IAC 128.0 bpm"
    controls.clock = midi_status(controller="IAC", input=None)
    assert controls.summary() == "clock IAC WAITING"


def test_on_an_80_column_terminal_the_line_fits_and_keeps_fps_and_what_is_down(monkeypatch):
    import io

    from vjengine.status import StatusDisplay

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("COLUMNS", "80")
    terminal = Terminal()
    engine = engine_with(sink("ndi:TD", retrying="connection refused"), sink("file:set.mp4"))
    display = StatusDisplay(engine, "stylegan3-t-ffhq-1024", "camera:0", ["ndi:TD", "file:set.mp4"], stream=terminal)
    display.update(force=True)
    line = terminal.getvalue().removeprefix("\r").removesuffix("\x1b[K")
    assert len(line) < 80
    assert "fps" in line and "DOWN (retrying): ndi:TD" in line


def test_the_model_on_screen_is_named_when_a_bank_switched_to_it():
    text = status_text(engine_with(model_name="faces"), "ffhq.pkl", "pattern", ["preview"])
    assert "model faces" in text and "ffhq" not in text
