"""Every setting of `vjengine run`, declared once: its config key, type, default, help and command-line flag.

The config's validation and defaults (`vjengine.settings.config`), the `run` command's flags and their help
(`vjengine.cli`), the documented `config.toml` and the settings table in docs/settings.md (`vjengine.settings.docs`)
are all derived from `SETTINGS`. A new setting is one `Setting(...)` line here (and, for a new
section, one line in `SECTIONS`); the code that uses it reads `config.<attr>`.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vjengine.device import DTYPES
from vjengine.params.modulation import DEFAULT_BINDINGS

# A check returns None when the value is fine, else what is expected instead ("a port from 0 to 65535"), or
# the whole complaint when that reads better ("is not an address of this machine; ...").
Check = Callable[[Any], "str | None"]


def port(value: int) -> str | None:
    """A TCP or UDP port number; 0 turns the service off."""
    return None if 0 <= value < 65536 else "a port from 0 to 65535 (0 = off)"


def positive(value: float) -> str | None:
    """Sizes, rates: above zero."""
    return None if value > 0 else "a positive number"


def listening_host(host: str) -> str | None:
    """One of this machine's addresses: otherwise OSC and OSCQuery cannot bind, and the port would be blamed."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, 0, type=socket.SOCK_DGRAM)[0]
    except (socket.gaierror, UnicodeError):
        return f"is not a host name or address; {_HOSTS}"
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"is not an address of this machine; {_HOSTS}"
    return None


_HOSTS = 'listen on "127.0.0.1" (this machine only) or "0.0.0.0" (every network it is on)'


@dataclass(frozen=True)
class Setting:
    """One setting. `section` None: a command-line option only (no config key).

    kind: str, int, float (an int is accepted and converted), bool, or list (a list of text; its flag,
    if any, is repeatable and replaces the whole list). A `default` of None means "not set": the key is
    left out of the config file (`example` shows a value there) and the code decides.
    """

    section: str | None
    key: str
    kind: type
    default: Any
    help: str
    attr: str = ""  # the Config attribute; default SECTION_KEY
    expected: str = ""  # what is allowed, for error messages; default derived from kind and choices
    choices: tuple[str, ...] = ()
    check: Check | None = None
    flag: str | None = None  # e.g. "--osc-port"; a bool's flag sets the opposite of the default
    metavar: str | None = None
    example: Any = None  # for a None default: the commented-out value config.toml shows

    @property
    def name(self) -> str:
        """`section.key`, as in error messages and the docs (a command-line-only setting: its flag)."""
        return f"{self.section}.{self.key}" if self.section else str(self.flag)

    @property
    def field(self) -> str:
        return self.attr or f"{self.section}_{self.key}"

    @property
    def what(self) -> str:
        """What a value must be, for one-line errors."""
        if self.expected:
            return self.expected
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        return {str: "text", int: "a whole number", float: "a number", bool: "true or false", list: "a list of text"}[
            self.kind
        ]

    def problem(self, value: Any) -> str | None:
        """None if `value` (as parsed from TOML or the command line) is allowed, else what is expected."""
        if isinstance(value, bool) and self.kind is not bool:
            return self.what
        types = (int, float) if self.kind is float else self.kind
        if not isinstance(value, types) or (self.kind is list and not all(isinstance(v, str) for v in value)):
            return self.what
        if self.choices and value not in self.choices:
            return self.what
        return self.check(value) if self.check else None


SECTIONS: dict[str, str] = {
    "engine": "The generator, where it runs, and where its frames go.",
    "source": "What the engine looks at, and how the camera is asked to capture.",
    "visual": "The camera features (VGG16).",
    "landmarks": "MediaPipe's hand, face and body tracking. Which detectors run is live: the landmarks.hands / "
    "landmarks.face / landmarks.pose parameters.",
    "osc": "OSC in: every parameter at /vj/<name with dots as slashes> in its own units, and at /vj/norm/<...> as "
    "0..1 for faders (`vjengine params` lists the addresses). OSC out: parameter changes and chosen analysis "
    "signals, e.g. to TouchDesigner.",
    "oscquery": "OSCQuery (HTTP + websocket on one TCP port) lets TouchDesigner, Chataigne and TouchOSC discover "
    "every parameter with its type and range.",
    "web": "The browser page at the preview's address: the picture, every parameter, preset pads and MIDI learn.",
    "midi": "A MIDI controller and its maps, and the MIDI clock.",
    "audio": "The music in, analysed into the audio.* signals (the audio.* parameters shape the analysis).",
    "tempo": "One tempo for the engine; tempo.bpm, tempo.source and tempo.quantum are parameters.",
    "models": "A set of models to switch between live (model.slot, /vj/model/select) with a crossfade (model.fade).",
    "presets": "The preset bank: presets.json plus one .npy of latents per preset.",
    "modulation": "Analysis signals driving parameters: PARAM = SIGNAL * SCALE + OFFSET sets the value, PARAM += ... "
    "adds to what the controllers set. A binding acts only while its signal exists (e.g. while a hand is tracked).",
}

