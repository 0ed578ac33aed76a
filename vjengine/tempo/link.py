"""Ableton Link (through `aalink`): join the session on the network, follow its tempo and beat, and send
tempo changes made here (OSC, MIDI, taps, a MIDI clock, the music) to the other peers.

aalink needs a running asyncio loop when a `Link` is made, so the session lives on a loop thread of
its own; reading it (tempo, beat, peers) is thread-safe in Link, and writes go through the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from vjengine.params import ParamStore
from vjengine.tempo.arbiter import TempoArbiter, is_tempo_change

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05  # how often the session's tempo is looked at: a change reaches tempo.bpm within this
DEFAULT_BPM = 120.0  # what we bring to a session while tempo.bpm is 0 (no tempo)
JOIN_DELAY_SECONDS = 0.5


class LinkError(Exception):
    """aalink cannot be loaded or the session cannot be joined here."""


class LinkSession:
    """One peer in the Link session, proposing its tempo to `arbiter`; `beats()` is the session's beat count."""

    def __init__(self, store: ParamStore, arbiter: TempoArbiter) -> None:
        self.store = store
        self.arbiter = arbiter
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="link", daemon=True)
        self._link: Any = None
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self.sent = 0  # local tempo changes sent to the session

    def start(self) -> None:
        """Join the session (LinkError when aalink is missing), then follow it on a thread of its own."""
        try:
            from aalink import Link
        except (ImportError, OSError) as exc:
            raise LinkError(f"Ableton Link is not available ({exc}); install aalink") from None
        self._thread.start()
        bpm = self.store.get("tempo.bpm") or DEFAULT_BPM

        async def make() -> Any:
            link = Link(bpm)
            link.quantum = self.store.get("tempo.quantum")
            # Enabled at once, a new peer sometimes imposes its tempo on the session (aalink issue 7): joining
            # a set must never change Ableton Live's tempo, so it waits before it joins.
            await asyncio.sleep(JOIN_DELAY_SECONDS)
            link.enabled = True
            return link

        self._link = asyncio.run_coroutine_threadsafe(make(), self._loop).result(timeout=10)
        self.store.add_listener(self._changed)
        self._poller = threading.Thread(target=self._follow, name="link-follow", daemon=True)
        self._poller.start()

    def close(self) -> None:
        """Leave the session and stop its threads."""
        self._stop.set()
        self.store.remove_listener(self._changed)
        if self._poller is not None:
            self._poller.join(timeout=2)
        if self._link is not None:
            self._call(setattr, self._link, "enabled", False)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=2)

    @property
    def peers(self) -> int:
        """Other peers in the session now (the status line shows them)."""
        return int(self._link.num_peers) if self._link is not None else 0

    @property
    def tempo(self) -> float:
        """The session's tempo now (bpm)."""
        return float(self._link.tempo) if self._link is not None else 0.0

    def beats(self) -> float | None:
        """The session's beat count now, or None before it is joined."""
        return float(self._link.beat) if self._link is not None else None

    def _follow(self) -> None:
        """The session's tempo to tempo.bpm, while there are peers to follow (alone, we lead)."""
        while not self._stop.wait(POLL_SECONDS):
            if self.peers > 0:
                self.arbiter.propose("link", round(self.tempo, 2))
            quantum = self.store.get("tempo.quantum")
            if self._link.quantum != quantum:
                self._call(setattr, self._link, "quantum", quantum)

    def _changed(self, name: str, value: Any, source: str) -> None:
        """A tempo set here goes to the session (not one that came from it: that would echo)."""
        if name != "tempo.bpm" or source == "link" or value <= 0:
            return
        if is_tempo_change(self.tempo, value):
            self._call(setattr, self._link, "tempo", float(value))
            self.sent += 1

    def _call(self, function: Any, *args: Any) -> None:
        self._loop.call_soon_threadsafe(function, *args)
