"""Audio through a real JACK server (the dummy driver: no sound card): a test client plays a click track
into the engine's input port. The dummy server runs in real time; figures are read in stream samples."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

from tests.conftest import wait_for
from tests.test_audio import RATE, Recorder, click_track, onset_times
from vjengine.audio import AudioAnalyser, describe_inputs, open_input
from vjengine.audio.inputs import JackInput
from vjengine.params import default_store

jack = pytest.importorskip("jack")
pytest_plugins = ["tests.jack_server"]


class Player:
    """A JACK client with one output port that plays `samples` in a loop from its first cycle."""

    def __init__(self, samples: np.ndarray, name: str, server: str | None = None) -> None:
        self.samples, self.position = samples, 0
        self.client = jack.Client(name, servername=server, no_start_server=True)
        self.port = self.client.outports.register("out")
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        index = (self.position + np.arange(frames)) % len(self.samples)
        self.port.get_array()[:] = self.samples[index]
        self.position += frames

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


@pytest.mark.slow  # seconds of music played in real time
def test_a_click_track_played_into_the_jack_port_gives_onsets_and_the_tempo(jack_server):
    rate = jack.Client("vjengine-rate", no_start_server=True)
    if rate.samplerate != RATE:
        pytest.skip(f"the JACK server runs at {rate.samplerate} Hz; this test's click track is {RATE} Hz")
    rate.close()
    name = f"clicks-{uuid.uuid4().hex[:6]}"
    samples, _ = click_track(4.0)
    player = Player(samples, name)
    recorder = Recorder()
    analyser = AudioAnalyser(JackInput(f"{name}:out"), default_store(), on_hop=recorder)
    analyser.start()
    try:
        assert wait_for(lambda: bool(recorder.times) and recorder.times[-1] >= 9.0, timeout=120)
    finally:
        analyser.close()
        player.close()
    onsets = onset_times(recorder)
    assert len(onsets) >= 16  # a click every half second for 9 s, whenever the connection was made
    # Median: on a busy machine the dummy server may skip a cycle now and then, which shortens one interval.
    assert np.median(np.diff(onsets)) == pytest.approx(0.5, abs=0.006)
    assert abs(recorder.at(8.9)["audio.bpm"] - 120.0) <= 2.0


@pytest.fixture
def private_server(jack_server, monkeypatch, tmp_path):
    """A JACK server of the test's own (dummy driver), which the test may stop and start again."""
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed")
    name = f"vjtest-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)  # the engine's input finds this server by name
    servers: list[subprocess.Popen] = []
    log = tmp_path / "jackd.log"

    def start() -> None:
        command = ["jackd", "-n", name, "--no-realtime", "-d", "dummy", "-r", str(RATE)]
        with log.open("ab") as output:
            servers.append(subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT))
        # jackd's own words when it cannot start (e.g. "Too many servers already active": JACK keeps at
        # most 8, and a server killed without a chance to clean up keeps its place until reboot).
        assert wait_for(lambda: _answers(name), timeout=30), log.read_text(errors="replace")[-400:]

    def stop() -> None:
        servers[-1].terminate()
        servers[-1].wait(timeout=30)

    start()
    yield name, start, stop
    for server in servers:
        if server.poll() is None:
            server.terminate()  # a clean stop frees the server's place in JACK's registry; a kill would not
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=30)


def _answers(name: str) -> bool:
    """Whether the server `name` is up, asked from another process (see TONE_PLAYER for why)."""
    env = {**os.environ, "JACK_NO_START_SERVER": "1"}
    if subprocess.run(["jack_lsp", "-s", name], capture_output=True, env=env, timeout=30).returncode == 0:
        return True
    time.sleep(0.05)
    return False


def test_devices_lists_the_sound_cards_and_the_jack_ports(jack_server):
    lines = describe_inputs()
    assert any("(2 ch, JACK Audio Connection Kit)" in line for line in lines)  # PortAudio's view of JACK
    assert "  jack:system:capture_1" in lines


def test_a_sound_card_found_by_part_of_its_name_delivers_samples(jack_server):
    # PortAudio's JACK host API shows the dummy server as a two-channel device named "system".
    source = open_input("syst")
    analyser = AudioAnalyser(source, default_store())
    analyser.start()
    try:
        assert wait_for(lambda: analyser.features is not None and analyser.features.samples > RATE // 2, timeout=60)
        assert source.connected and source.name == "system"
    finally:
        analyser.close()


# A JACK client playing a 440 Hz tone on a named server, in a process of its own: libjack cannot hold
# clients of two different servers in one process (the tests' PortAudio already has one on the default).
TONE_PLAYER = r"""
import sys, threading
import numpy as np, jack
client = jack.Client("tone", servername=sys.argv[1], no_start_server=True)
port = client.outports.register("out")
tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)).astype(np.float32)
position = [0]
def process(frames):
    port.get_array()[:] = tone[(position[0] + np.arange(frames)) % len(tone)]
    position[0] += frames
client.set_process_callback(process)
client.activate()
print("ready", flush=True)
threading.Event().wait()
"""


def play_tone(server: str) -> subprocess.Popen:
    player = subprocess.Popen([sys.executable, "-c", TONE_PLAYER, server], stdout=subprocess.PIPE, text=True)
    assert player.stdout is not None and player.stdout.readline().strip() == "ready"
    return player


@pytest.mark.slow  # a real engine process, its JACK server stopped and started again
def test_the_engine_renders_on_when_its_audio_interface_vanishes_and_reopens_it(private_server, tmp_path):
    from tests.test_cli_control import Listener
    from tests.test_cli_music import run_engine, stop

    name, start, stop_server = private_server
    players = [play_tone(name)]
    listener = Listener()
    target = ["--osc-out", f"127.0.0.1:{listener.port}", "--osc-signals", "audio.level", "--osc-port", "0"]
    process = run_engine(tmp_path, "--audio", "jack:tone:out", *target)  # JACK_DEFAULT_SERVER names our server
    try:
        assert listener.wait_for("/vj/signal/audio/level", lambda v: v[0] > 0.5, timeout=300)
        stop_server()  # the interface is gone
        assert listener.wait_for("/vj/signal/audio/level", lambda v: v[0] < 0.01, timeout=120)  # glided to rest
        assert process.poll() is None  # still rendering
        start()  # it is back
        players.append(play_tone(name))
        assert listener.wait_for("/vj/signal/audio/level", lambda v: v[0] > 0.5, timeout=120)  # reopened
    finally:
        output = stop(process)
        listener.sock.close()
        for player in players:
            player.kill()
            player.wait(timeout=30)
    assert process.returncode == 0, output
    lost = [line for line in output.splitlines() if "audio input" in line and "lost" in line]
    assert len(lost) == 1 and lost[0].startswith("WARNING"), output
    assert "is back after" in output
