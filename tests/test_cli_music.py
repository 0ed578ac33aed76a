"""The real `vjengine run` with music: a click track through `--audio file:` becomes signals and the tempo
on OSC out, a missing sound card costs one line, and `--link` shares the tempo with another Link peer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import soundfile
from pythonosc.udp_client import SimpleUDPClient

from tests.conftest import FIXTURES, run_cli, wait_for
from tests.test_audio import RATE, click_track
from tests.test_cli_control import Listener, free_port
from tests.test_link import Peer


def engine_args(tmp_path, *extra: str) -> list[str]:
    """`vjengine run`'s arguments: the fixture model on the test pattern at 20 fps, without mDNS."""
    config = tmp_path / "config.toml"
    config.write_text("[oscquery]\nmdns = false\n")
    args = ["--config", str(config), "--model", str(FIXTURES / "sg2_64.pkl"), "--source", "pattern"]
    return [*args, "--output", "none", "--oscquery-port", "0", "--no-status", "--set", "render.fps=20", *extra]


def run_engine(tmp_path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vjengine", "run", *engine_args(tmp_path, *extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    return output


@pytest.mark.slow  # a real engine process
def test_a_click_track_drives_signals_and_the_tempo_on_osc_out(tmp_path):
    path = tmp_path / "clicks.wav"
    soundfile.write(str(path), click_track(4.0)[0], RATE)  # looped: a steady 120 bpm
    listener = Listener()
    target = ["--osc-out", f"127.0.0.1:{listener.port}", "--osc-signals", "audio.*", "--osc-port", "0"]
    process = run_engine(tmp_path, "--audio", f"file:{path}", *target)
    try:
        assert listener.wait_for("/vj/signal/audio/onset", lambda v: v[0] > 0.5, timeout=300)
        assert listener.wait_for("/vj/tempo/bpm", lambda v: abs(v[0] - 120.0) <= 2.0, timeout=120)
    finally:
        output = stop(process)
        listener.sock.close()
    assert "audio input: file:" in output


def test_a_missing_sound_card_is_one_line_and_the_engine_renders_on(tmp_path):
    result = run_cli("run", *engine_args(tmp_path, "--audio", "no such card 4711", "--frames", "40", "--osc-port", "0"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    warnings = [line for line in output.splitlines() if "no such card 4711" in line and "WARNING" in line]
    assert len(warnings) == 1 and "going on without audio" in warnings[0], output
    assert "rendered 40 frames" in output


@pytest.mark.slow  # a real engine process
def test_no_jack_server_is_one_line_without_libjacks_own(tmp_path):
    no_server = {"JACK_DEFAULT_SERVER": "vjtest-not-running", "JACK_NO_START_SERVER": "1"}
    process = run_engine(tmp_path, "--audio", "jack", "--frames", "60", "--osc-port", "0", env=no_server)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    lines = [line for line in output.splitlines() if "server" in line.lower()]  # libjack's all say "server"
    assert len(lines) == 1 and "no JACK server is running" in lines[0], output


@pytest.mark.slow  # a real engine process
def test_link_shares_the_tempo_with_another_peer_both_ways(tmp_path):
    peer = Peer(100.0)
    listener = Listener()
    osc_port = free_port()
    target = ["--osc-out", f"127.0.0.1:{listener.port}", "--osc-port", str(osc_port)]
    process = run_engine(tmp_path, "--link", "--set", "tempo.bpm=100", *target)
    try:
        # The engine joined the session (or one of the two processes is gone: then say which, at once).
        assert wait_for(lambda: peer.peers >= 1 or process.poll() is not None or peer.process.poll() is not None, 300)
        assert peer.peers >= 1, f"engine exit {process.poll()}, peer exit {peer.process.poll()}"
        peer.set_tempo(133.0)  # the session's tempo changes elsewhere: the engine follows
        assert listener.wait_for("/vj/tempo/bpm", lambda v: v[0] == 133.0, timeout=120)
        SimpleUDPClient("127.0.0.1", osc_port).send_message("/vj/tempo/bpm", 141.0)  # set here: goes to the session
        assert wait_for(lambda: peer.tempo == 141.0, timeout=60)
    finally:
        output = stop(process)
        print(output)  # the engine's log, shown with a failure
        peer.close()
        listener.sock.close()
    assert "Link: joined the session" in output


def test_bench_reports_the_audio_analysis_share_of_a_core(tmp_path):
    import json

    path = tmp_path / "clicks.wav"
    soundfile.write(str(path), click_track(2.0)[0], RATE)
    model = str(FIXTURES / "sg2_64.pkl")
    args = ["bench", "--model", model, "--device", "cpu", "--frames", "5", "--warmup", "1", "--json"]
    result = run_cli(*args, "--audio", f"file:{path}")
    assert result.returncode == 0, result.stderr
    share = json.loads(result.stdout.strip().splitlines()[-1])["audio_cpu_pct"]
    assert isinstance(share, float) and 0.0 < share < 100.0  # the analysis ran while the frames were timed


def test_a_missing_audio_file_stops_the_start_with_one_line(tmp_path):
    from tests.conftest import one_line_error

    model = str(FIXTURES / "sg2_64.pkl")
    args = ["run", "--model", model, "--source", "pattern", "--output", "none", "--osc-port", "0"]
    args += ["--oscquery-port", "0", "--no-status", "--frames", "1", "--audio", f"file:{tmp_path / 'set.flac'}"]
    assert "set.flac: no such file" in one_line_error(run_cli(*args))
