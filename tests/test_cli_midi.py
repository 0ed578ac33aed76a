"""End to end: the real `vjengine run` played from a MIDI controller on a real MIDI stack (JACK dummy)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import mido
import pytest

from tests.conftest import FIXTURES, wait_for

pytest_plugins = ["tests.jack_server"]


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def oscquery_value(port: int, address: str):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{address}?VALUE", timeout=30) as response:
            return json.load(response)["VALUE"][0]
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None  # not serving yet


def start_engine(tmp_path, *extra: str) -> tuple[subprocess.Popen, int]:
    """`vjengine run` on the fixture model with OSCQuery on a free port (to read values back)."""
    query_port = free_tcp_port()
    args = ["--model", str(FIXTURES / "sg2_64.pkl"), "--source", "pattern", "--output", "none", "--no-status"]
    args += ["--osc-port", "0", "--oscquery-port", str(query_port), "--presets", str(tmp_path), *extra]
    config = tmp_path / "config.toml"
    config.write_text(f'[oscquery]\nmdns = false\n[midi]\nlearn_file = "{tmp_path / "learned.toml"}"\n')
    process = subprocess.Popen(
        [sys.executable, "-m", "vjengine", "run", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return process, query_port


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    return process.communicate(timeout=120)[0]


def play_until(process: subprocess.Popen, play: Callable[[], None], read: Callable[[], Any], done) -> Any:
    """Play (send MIDI) and read the value back until `done(value)`, the engine exits, or a generous 300 s pass."""
    values = [None]

    def played() -> bool:
        if done(values[-1]) or process.poll() is not None:
            return True
        play()
        values.append(read())
        return done(values[-1])

    wait_for(played, 300, interval=0)
    return values[-1]


@pytest.mark.slow  # a real engine process played over JACK MIDI
def test_midi_name_alone_plays_the_controller_with_its_factory_map(jack_server, tmp_path):
    # A port named like a nanoKONTROL2 (plus a unique tail): no --mapping given.
    name = f"nanoKONTROL2 vjtest-{uuid.uuid4().hex[:8]}"
    controller = mido.Backend(jack_server, load=True).open_output(name, virtual=True)
    process, query_port = start_engine(tmp_path, "--midi", name)

    def fader_1_up() -> None:
        controller.send(mido.Message("control_change", channel=0, control=0, value=127))
        time.sleep(0.2)

    def psi() -> float | None:
        return oscquery_value(query_port, "/vj/truncation/psi")

    try:
        assert (
            play_until(process, fader_1_up, psi, lambda v: v == 1.5) == 1.5
        )  # the factory map's fader 1: truncation.psi over 0 .. 1.5
    finally:
        output = stop(process)
        controller.close()
    assert "MIDI map: nanokontrol2 (chosen by the port name" in output


@pytest.mark.slow  # a real engine process played over JACK MIDI
def test_midi_clock_from_another_port_sets_the_walk_tempo(jack_server, tmp_path):
    name = f"vjtest-daw-{uuid.uuid4().hex[:8]}"
    daw = mido.Backend(jack_server, load=True).open_output(name, virtual=True)
    process, query_port = start_engine(tmp_path, "--midi-clock", name)

    def two_beats_of_clock(interval: float = 60.0 / (132 * 24)) -> None:
        start = time.perf_counter()
        for n in range(48):
            time.sleep(max(0.0, start + n * interval - time.perf_counter()))
            daw.send(mido.Message("clock"))

    def bpm() -> float | None:
        return oscquery_value(query_port, "/vj/tempo/bpm")

    try:
        tempo = play_until(process, two_beats_of_clock, bpm, lambda v: v == pytest.approx(132, rel=0.02))
        assert tempo == pytest.approx(132, rel=0.02)
    finally:
        output = stop(process)
        daw.close()
    assert f"MIDI clock: {name} sets tempo.bpm" in output
