"""A real MIDI stack for the tests: a JACK server with the dummy driver (no sound card needed).
(Named jack_server, not jack: pytest puts tests/ on sys.path, where a jack.py would hide the JACK-Client package.)

Use it from a test module with `pytest_plugins = ["tests.jack_server"]` and the `jack_server` fixture. It uses a
JACK server that is already running (as `.ci/run` starts one), or starts `jackd -d dummy` for the session,
and points mido at JACK (`MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK`). It skips only when jackd is not
installed (Debian: `apt-get install jackd2`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import wait_for

JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
START_TIMEOUT = 10.0


def jack_running() -> bool:
    """Whether a JACK server answers (`jack_lsp` succeeds)."""
    if shutil.which("jack_lsp") is None:
        return False
    try:
        result = subprocess.run(["jack_lsp"], capture_output=True, timeout=5, env=_no_autostart())
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


@pytest.fixture(scope="session")
def jack_server() -> Iterator[str]:
    """A running JACK server for the session; yields the mido backend name the tests use."""
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (Debian: apt-get install jackd2); the MIDI tests need a JACK server")
    process = None
    if not jack_running():
        process = subprocess.Popen(
            ["jackd", "--no-realtime", "-d", "dummy", "-r", "48000"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_for(lambda: jack_running() or process.poll() is not None, START_TIMEOUT, interval=0.05)
        if not jack_running():
            process.kill()
            error = process.communicate()[1].decode(errors="replace").strip().splitlines()[-3:]
            pytest.fail(f"jackd -d dummy did not start: {' / '.join(error)}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MIDO_BACKEND", JACK_BACKEND)
        patch.setenv("JACK_NO_START_SERVER", "1")  # a lost server must fail the test, not start another one
        yield JACK_BACKEND
    if process is not None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()


def _no_autostart() -> dict[str, str]:
    return {**os.environ, "JACK_NO_START_SERVER": "1"}
