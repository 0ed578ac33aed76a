"""The kit's worker thread: named, stopped with a join, failures said once, reopened with back-off."""

from __future__ import annotations

import logging
import threading

import pytest

from vjengine.kit import Backoff, Worker


def test_a_worker_runs_its_body_on_a_named_thread_and_stops_when_asked():
    seen = []
    started = threading.Event()

    def body():
        seen.append(threading.current_thread().name)
        started.set()
        while not worker.wait(30.0):  # woken by stop, not by the timeout
            pass

    worker = Worker("camera 0", body)
    worker.start()
    assert started.wait(30)
    assert seen == ["camera 0"]
    assert worker.is_alive()
    assert worker.stop(timeout=30)
    assert not worker.is_alive() and worker.stopping


def test_stop_wakes_a_body_waiting_on_its_own_condition():
    ready, wake = threading.Event(), threading.Event()

    def body():
        ready.set()
        wake.wait()

    worker = Worker("queue reader", body, on_stop=wake.set).start()
    assert ready.wait(30)
    assert worker.stop(timeout=30)


def test_a_stuck_body_is_said_and_left_behind(caplog):
    release = threading.Event()
    running = threading.Event()

    def body():
        running.set()
        release.wait()

    worker = Worker("stuck", body).start()
    assert running.wait(30)
    try:
        with caplog.at_level(logging.WARNING):
            assert not worker.stop(timeout=0.01)
        assert "stuck did not stop within" in caplog.text
    finally:
        release.set()
        worker.join(30)


def test_a_failing_body_is_said_once_with_its_consequence_and_never_silently(caplog):
    worker = Worker("source x", lambda: 1 / 0, consequence="the last frame stays on screen")
    with caplog.at_level(logging.ERROR):
        worker.start()
        assert worker.join(30)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["source x stopped: division by zero; the last frame stays on screen"]
    assert worker.failure == "division by zero"


def test_a_reopening_worker_backs_off_says_the_failure_once_and_once_more_when_back(caplog):
    attempts = []
    delays = []
    done = threading.Event()

    class Counting(Backoff):
        def delay(self, failures):
            delays.append(super().delay(failures))
            return 0.0  # the schedule is checked below, without waiting it out

    def body():
        attempts.append(len(attempts))
        if len(attempts) <= 4:
            raise OSError("device vanished")
        worker.healthy()
        done.set()

    worker = Worker("output y", body, reopen=Counting(first=1.0, most=5.0))
    with caplog.at_level(logging.DEBUG):
        worker.start()
        assert done.wait(30)
        assert worker.join(30)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert said == [
        "output y failed: device vanished; retrying with back-off",
        "output y is back after 4 failed attempts",
    ]
    assert delays == [1.0, 2.0, 4.0, 5.0]
    assert len(attempts) == 5 and worker.failures == 0 and worker.failure is None


def test_stop_cuts_a_back_off_short():
    failed = threading.Event()

    def body():
        failed.set()
        raise OSError("gone")

    worker = Worker("retrying", body, reopen=Backoff(first=3600.0, most=3600.0)).start()
    assert failed.wait(30)
    assert worker.stop(timeout=30)  # an hour's back-off would time this out


def test_start_after_stop_and_a_second_start_do_nothing():
    calls = []
    worker = Worker("once", lambda: calls.append(1))
    worker.start().start()
    assert worker.join(30)
    assert calls == [1]
    stopped = Worker("never", lambda: calls.append(2))
    assert stopped.stop()
    stopped.start()
    assert not stopped.started and calls == [1]


@pytest.mark.parametrize(("failures", "delay"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (1000, 3.0)])
def test_backoff_doubles_up_to_its_most(failures, delay):
    assert Backoff(first=0.5, most=3.0).delay(failures) == delay


def test_on_exit_runs_on_the_thread_however_the_body_ends():
    threads = []
    for body in (lambda: None, lambda: 1 / 0):
        worker = Worker("releasing", body, on_exit=lambda: threads.append(threading.current_thread().name))
        worker.start()
        assert worker.join(30)
    assert threads == ["releasing", "releasing"]
