"""The engine's configuration: a TOML file (see config.toml), overridden by the command line."""

from __future__ import annotations

import errno
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vjengine.analysis.signals import check_signal
from vjengine.errors import VJError
from vjengine.params import ParamStore
from vjengine.params.modulation import DEFAULT_BINDINGS, parse_binding

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(VJError):
    """A configuration file or option that cannot be used; the message names the key and the value."""


@dataclass
class Config:
    """Everything `vjengine run` needs besides the parameters' live values."""

    model: str = "random"
    device: str = "auto"
    dtype: str = "auto"
    compile: bool = False
    outputs: list[str] = field(default_factory=lambda: ["preview"])
    status: bool = True
    source: str = "auto"
    source_width: int = 640
    source_height: int = 480
    source_fps: float = 30.0
    camera_autofocus: bool = False
    camera_auto_exposure: bool | None = None
    camera_exposure: float | None = None
    vgg_weights: str = "auto"
    record: str | None = None
    landmark_bundles: dict[str, str] = field(default_factory=lambda: {"hands": "auto", "face": "auto", "pose": "auto"})
    overlay: str | None = None
    osc_host: str = "127.0.0.1"
    osc_port: int = 9000
    osc_tcp_port: int = 0
    osc_tcp_framing: str = "slip"
    osc_allow: list[str] = field(default_factory=list)
    osc_targets: list[str] = field(default_factory=list)
    osc_rate: float = 30.0
    osc_signals: list[str] = field(default_factory=list)
    osc_send_params: bool = True
    oscquery_port: int = 5678
    oscquery_mdns: bool = True
    midi_port: str = ""
    midi_mappings: list[str] = field(default_factory=list)
    midi_learn_file: str = "mappings/learned.toml"
    midi_clock: str = "auto"
    learn: str | None = None
    presets: str = "presets"
    modulation: list[str] = field(default_factory=lambda: list(DEFAULT_BINDINGS))
    params: dict[str, Any] = field(default_factory=dict)


# TOML section -> {key -> (Config field, expected type, description of what is allowed)}
_SECTIONS: dict[str, dict[str, tuple[str, type | tuple[type, ...], str]]] = {
    "engine": {
        "model": ("model", str, 'a model spec such as "random" or a .pkl path'),
        "device": ("device", str, "auto, cpu, cuda, cuda:N or mps"),
        "dtype": ("dtype", str, "auto, fp32, fp16 or bf16"),
        "compile": ("compile", bool, "true or false: compile the generator whole at start (torch.compile)"),
        "outputs": ("outputs", list, 'a list of output specs such as ["preview", "file:out.mp4"]'),
        "status": ("status", bool, "true or false"),
    },
    "source": {
        "spec": ("source", str, "auto, camera:N, video:PATH, image:PATH or pattern"),
        "width": ("source_width", int, "a width in pixels"),
        "height": ("source_height", int, "a height in pixels"),
        "fps": ("source_fps", (int, float), "frames per second"),
        "autofocus": ("camera_autofocus", bool, "true or false (default false: no focus hunting on stage)"),
        "auto_exposure": ("camera_auto_exposure", bool, "true or false (leave it out to keep the camera's)"),
        "exposure": ("camera_exposure", (int, float), "a fixed exposure in the driver's units"),
    },
    "visual": {
        "weights": ("vgg_weights", str, "auto, download, none, or a path to torchvision's vgg16 .pth"),
    },
    "landmarks": {
        "hands": ("landmark_bundles.hands", str, "auto, none, a path to a hand_landmarker .task bundle, or a URL"),
        "face": ("landmark_bundles.face", str, "auto, none, a path to a face_landmarker .task bundle, or a URL"),
        "pose": ("landmark_bundles.pose", str, "auto, none, a path to a pose_landmarker .task bundle, or a URL"),
        "overlay": ("overlay", str, 'where to show the camera with its landmarks drawn: "preview:8081"'),
    },
    "osc": {
        "host": ("osc_host", str, 'the address to listen on: "127.0.0.1" (this machine) or "0.0.0.0" (the LAN)'),
        "port": ("osc_port", int, "a UDP port (0 = no OSC in)"),
        "tcp_port": ("osc_tcp_port", int, "a TCP port for OSC over TCP (0 = off)"),
        "tcp_framing": ("osc_tcp_framing", str, 'how TCP messages are framed: "slip" (OSC 1.1) or "length" (OSC 1.0)'),
        "allow": ("osc_allow", list, 'a list of sender networks, e.g. ["192.168.1.0/24"] (empty = anyone)'),
        "targets": ("osc_targets", list, 'a list of HOST:PORT to send to, e.g. ["127.0.0.1:7000"]'),
        "rate": ("osc_rate", (int, float), "messages per second to each target (at most)"),
        "signals": ("osc_signals", list, 'a list of signal names or patterns to send, e.g. ["hand.*", "face.x"]'),
        "params": ("osc_send_params", bool, "true or false: send parameter changes to the targets"),
    },
    "oscquery": {
        "port": ("oscquery_port", int, "a TCP port for OSCQuery's HTTP and websocket (0 = off)"),
        "mdns": ("oscquery_mdns", bool, "true or false: advertise over mDNS/Bonjour"),
    },
    "midi": {
        "port": ("midi_port", str, 'a MIDI input port name or part of it ("" = no MIDI)'),
        "mappings": ("midi_mappings", list, 'a list of controller maps, e.g. ["mappings/nanokontrol2.toml"]'),
        "learn_file": ("midi_learn_file", str, "where MIDI learn saves its bindings"),
        "clock": (
            "midi_clock",
            str,
            '"auto" (the controller\'s clock), "off", or the input port (part of its name) whose clock sets walk.bpm',
        ),
    },
    "presets": {
        "bank": ("presets", str, "the folder of the preset bank"),
    },
    "modulation": {
        "bindings": ("modulation", list, 'a list like ["corruption.gain += hand.distance * 1.5"]'),
    },
}
_LISTS_OF_TEXT = ("outputs", "osc_allow", "osc_targets", "osc_signals", "midi_mappings", "modulation")
_PORTS = ("osc_port", "oscquery_port", "osc_tcp_port")


