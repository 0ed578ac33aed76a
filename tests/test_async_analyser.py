"""AsyncAnalyser on the kit: newest frame only, each frame once, a failure said once, close never hangs."""

from __future__ import annotations

import logging
import threading

import numpy as np
from conftest import wait_for

from vjengine.analysis import AsyncAnalyser
from vjengine.sources import Frame


def frame(index: int) -> Frame:
    return Frame(image=np.zeros((4, 4, 3), np.uint8), index=index, time=float(index))


class Counting:
    """Counts the frames it analyses; fails on the indices in `failing`; can be held up by `gate`."""

    name = "counting"

    def __init__(self, failing: set[int] = frozenset()) -> None:
        self.seen: list[int] = []
        self.failing = failing
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def analyse(self, frame: Frame) -> dict[str, float]:
        self.entered.set()
        self.gate.wait(30)
        self.seen.append(frame.index)
        if frame.index in self.failing:
            raise RuntimeError("model crashed")
        return {"counting.index": float(frame.index)}


def test_a_frame_submitted_again_is_not_analysed_again_and_a_busy_analyser_skips_to_the_newest():
    counting = Counting()
    counting.gate.clear()
    analyser = AsyncAnalyser(counting)
    try:
        analyser.submit(frame(0))
        assert counting.entered.wait(30)  # busy with frame 0 while three more come
        for index in (1, 2, 3, 3):
            analyser.submit(frame(index))
        counting.gate.set()
        assert wait_for(lambda: analyser.latest() == {"counting.index": 3.0})
        analyser.submit(frame(3))  # the source had nothing newer: the render loop hands the same frame again
        assert analyser.submitted == 4  # 0, 1, 2, 3
        analyser.submit(frame(4))
        assert wait_for(lambda: analyser.latest() == {"counting.index": 4.0})
    finally:
        analyser.close()
    assert counting.seen == [0, 3, 4]


def test_a_failing_analyser_is_said_once_and_keeps_its_last_signals(caplog):
    counting = Counting(failing={1, 2})
    analyser = AsyncAnalyser(counting)
    try:
        with caplog.at_level(logging.ERROR, logger="vjengine.analysis"):
            for index in range(3):
                analyser.submit(frame(index))
                assert wait_for(lambda index=index: counting.seen[-1:] == [index])
        assert analyser.latest() == {"counting.index": 0.0}
    finally:
        analyser.close()
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == ["analyser counting failed (model crashed); keeping its last signals"]


def test_close_ends_a_pacing_analyser_at_once(caplog):
    analyser = AsyncAnalyser(Counting(), max_rate=0.001)  # a pacer that would wait 1000 s between frames
    analyser.submit(frame(0))
    assert wait_for(lambda: analyser.updates == 1)
    with caplog.at_level(logging.WARNING, logger="vjengine.analysis"):
        analyser.close()  # waits at most 5 s, and says so when the thread is still there
    assert not [r for r in caplog.records if "did not stop" in r.getMessage()]
