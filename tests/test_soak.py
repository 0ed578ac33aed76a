"""`vjengine bench soak`: a short soak through the real CLI, and the verdict on made-up measurements."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import run_cli
from vjengine.commands.soak import FLAT_MIB, Load, make_report, median_fps


@pytest.mark.slow  # an engine process and its controllers for a few seconds
def test_a_short_soak_renders_records_and_applies_the_messages(tmp_path):
    """A few seconds through the CLI: counts, not timings, are checked (the machine may be busy)."""
    log = tmp_path / "engine.log"
    args = ["bench", "soak", "--minutes", "0.05", "--model", "random:sg2-32", "--rate", "50", "--clients", "2"]
    result = run_cli(*args, "--device", "cpu", "--log", str(log), "--json", cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr  # 1: a fail verdict, said in the report
    report = json.loads(result.stdout)
    assert result.returncode == (0 if report["verdict"] == "pass" else 1)
    assert (report["verdict"] == "pass") == (not report["problems"]), report
    assert report["frames"] >= 1 and report["fps_median"] > 0
    # Every OSC message the controller sent reached the engine's counter, at most (UDP may drop some on a
    # busy machine), bad ones included; and the last value sent reads back through OSCQuery.
    # One datagram in 50 is not OSC at all: 3 s at 50 a second send a few, and the engine renders on through them.
    assert report["osc_bad_sent"] >= 1 and report["junk_datagrams_sent"] >= 1
    assert 0 < report["osc_handled"] <= report["osc_sent"]
    assert report["osc_applied"] is True
    assert report["preview_connections"] >= 1 and report["preview_frames"] >= 1
    assert report["rss_samples"] >= 2 and 0 < report["rss_start_mib"] <= report["rss_end_mib"] + FLAT_MIB
    assert abs(report["rss_second_half_mib"] - (report["rss_end_mib"] - report["rss_mid_mib"])) < 0.15
    text = log.read_text()
    assert "recorded" in text and "OSC /vj/no/such/parameter: no such parameter" in text
    assert not list(tmp_path.glob("*.npz"))  # the recording lived in the soak's own temporary folder


def _measure(samples: list[tuple[float, float]], times: np.ndarray | None = None, applied: bool = True):
    times = np.arange(0, 10, 0.1) if times is None else times
    return make_report("random", 1.0, samples, 0.0, 60.0, times, Load(100, 10, 2, 3, 30), 100, applied, 0)


def test_flat_memory_passes_and_growth_in_the_second_half_fails():
    warm = [(t, 500.0 + min(t, 10) * 5) for t in range(0, 61)]  # grows while warming up, then flat
    assert _measure(warm).verdict == "pass"
    leaking = [(t, 500.0 + t * 0.5) for t in range(0, 61)]  # +15 MiB in the second half
    report = _measure(leaking)
    assert report.verdict == "fail" and report.rss_second_half_mib == 15.0
    assert f"more than {FLAT_MIB:g}" in report.problems[0]


def test_messages_that_did_not_arrive_fail_the_soak():
    report = _measure([(0.0, 500.0), (60.0, 500.0)], applied=False)
    assert report.verdict == "fail" and "read back" in report.problems[0]


def test_median_fps_counts_frames_per_second():
    steady = np.arange(0, 20, 0.1)  # 10 fps
    stall = np.concatenate([np.arange(0, 10, 0.1), np.arange(15, 20, 0.5)])  # 10 fps, a stall, then 2 fps
    assert median_fps(steady) == 10.0
    assert median_fps(stall) == 10.0 and median_fps(stall[stall >= 15]) == 2.0
    assert median_fps(np.array([0.0])) == 0.0