def load_config(path: str | Path, store: ParamStore) -> Config:
    """Read a config file; every unknown key or bad value is a one-line ConfigError."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; copy config.toml from the project as a start") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return config_from_dict(data, store, str(path))


def config_from_dict(data: dict[str, Any], store: ParamStore, origin: str = "config") -> Config:
    """Build a Config from parsed TOML, validating sections, keys, types and parameter values."""
    config = Config()
    for section, table in data.items():
        if section == "params":
            config.params.update(_params(table, store, origin))
            continue
        if section not in _SECTIONS:
            allowed = ", ".join([*_SECTIONS, "params"])
            raise ConfigError(f"{origin}: unknown section [{section}]; allowed sections: {allowed}")
        if not isinstance(table, dict):
            raise ConfigError(f"{origin}: {section} must be a table ([{section}]), not {table!r}")
        for key, value in table.items():
            _apply(config, section, key, value, origin)
    for text in config.modulation:
        try:
            parse_binding(text, store, check_signal)
        except VJError as exc:
            raise ConfigError(f"{origin}: modulation: {exc}") from None
    return config


def _apply(config: Config, section: str, key: str, value: Any, origin: str) -> None:
    known = _SECTIONS[section]
    if key not in known:
        raise ConfigError(f"{origin}: unknown key {section}.{key}; allowed in [{section}]: {', '.join(known)}")
    attr, expected, allowed = known[key]
    if isinstance(value, bool) and expected is not bool or not isinstance(value, expected):
        raise ConfigError(f"{origin}: {section}.{key} = {value!r} is not allowed; expected {allowed}")
    if attr in _LISTS_OF_TEXT and not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{origin}: {section}.{key} = {value!r} is not allowed; expected {allowed}")
    if attr in ("source_width", "source_height", "source_fps", "osc_rate") and value <= 0:
        raise ConfigError(f"{origin}: {section}.{key} = {value!r} is not allowed; expected a positive number")
    if attr in _PORTS and not 0 <= value < 65536:
        raise ConfigError(f"{origin}: {section}.{key} = {value!r} is not allowed; expected a port from 0 to 65535")
    if attr == "osc_host":
        _check_host(value, f"{origin}: {section}.{key} = {value!r}")
    if attr.startswith("landmark_bundles."):
        config.landmark_bundles[attr.partition(".")[2]] = value
        return
    setattr(config, attr, float(value) if attr in ("source_fps", "camera_exposure", "osc_rate") else value)


def _check_host(host: str, what: str) -> None:
    """A listening address must be one of this machine's: otherwise OSC and OSCQuery cannot bind, and the
    port would be blamed."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, 0, type=socket.SOCK_DGRAM)[0]
    except (socket.gaierror, UnicodeError):
        raise ConfigError(f"{what} is not a host name or address; {_HOSTS}") from None
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ConfigError(f"{what} is not an address of this machine; {_HOSTS}") from None


_HOSTS = 'listen on "127.0.0.1" (this machine only) or "0.0.0.0" (every network it is on)'


def _params(table: Any, store: ParamStore, origin: str, prefix: str = "") -> dict[str, Any]:
    """Flatten `[params]` (dotted keys or nested tables) and check every value against the registry."""
    if not isinstance(table, dict):
        raise ConfigError(f"{origin}: params must be a table of parameter values")
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            values.update(_params(value, store, origin, f"{name}."))
            continue
        try:
            values[name] = store.param(name).check(value)
        except VJError as exc:
            raise ConfigError(f"{origin}: params: {exc}") from None
    return values


def parse_set(items: list[str], store: ParamStore) -> dict[str, Any]:
    """`--set NAME=VALUE` options to parameter values."""
    values: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--set {item!r}: write NAME=VALUE, e.g. --set truncation.psi=0.5")
        values[name.strip()] = store.param(name.strip()).check(text)
    return values


def config_keys() -> list[tuple[str, str]]:
    """(`section.key`, what is allowed) for every config key, for docs and help."""
    return [(f"{s}.{k}", spec[2]) for s, table in _SECTIONS.items() for k, spec in table.items()]
