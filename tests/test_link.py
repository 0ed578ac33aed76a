"""Ableton Link between real processes on this machine: the engine's session and an aalink peer in a
subprocess share tempo changes both ways (Link's discovery runs over this machine's network stack)."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from tests.conftest import wait_for
from vjengine.params import default_store
from vjengine.tempo.arbiter import TempoArbiter
from vjengine.tempo.link import LinkSession

pytest.importorskip("aalink")

# A Link peer as another program would be one: prints its tempo and peer count, sets a tempo read from stdin.
PEER = r"""
import asyncio, sys, threading
from aalink import Link

async def main():
    link = Link(float(sys.argv[1]))
    await asyncio.sleep(0.5)
    link.enabled = True
    loop = asyncio.get_running_loop()

    def read():
        for line in sys.stdin:
            loop.call_soon_threadsafe(setattr, link, "tempo", float(line))

    threading.Thread(target=read, daemon=True).start()
    while True:
        print(f"{link.tempo:.2f} {link.num_peers}", flush=True)
        await asyncio.sleep(0.05)

asyncio.run(main())
"""


class Peer:
    """The subprocess peer and the last line it printed."""

    def __init__(self, bpm: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", PEER, str(bpm)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.tempo, self.peers = bpm, 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            fields = line.split()
            if len(fields) != 2:  # anything else the library prints must not end the reading
                continue
            self.tempo, self.peers = float(fields[0]), int(fields[1])

    def set_tempo(self, bpm: float) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{bpm}\n")
        self.process.stdin.flush()

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def linked():
    """The engine's session (tempo.bpm 100) and a peer at 100 bpm, seeing each other."""
    store = default_store()
    store.set("tempo.bpm", 100.0)
    peer = Peer(100.0)
    session = LinkSession(store, TempoArbiter(store))
    session.start()
    try:
        assert wait_for(lambda: session.peers >= 1 and peer.peers >= 1, timeout=60)
        yield store, session, peer
    finally:
        session.close()
        peer.close()


def test_a_tempo_set_here_reaches_the_other_peer(linked):
    store, session, peer = linked
    store.set("tempo.bpm", 140.0, source="osc")
    assert wait_for(lambda: peer.tempo == 140.0, timeout=30)
    assert session.sent >= 1


def test_a_tempo_set_by_the_other_peer_becomes_tempo_bpm(linked):
    store, session, peer = linked
    peer.set_tempo(90.0)
    assert wait_for(lambda: store.get("tempo.bpm") == 90.0, timeout=30)


def test_the_session_beat_count_moves(linked):
    store, session, peer = linked
    first = session.beats()
    assert wait_for(lambda: session.beats() > first + 0.1, timeout=30)
