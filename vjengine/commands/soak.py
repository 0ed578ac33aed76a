"""`vjengine bench soak`: the engine as a show runs it, for minutes, watched from outside.

A real `vjengine run` (a child process, as the VJ starts it) renders to the preview with a recording on,
while this process plays the room around it: an OSC controller sending many messages a second over UDP
to several parameters (bad ones among them: unknown addresses, values out of range or of the wrong type,
datagrams that are not OSC), and browsers opening and closing the MJPEG stream. It samples the child's
resident memory (RSS) throughout, and reports frames, frame rate, messages handled and memory in the
first and second halves, with a verdict: memory is flat when the second half grew by at most
`FLAT_MIB`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vjengine.errors import VJError
from vjengine.params import REGISTRY

# A leak of a few bytes per frame or message shows as tens of MiB over an hour; less than this over the
# second half is the allocator's noise (arenas, JPEG buffers settling), not growth.
FLAT_MIB = 8.0
# What a controller moves in a show; values are drawn inside each parameter's registered range.
MOVED = ("transform.rotate", "transform.x", "transform.y", "corruption.gain", "truncation.psi", "latent.drift")
# The engine's own config for the soak when none is given: nothing downloaded, nothing advertised.
_OFFLINE_CONFIG = """\
[visual]
weights = "none"
[landmarks]
hands = "none"
face = "none"
pose = "none"
[oscquery]
mdns = false
"""
_MARKER_SEED = 4242  # sent last, read back through OSCQuery: proof the messages reach the parameters


@dataclass
class SoakReport:
    """What `vjengine bench soak` prints (`--json`: these fields)."""

    model: str
    minutes: float
    frames: int
    fps_median: float
    fps_first_half: float
    fps_second_half: float
    osc_sent: int
    osc_bad_sent: int
    junk_datagrams_sent: int
    osc_handled: int
    osc_applied: bool
    preview_connections: int
    preview_frames: int
    rss_start_mib: float
    rss_mid_mib: float
    rss_end_mib: float
    rss_first_half_mib: float
    rss_second_half_mib: float
    rss_samples: int
    verdict: str
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [
            f"soak: {self.model} for {self.minutes:g} min: {self.frames} frames, median {self.fps_median:.1f} fps "
            f"(first half {self.fps_first_half:.1f}, second {self.fps_second_half:.1f})",
            f"  OSC: {self.osc_sent} messages sent ({self.osc_bad_sent} bad) and {self.junk_datagrams_sent} "
            f"non-OSC datagrams; {self.osc_handled} handled; last value read back: "
            f"{'yes' if self.osc_applied else 'NO'}",
            f"  preview: {self.preview_connections} connections, {self.preview_frames} frames received",
            f"  memory (RSS): {self.rss_start_mib:.1f} -> {self.rss_mid_mib:.1f} -> {self.rss_end_mib:.1f} MiB; "
            f"first half {self.rss_first_half_mib:+.1f} MiB, second half {self.rss_second_half_mib:+.1f} MiB "
            f"({self.rss_samples} samples)",
            f"  verdict: {self.verdict.upper()}"
            + (f": {'; '.join(self.problems)}" if self.problems else f" (second half within {FLAT_MIB:g} MiB)"),
        ]
        return "\n".join(lines)


def soak(
    minutes: float,
    model: str = "random:sg2-64",
    rate: float = 200.0,
    clients: int = 3,
    config: str | None = None,
    device: str = "auto",
    log_file: str | None = None,
) -> SoakReport:
    """Run the engine for `minutes` of rendering under load and report (see the module's docstring)."""
    if not minutes > 0 or not rate > 0 or clients < 0:
        raise VJError("bench soak needs --minutes > 0, --rate > 0 and --clients >= 0")
    with tempfile.TemporaryDirectory(prefix="vjengine-soak-") as folder:
        work = Path(folder)
        engine = _Engine(work, model, config, device, Path(log_file) if log_file else work / "engine.log")
        try:
            engine.wait_until_rendering(timeout=600)
            return _load_and_measure(engine, minutes, model, rate, clients)
        finally:
            engine.stop()


class _Engine:
    """`vjengine run` in a child process, with a preview, a recording, OSC in and OSCQuery."""

    def __init__(self, work: Path, model: str, config: str | None, device: str, log: Path) -> None:
        self.preview, self.osc, self.oscquery = _free_port(socket.SOCK_STREAM), _free_port(), _free_port()
        self.recording = work / "soak.npz"
        self.log = log
        if config is None:
            config = str(work / "soak.toml")
            Path(config).write_text(_OFFLINE_CONFIG)
        args = [sys.executable, "-m", "vjengine", "run", "--config", config, "--model", model, "--device", device]
        args += ["--source", "pattern", "--output", f"preview:{self.preview}", "--record", str(self.recording)]
        args += ["--osc-port", str(self.osc), "--oscquery-port", str(self.oscquery)]
        with open(self.log, "wb") as out:  # a file, not a pipe: an hour of status lines must not block the child
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        self.samples: list[tuple[float, float]] = []  # (monotonic time, RSS MiB)

    def wait_until_rendering(self, timeout: float) -> None:
        """Until the preview serves a frame (the model is loaded and the loop runs)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise VJError(
                    f"bench soak: the engine exited ({self.process.returncode}) before rendering:\n{self.tail()}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.preview}/frame.jpg", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise VJError(f"bench soak: no frame after {timeout:.0f} s:\n{self.tail()}")

    def rss_mib(self) -> float | None:
        return _rss_mib(self.process.pid)

    def stop(self) -> int:
        """SIGINT, as Ctrl-C: the engine finishes its files; killed if it has not within a minute."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _load_and_measure(engine: _Engine, minutes: float, model: str, rate: float, clients: int) -> SoakReport:
    stop = threading.Event()
    sender = _OSCLoad(engine.osc, rate)
    viewers = [_Viewer(engine.preview, seed) for seed in range(clients)]
    threads = [threading.Thread(target=sender.run, args=(stop,), name="soak osc", daemon=True)]
    threads += [threading.Thread(target=v.run, args=(stop,), name="soak viewer", daemon=True) for v in viewers]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    interval = min(1.0, minutes * 60 / 200)  # at least ~200 samples, at most one a second
    while (now := time.monotonic()) - started < minutes * 60 and engine.process.poll() is None:
        if (rss := engine.rss_mib()) is not None:
            engine.samples.append((now, rss))
        time.sleep(interval)
    ended = time.monotonic()
    stop.set()
    for thread in threads:
        thread.join(10)
    applied = sender.mark_and_read_back(engine.oscquery)
    time.sleep(0.5)  # the last datagrams are handled before the final status line
    if engine.process.poll() is not None:
        raise VJError(f"bench soak: the engine stopped during the soak ({engine.process.returncode}):\n{engine.tail()}")
    status = engine.stop()
    log = engine.log.read_text(errors="replace")
    times = _recorded_times(engine.recording, log)
    load = Load(
        sender.sent, sender.bad, sender.junk, sum(v.connections for v in viewers), sum(v.frames for v in viewers)
    )
    return make_report(model, minutes, engine.samples, started, ended, times, load, _handled(log), applied, status)


@dataclass
class Load:
    """What the soak sent to the engine, and what its viewers received."""

    osc_sent: int = 0
    osc_bad_sent: int = 0
    junk_datagrams_sent: int = 0
    preview_connections: int = 0
    preview_frames: int = 0


def make_report(
    model: str,
    minutes: float,
    samples: list[tuple[float, float]],
    started: float,
    ended: float,
    times: np.ndarray,
    load: Load,
    handled: int,
    applied: bool,
    status: int,
) -> SoakReport:
    """The report and its verdict from the measurements: RSS `samples` (time, MiB) between `started` and
    `ended`, the recorded frames' `times`, the `load`, the engine's count of OSC messages `handled`, whether
    the last value read back (`applied`), and the engine's exit `status`."""
    middle = (started + ended) / 2
    rss = [mib for _, mib in samples] or [0.0]
    mid = min(samples, key=lambda s: abs(s[0] - middle))[1] if samples else 0.0
    half = (times[-1] / 2) if len(times) else 0.0
    problems = []
    if rss[-1] - mid > FLAT_MIB:
        problems.append(f"memory grew {rss[-1] - mid:.1f} MiB in the second half (more than {FLAT_MIB:g})")
    if status != 0:
        problems.append(f"the engine exited with status {status}")
    if not applied:
        problems.append("the last OSC value did not read back through OSCQuery")
    if not len(times):
        problems.append("no frame was recorded")
    return SoakReport(
        model=model,
        minutes=minutes,
        frames=len(times),
        fps_median=median_fps(times),
        fps_first_half=median_fps(times[times < half]),
        fps_second_half=median_fps(times[times >= half]),
        **asdict(load),
        osc_handled=handled,
        osc_applied=applied,
        rss_start_mib=round(rss[0], 1),
        rss_mid_mib=round(mid, 1),
        rss_end_mib=round(rss[-1], 1),
        rss_first_half_mib=round(mid - rss[0], 1),
        rss_second_half_mib=round(rss[-1] - mid, 1),
        rss_samples=len(samples),
        verdict="fail" if problems else "pass",
        problems=problems,
    )


def median_fps(times: np.ndarray) -> float:
    """The median of the frames counted in each whole second (or the mean rate over less than two seconds)."""
    if len(times) < 2:
        return 0.0
    span = times[-1] - times[0]
    if span < 2:
        return round((len(times) - 1) / span, 2) if span > 0 else 0.0
    edges = np.arange(times[0], times[-1], 1.0)
    counts = np.histogram(times, bins=edges)[0]
    return round(float(statistics.median(counts)), 2)


def _recorded_times(path: Path, log: str) -> np.ndarray:
    if not path.exists():
        raise VJError(f"bench soak: the engine wrote no recording:\n{log[-2000:]}")
    with np.load(path, allow_pickle=False) as recording:
        return np.asarray(recording["time"], np.float64)


def _handled(log: str) -> int:
    """OSC messages the engine counted, from its last status line ("osc :PORT N msgs")."""
    counts = re.findall(r"osc :\d+ (\d+) msgs", log)
    return int(counts[-1]) if counts else 0


class _OSCLoad:
    """A controller sending `rate` messages a second: good values to `MOVED`, and now and then a bad one."""

    def __init__(self, port: int, rate: float) -> None:
        from pythonosc.udp_client import SimpleUDPClient

        self.port, self.rate = port, rate
        self.client = SimpleUDPClient("127.0.0.1", port)
        self.sent = self.bad = self.junk = 0
        self.random = random.Random(0)
        params = {p.name: p for p in REGISTRY}
        self.moved = [params[name] for name in MOVED]

    def run(self, stop: threading.Event) -> None:
        started = time.monotonic()
        for count in itertools.count():
            if stop.is_set():
                return
            # Paced to the rate: catches up after a stall rather than drifting.
            delay = started + count / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._send(count)

    def _send(self, count: int) -> None:
        if count % 50 == 49:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
                raw.sendto(b"\x00not osc at all", ("127.0.0.1", self.port))
            self.junk += 1
            return
        if count % 10 == 9:
            address, value = [
                ("/vj/no/such/parameter", 1.0),
                ("/vj/truncation/psi", 1e6),  # out of range
                ("/vj/latent/seed", "not a number"),
                ("/vj/transform/x", float("nan")),
            ][count // 10 % 4]
            self.bad += 1
        else:
            param = self.moved[count % len(self.moved)]
            address, value = param.osc_address, self.random.uniform(param.min, param.max)
        self.client.send_message(address, value)
        self.sent += 1

    def mark_and_read_back(self, oscquery: int, timeout: float = 10.0) -> bool:
        """Send a last value and read it back through OSCQuery: did the messages reach the parameters?"""
        self.client.send_message("/vj/latent/seed", _MARKER_SEED)
        self.sent += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{oscquery}/vj/latent/seed?VALUE", timeout=5) as answer:
                    if json.loads(answer.read()).get("VALUE") == [_MARKER_SEED]:
                        return True
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        return False


class _Viewer:
    """A browser on the preview: opens the MJPEG stream, watches a few frames, leaves, comes back."""

    def __init__(self, port: int, seed: int) -> None:
        self.url = f"http://127.0.0.1:{port}/stream"
        self.random = random.Random(seed)
        self.connections = self.frames = 0

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            # A refused or dropped connection is what the soak is about: the next one must work.
            with contextlib.suppress(OSError):
                self._watch(stop, self.random.randint(1, 20))
            stop.wait(self.random.uniform(0.05, 1.0))

    def _watch(self, stop: threading.Event, frames: int) -> None:
        with urllib.request.urlopen(self.url, timeout=10) as stream:
            self.connections += 1
            seen = 0
            while seen < frames and not stop.is_set():
                chunk = stream.read1(65536)
                if not chunk:
                    return
                seen += chunk.count(b"\xff\xd8\xff")  # a JPEG's start
                self.frames += chunk.count(b"\xff\xd8\xff")


def _free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rss_mib(pid: int) -> float | None:
    """A process's resident memory: /proc on Linux, ps elsewhere; None once it is gone."""
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
    try:
        out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True, check=True)
        return int(out.stdout.strip()) / 1024
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None
