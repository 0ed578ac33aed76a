"""Where the sound comes from: a sound card (PortAudio through python-sounddevice), a JACK port, or a file
played in real time and looped.

Every input hands mono float32 samples to a `deliver(samples, samplerate)` callback from its own thread
(the device's callback, JACK's process thread, or a pacing thread for files) and does nothing else there:
the analysis runs on the analyser's thread. Each input is watched by a thread of its own that opens it,
notices when it is lost (an unplugged interface, a stopped JACK server) and opens it again when it
returns, so a missing device is a line in the log and never the end of the show.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vjengine.audio.features import HOP
from vjengine.errors import VJError
from vjengine.kit import Backoff, Worker

log = logging.getLogger(__name__)

Deliver = Callable[..., None]  # deliver(samples: 1-D float32, samplerate: int, wait: bool = False)
RETRY_SECONDS = 2.0  # how often a missing input is looked for again
CLIENT_NAME = "vjengine"  # the JACK client's name; its input port is vjengine:in


class AudioUnavailable(Exception):
    """An input that cannot be opened now (no device, no backend, no server); it is tried again later."""


class AudioLost(Exception):
    """An open input went away (unplugged, the server stopped); it is reopened when it returns."""


class AudioInput:
    """Opens, watches and reopens one input; subclasses say how to open and how to tell it is gone.

    The watcher is a kit Worker that reopens with a fixed back-off of RETRY_SECONDS: a missing or lost input
    is said once, and once more when it is back."""

    kind = ""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.name = spec
        self.connected = False  # open and delivering, as far as the backend says
        self.opened = 0  # how many times it was opened: 2 or more means it came back after a loss
        self._deliver: Deliver | None = None
        self._lost = threading.Event()
        self._watcher = Worker(
            f"audio input {spec}",
            self._watch,
            reopen=Backoff(RETRY_SECONDS, RETRY_SECONDS),
            consequence=f"going on without audio, looking again every {RETRY_SECONDS:g} s",
            level=logging.WARNING,
            logger=log,
        )

    def start(self, deliver: Deliver) -> None:
        """Open in the background and keep it open until `close()`; `deliver` gets the samples."""
        self._deliver = deliver
        self._watcher.start()

    def close(self) -> None:
        """Stop watching and close the input (waits for the watcher thread)."""
        self._watcher.stop(timeout=5)

    @property
    def _stopping(self) -> bool:
        return self._watcher.stopping

    def _watch(self) -> None:
        """One opening of the input: open, watch while it lasts, shut; raises when it cannot open or is lost."""
        self._lost.clear()
        self._open()
        self.connected, self.opened = True, self.opened + 1
        self._watcher.healthy()
        try:
            while not self._stopping and not self._lost.is_set() and self._healthy():
                self._watcher.wait(0.25)
        finally:
            self.connected = False
            self._shut()
        if not self._stopping:
            raise AudioLost("lost; the audio signals glide to rest")

    def _open(self) -> None:
        raise NotImplementedError

    def _healthy(self) -> bool:
        """Polled while open: False when the backend says the input is gone without calling back."""
        return True

    def _shut(self) -> None:
        raise NotImplementedError


class FileInput(AudioInput):
    """A sound file (WAV, FLAC, MP3, OGG ...) played in real time and looped: rehearsal without a sound
    card, and the tests. It is read block by block (an hour's set is never held in memory whole);
    `realtime=False` hands blocks over as fast as the analysis takes them."""

    kind = "file"

    def __init__(self, path: str, realtime: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(f"file:{path}")
        self.path = Path(path).expanduser()
        self.realtime, self.clock = realtime, clock
        self.samplerate = check_sound_file(self.path)
        self.loops = 0  # how many times the file wrapped around
        self._player: Worker | None = None

    def _open(self) -> None:
        self._player = Worker("audio-file", self._play, on_exit=self._lost.set, logger=log)
        self._player.start()

    def _play(self) -> None:
        import soundfile

        player = self._player
        assert player is not None
        started, played = self.clock(), 0  # samples handed over since the start: the real-time schedule
        try:
            with soundfile.SoundFile(str(self.path)) as sound:
                while not player.stopping:
                    if self.realtime:
                        due = int((self.clock() - started) * self.samplerate)
                        if due < played + HOP:
                            player.wait((played + HOP - due) / self.samplerate)
                            continue
                    block = sound.read(HOP, dtype="float32", always_2d=True)
                    if len(block) < HOP:  # the end: from the top again
                        sound.seek(0)
                        self.loops += 1
                    played += len(block)
                    assert self._deliver is not None
                    self._deliver(block.mean(axis=1), self.samplerate, wait=not self.realtime)
        except (RuntimeError, OSError) as exc:  # the file changed or vanished under us: retried like a device
            log.warning("audio input %s: %s", self.name, exc)
            self._lost.set()

    def _shut(self) -> None:
        if self._player is not None:
            self._player.stop(timeout=5)


def check_sound_file(path: Path, option: str = "--audio file:") -> int:
    """A readable sound file's sample rate; else a VJError naming `option` and saying what is wrong."""
    import soundfile

    if not path.is_file():
        raise VJError(f"{option}{path}: no such file; give a WAV, FLAC, OGG or MP3 file")
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        why = f"cannot read it as sound ({exc})"
        raise VJError(f"{option}{path}: {why}; give a WAV, FLAC, OGG or MP3 file") from None
    if info.frames < HOP:
        raise VJError(f"{option}{path}: shorter than {HOP} samples; give a longer recording")
    return int(info.samplerate)


def read_mono(path: Path, seconds: float) -> tuple[np.ndarray, int]:
    """The first `seconds` of a sound file mixed to mono float32, and its rate (for `bench audio`)."""
    import soundfile

    rate = check_sound_file(path, "--file ")
    data, _ = soundfile.read(str(path), frames=int(seconds * rate), dtype="float32", always_2d=True)
    return np.ascontiguousarray(data.mean(axis=1), dtype=np.float32), rate


class DeviceInput(AudioInput):
    """A sound card's input through PortAudio: by index, by name, or by part of its name."""

    kind = "device"

    def __init__(self, query: str) -> None:
        super().__init__(query)
        self.query = query
        self._stream: Any = None

    def _open(self) -> None:
        sd = sounddevice_module()
        _rescan(sd)  # PortAudio lists devices once per initialisation: a replugged interface needs a rescan
        index = find_device(sd, self.query)
        info = sd.query_devices(index)
        rate = int(info["default_samplerate"])
        channels = min(2, int(info["max_input_channels"]))

        def callback(indata: np.ndarray, frames: int, _time: Any, _status: Any) -> None:
            # PortAudio's thread: copy out and return; the analysis runs elsewhere.
            assert self._deliver is not None
            self._deliver(indata.mean(axis=1).astype(np.float32), rate)

        try:
            self._stream = sd.InputStream(
                device=index,
                channels=channels,
                samplerate=rate,
                blocksize=HOP,
                dtype="float32",
                callback=callback,
                finished_callback=self._lost.set,
            )
            self._stream.start()
        except Exception as exc:  # PortAudioError and friends: the device refused (busy, gone again)
            self._shut()
            raise AudioUnavailable(f"cannot open {info['name']!r} ({exc})") from None
        self.name = f"{info['name']}"

    def _healthy(self) -> bool:
        return self._stream is not None and self._stream.active

    def _shut(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close(ignore_errors=True)
            except Exception as exc:  # a vanished device can fail even to close; nothing is left to release
                log.debug("closing audio input %s: %s", self.name, exc)


def sounddevice_module() -> Any:
    """python-sounddevice, or AudioUnavailable saying why (no PortAudio library on this machine)."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        why = f"PortAudio is not available ({exc})"
        raise AudioUnavailable(f"{why}; install libportaudio2 or use --audio jack") from None
    return sounddevice


def _rescan(sd: Any) -> None:
    # sounddevice has no public rescan; terminating and initialising PortAudio again is how it is done,
    # and it is safe here because this input's own stream is closed before any reopening.
    try:
        sd._terminate()
        sd._initialize()
    except Exception as exc:  # a PortAudio that cannot restart keeps its old list; opening then says what fails
        log.debug("PortAudio rescan failed: %s", exc)


def input_devices(sd: Any) -> list[tuple[int, str, int, str]]:
    """(index, name, input channels, host API) of every input device PortAudio lists."""
    apis = sd.query_hostapis()
    return [
        (i, d["name"], int(d["max_input_channels"]), apis[d["hostapi"]]["name"])
        for i, d in enumerate(sd.query_devices())
        if d["max_input_channels"] > 0
    ]


def find_device(sd: Any, query: str) -> int:
    """The input device `query` names: an index, an exact name, or the only name it is part of."""
    devices = input_devices(sd)
    if query.strip().isdigit():
        index = int(query)
        if any(i == index for i, *_ in devices):
            return index
        raise AudioUnavailable(f"no audio input with index {index} ({_listing(devices)})")
    exact = [i for i, name, *_ in devices if name.lower() == query.lower()]
    parts = [i for i, name, *_ in devices if query.lower() in name.lower()]
    if exact or len(parts) == 1:
        return (exact or parts)[0]
    if parts:
        names = ", ".join(repr(name) for i, name, *_ in devices if i in parts)
        raise AudioUnavailable(f"{query!r} matches several inputs ({names}); give more of the name or the index")
    raise AudioUnavailable(f"no audio input matches {query!r} ({_listing(devices)})")


def _listing(devices: list[tuple[int, str, int, str]]) -> str:
    return "inputs: " + ", ".join(f"{i} {name!r}" for i, name, *_ in devices) if devices else "no inputs at all"


class JackInput(AudioInput):
    """An input port of our own on the JACK server (vjengine:in), connected to `port` (a client's output,
    e.g. `system:capture_1`) or, when none is named, to every physical capture port."""

    kind = "jack"

    def __init__(self, port: str = "") -> None:
        super().__init__(f"jack:{port}" if port else "jack")
        self.port = port
        self._client: Any = None
        self._inport: Any = None

    def _open(self) -> None:
        jack = jack_module()
        try:
            client = jack.Client(CLIENT_NAME, no_start_server=True)
        except jack.JackError as exc:
            raise AudioUnavailable(f"no JACK server is running ({exc}); start one (jackd, QjackCtl)") from None
        inport = client.inports.register("in")
        rate = client.samplerate

        def process(frames: int) -> None:
            # JACK's real-time thread: copy the buffer out and return.
            assert self._deliver is not None
            self._deliver(inport.get_array().copy(), rate)

        client.set_process_callback(process)
        client.set_shutdown_callback(lambda _status, _reason: self._lost.set())
        client.activate()
        self._client, self._inport = client, inport
        self.name = f"jack:{self.port or 'capture'} -> {inport.name}"
        self._connect()

    def _healthy(self) -> bool:
        self._connect()  # a source client that starts (or restarts) later is connected when it appears
        return True

    def _connect(self) -> None:
        client, inport = self._client, self._inport
        if client is None or inport is None:
            return
        try:
            if self.port:
                wanted = [p.name for p in client.get_ports(self.port, is_audio=True, is_output=True)]
                wanted = [name for name in wanted if name == self.port] or wanted[:1]
            else:
                wanted = [p.name for p in client.get_ports(is_audio=True, is_output=True, is_physical=True)]
            have = {p.name for p in client.get_all_connections(inport)}
            for name in wanted:
                if name not in have:
                    client.connect(name, inport)
                    log.info("audio input: %s connected to %s", name, inport.name)
        except Exception as exc:  # the server going away mid-call; the shutdown callback follows
            log.debug("JACK connect: %s", exc)

    def _shut(self) -> None:
        client, self._client, self._inport = self._client, None, None
        if client is not None:
            try:
                client.deactivate()
                client.close()
            except Exception as exc:  # a dead server: nothing left to release
                log.debug("closing JACK client: %s", exc)


def jack_module() -> Any:
    """The JACK-Client package, or AudioUnavailable saying why (no libjack on this machine)."""
    try:
        import jack
    except (ImportError, OSError) as exc:
        raise AudioUnavailable(f"JACK is not available ({exc}); install JACK (libjack) or use a sound card") from None
    # libjack prints its own lines to stderr on every failed connection (each retry while no server runs):
    # they go to the debug log; what they mean is said once, in our own line.
    jack.set_error_function(_jack_says)
    jack.set_info_function(_jack_says)
    return jack


def _jack_says(message: str) -> None:
    log.debug("JACK: %s", message)


def open_input(spec: str, realtime: bool = True) -> AudioInput | None:
    """The input an `--audio` spec names: DEVICE (index, name or part of it), jack[:PORT], file:PATH, none."""
    spec = spec.strip()
    if spec.lower() in ("", "none", "off"):
        return None
    if spec.startswith("file:"):
        return FileInput(spec[5:], realtime=realtime)
    if spec.lower() == "jack" or spec.lower().startswith("jack:"):
        return JackInput(spec[5:])
    return DeviceInput(spec)


def describe_inputs() -> list[str]:
    """`vjengine devices` lines: the sound cards' inputs and the JACK server's capture ports."""
    lines = []
    try:
        sd = sounddevice_module()
        lines += [f"  {i:<3} {name}  ({channels} ch, {api})" for i, name, channels, api in input_devices(sd)]
    except AudioUnavailable as exc:
        lines.append(f"  sound cards unavailable: {exc}")
    lines += _jack_lines()
    return lines or ["  none"]


def _jack_lines() -> list[str]:
    try:
        jack = jack_module()
        client = jack.Client(f"{CLIENT_NAME}-devices", no_start_server=True)
    except Exception:  # no library or no server: nothing to list, and sound cards may still be there
        return []
    try:
        ports = client.get_ports(is_audio=True, is_output=True)
        return [f"  jack:{p.name}" for p in ports]
    finally:
        client.close()
