"""The engine's configuration: a TOML file (see config.toml), overridden by the command line."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from vjengine.analysis.signals import check_signal
from vjengine.errors import VJError
from vjengine.params import ParamStore
from vjengine.params.modulation import parse_binding
from vjengine.settings import SETTINGS, Setting, by_section

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(VJError):
    """A configuration file or option that cannot be used; the message names the key and the value."""


_SECTIONS = by_section()  # the config file's [section] -> key -> Setting


class Config:
    """Everything `vjengine run` needs besides the parameters' live values.

    One attribute per setting (`vjengine.settings.SETTINGS`, named by `Setting.field`), holding its
    declared default until the config file or a flag sets it; `params` holds parameters' start values.
    """

    def __init__(self) -> None:
        for setting in SETTINGS:
            setattr(self, setting.field, copy.deepcopy(setting.default))
        self.params: dict[str, Any] = {}

    def set(self, setting: Setting, value: Any, what: str) -> None:
        """Set `setting` to `value` if allowed, else a one-line ConfigError starting with `what`, the value
        as the user wrote it (`config.toml: osc.port = 70000`, `--osc-port 70000`)."""
        problem = setting.problem(value)
        if problem is not None:
            complaint = problem if problem.startswith("is ") else f"is not allowed; expected {problem}"
            raise ConfigError(f"{what} {complaint}")
        setattr(self, setting.field, float(value) if setting.kind is float else value)

    @property
    def landmark_bundles(self) -> dict[str, str]:
        """The MediaPipe bundle spec of each detector."""
        return {name: getattr(self, f"landmarks_{name}") for name in ("hands", "face", "pose")}


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
    config.set(known[key], value, f"{origin}: {section}.{key} = {value!r}")


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