_BUNDLE = (
    "the {0} tracker's MediaPipe bundle: auto (Google's official bundle, downloaded once into the cache and "
    "its hash checked), none (off), a path to a {0}_landmarker .task bundle, or a URL"
)

SETTINGS: tuple[Setting, ...] = (
    # [engine]
    Setting("engine", "model", str, "random", "the generator: random (built-in, untrained), random:sg3t-256, an "
            "NVIDIA .pkl, a rosinality .pt, a .safetensors, a zoo name (`vjengine models`) or a URL; the one model "
            "shown when models.bank is empty", attr="model"),
    Setting("engine", "device", str, "auto", "where to render: auto (CUDA, then Apple MPS, then CPU), cpu, cuda, "
            "cuda:N, mps", attr="device", expected="auto, cpu, cuda, cuda:N or mps", flag="--device", metavar="D"),
    Setting("engine", "dtype", str, "auto", "precision: auto (NVIDIA's mixed fp16 on CUDA, else fp32), fp32, fp16 "
            "(CUDA only), bf16", attr="dtype", choices=DTYPES, flag="--dtype", metavar="T"),
    Setting("engine", "compile", bool, False, "compile the generator whole at start (torch.compile): a slower start, "
            "faster frames (see \"Compiling the generator\")", attr="compile", flag="--compile"),
    Setting("engine", "outputs", list, ["preview"], "where frames go: preview[:PORT], file:PATH (.mp4/.mov/.mkv, or a "
            "%05d PNG sequence), syphon[:NAME], spout[:NAME], virtualcam[:DEVICE], ndi[:NAME], none; live outputs "
            "take ?size=WxH&fit=stretch|letterbox|crop&flip=1", attr="outputs",
            expected='a list of output specs such as ["preview", "file:out.mp4"]', flag="--output", metavar="SPEC"),
    Setting("engine", "status", bool, True, "a live status line in the terminal (a log line every few seconds when "
            "not a terminal)", attr="status", flag="--no-status"),
    # [source]
    Setting("source", "spec", str, "auto", "what the engine looks at: auto (the first camera, else pattern), "
            "camera:N, video:PATH (loops), image:PATH, pattern (a moving test scene), ndi:NAME or ndi:HOST:PORT",
            attr="source", flag="--source", metavar="SPEC"),
    Setting("source", "width", int, 640, "capture width asked of a camera, and the pattern's (--size WxH sets both)",
            check=positive),
    Setting("source", "height", int, 480, "capture height asked of a camera, and the pattern's", check=positive),
    Setting("source", "fps", float, 30.0, "capture rate asked of a camera", check=positive),
    Setting("source", "autofocus", bool, False, "let the camera's autofocus run (off: a refocusing camera makes the "
            "picture jump)", attr="camera_autofocus"),
    Setting("source", "auto_exposure", bool, None, "the camera's auto exposure on or off (unset: the camera's own)",
            attr="camera_auto_exposure", example=False),
    Setting("source", "exposure", float, None, "a fixed exposure in the driver's units (unset: the camera's own)",
            attr="camera_exposure", example=-6),
    # [visual]
    Setting("visual", "weights", str, "auto", "VGG16 weights for the camera features: auto (cached, else downloaded "
            "once, else untrained), download (must succeed), none (untrained), or torchvision's vgg16-397923af.pth",
            attr="vgg_weights", flag="--vgg-weights", metavar="W"),
    # [landmarks]
    Setting("landmarks", "hands", str, "auto", _BUNDLE.format("hand")),
    Setting("landmarks", "face", str, "auto", _BUNDLE.format("face")),
    Setting("landmarks", "pose", str, "auto", _BUNDLE.format("pose")),
    Setting("landmarks", "overlay", str, None, "an output (any --output spec) showing the camera with its landmarks "
            "drawn, e.g. preview:8081 (unset: none)", attr="overlay", flag="--overlay", metavar="SPEC",
            example="preview:8081"),
    # [osc]
    Setting("osc", "host", str, "127.0.0.1", "the address OSC and OSCQuery listen on: 127.0.0.1 (this machine) or "
            "0.0.0.0 (the LAN; then consider osc.allow)", check=listening_host),
    Setting("osc", "port", int, 9000, "UDP port for OSC in (0 = off)", check=port, flag="--osc-port", metavar="P"),
    Setting("osc", "allow", list, [], "sender networks allowed, e.g. [\"192.168.1.0/24\"] (empty = anyone)"),
    Setting("osc", "tcp_port", int, 0, "TCP port for OSC over TCP, e.g. for TouchDesigner's TCP/IP stream (0 = off)",
            check=port),
    Setting("osc", "tcp_framing", str, "slip", "how OSC over TCP is framed: slip (OSC 1.1) or length (OSC 1.0, "
            "32-bit length prefixes)", choices=("slip", "length")),
    Setting("osc", "targets", list, [], "OSC targets (HOST:PORT, e.g. TouchDesigner's) that get every parameter "
            "change and the osc.signals", flag="--osc-out", metavar="HOST:PORT"),
    Setting("osc", "rate", float, 30.0, "at most this many bundles a second to each target", check=positive),
    Setting("osc", "signals", list, [], "analysis signals (names or patterns) sent to the targets, e.g. \"hand.*\"",
            flag="--osc-signals", metavar="PATTERN"),
    Setting("osc", "params", bool, True, "send parameter changes to the targets", attr="osc_send_params"),
    # [oscquery]
    Setting("oscquery", "port", int, 5678, "TCP port for OSCQuery's HTTP tree and websocket (0 = off)", check=port,
            flag="--oscquery-port", metavar="Q"),
    Setting("oscquery", "mdns", bool, True, "advertise OSCQuery over mDNS/Bonjour where the network allows it"),
    # [web]
    Setting("web", "remote", bool, False, "open the browser page (the preview, and OSCQuery for it) to other devices "
            "on the network, with an access token printed in the log (default: this machine only)", flag="--remote"),
    # [midi]
    Setting("midi", "port", str, "", "MIDI input port, by name or part of it (empty = no MIDI)", flag="--midi",
            metavar="NAME"),
    Setting("midi", "mappings", list, [], "MIDI controller maps (.toml, see mappings/)", flag="--mapping",
            metavar="FILE"),
    Setting("midi", "learn_file", str, "mappings/learned.toml", "where MIDI learn saves its bindings"),
    Setting("midi", "clock", str, "auto", "whose MIDI clock sets tempo.bpm: auto (the controller's), off, or an input "
            "port by name or part of it (a DAW's bus, a DJ mixer)", flag="--midi-clock", metavar="NAME"),
    # [audio]
    Setting("audio", "input", str, "none", "the music in: none, a sound card by index or (part of) its name "
            "(`vjengine devices`), jack (every capture port), jack:PORT, or file:PATH (played in real time, looped)",
            attr="audio", flag="--audio", metavar="SPEC"),
    # [tempo]
    Setting("tempo", "link", bool, False, "join the Ableton Link session: follow its tempo and beat, send tempo "
            "changes made here to the other peers", attr="link", flag="--link"),
    # [models]
    Setting("models", "bank", list, [], "the set's models in slot order (model.slot 0, 1, ...): specs as for "
            "engine.model, or NAME=SPEC to name one (default name: the file's stem); the first shows at start; "
            "empty = engine.model alone", expected='a list of model specs such as ["faces=ffhq.pkl", "random"]',
            flag="--model", metavar="[NAME=]SPEC"),
    Setting("models", "keep", int, 2, "models kept loaded on the device; the least recently shown leaves first "
            "(a return to one still loaded is instant)", check=positive),
    # [presets]
    Setting("presets", "bank", str, "presets", "the preset bank folder (a file there is refused)", attr="presets",
            flag="--presets", metavar="DIR"),
    # [modulation]
    Setting("modulation", "bindings", list, list(DEFAULT_BINDINGS), "bindings like \"corruption.gain += "
            "hand.distance * 1.5\"; the default is the paper's couplings, [] turns them off", attr="modulation"),
    # command line only
    Setting(None, "record", str, None, "save every frame's w+ and state, for `vjengine render`", attr="record",
            flag="--record", metavar="PATH.npz"),
    Setting(None, "learn", str, None, "start in MIDI learn: the next control moved drives PARAM", attr="learn",
            flag="--learn", metavar="PARAM"),
)  # fmt: skip

SETTINGS_BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}


def by_section() -> dict[str, dict[str, Setting]]:
    """The config file's sections, in order, each with its keys."""
    sections: dict[str, dict[str, Setting]] = {name: {} for name in SECTIONS}
    for setting in SETTINGS:
        if setting.section is not None:
            sections[setting.section][setting.key] = setting
    return sections
