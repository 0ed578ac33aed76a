"""The kit's newest-value slot: latest wins, serial numbers, waiting for a fresh value without polling."""

from __future__ import annotations

import threading

from vjengine.kit import Newest


def test_a_newer_value_replaces_one_nobody_took():
    slot: Newest[str] = Newest()
    assert slot.get() is None and slot.latest() == (0, None)
    assert slot.put("a") == 1
    assert slot.put("b") == 2
    assert slot.get() == "b" and slot.latest() == (2, "b") and slot.serial == 2


def test_wait_newer_returns_at_once_when_something_newer_is_there():
    slot: Newest[int] = Newest()
    slot.put(10)
    slot.put(11)
    assert slot.wait_newer(0, timeout=30) == (2, 11)
    assert slot.wait_newer(1, timeout=30) == (2, 11)


def test_wait_newer_blocks_until_a_producer_puts_a_value():
    slot: Newest[int] = Newest()
    slot.put(1)
    waiting = threading.Event()
    got = []

    def consumer():
        waiting.set()
        got.append(slot.wait_newer(1, timeout=30))

    thread = threading.Thread(target=consumer)
    thread.start()
    assert waiting.wait(30)
    slot.put(2)
    thread.join(30)
    assert got == [(2, 2)]


def test_wait_newer_gives_none_after_its_timeout_when_nothing_came():
    slot: Newest[int] = Newest()
    slot.put(1)
    assert slot.wait_newer(1, timeout=0.01) is None


def test_close_wakes_a_waiting_consumer_and_keeps_the_last_value():
    slot: Newest[int] = Newest()
    slot.put(5)
    waiting = threading.Event()
    got = []

    def consumer():
        waiting.set()
        got.append(slot.wait_newer(1))  # no timeout: only close can end this

    thread = threading.Thread(target=consumer)
    thread.start()
    assert waiting.wait(30)
    slot.close()
    thread.join(30)
    assert not thread.is_alive() and got == [None]
    assert slot.put(6) == 0 and slot.get() == 5 and slot.closed
