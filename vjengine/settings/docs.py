"""The settings as text, derived from `vjengine.settings.SETTINGS`: `run --help`, config.toml and docs/settings.md."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from vjengine.params import REGISTRY
from vjengine.settings import SECTIONS, SETTINGS, Setting, by_section

_TOML_HEADER = """\
# vjengine configuration: every key is optional, and the command line overrides the file.
#   vjengine run --config config.toml [--model ...] [--set truncation.psi=0.5]
# An unknown key or a bad value stops the engine with a one-line error naming it.
# Written by `vjengine settings --toml` from the settings' declarations (vjengine/settings.py)."""

# Parameters whose start values config.toml shows as examples of [params] (values: the registry's defaults).
_EXAMPLE_PARAMS = (
    "render.fps",
    "latent.seed",
    "latent.drift",
    "truncation.psi",
    "truncation.cutoff",
    "generator.noise",
)


def plain(text: str) -> str:
    """Help text without Markdown's code marks."""
    return text.replace("`", "")


def default_text(setting: Setting) -> str:
    """The default as written in a config file, on one line; "unset" for None."""
    return "unset" if setting.default is None else _toml_value(setting.default, width=None)


def cli_help(setting: Setting) -> str:
    """`vjengine run --help`'s line for a setting's flag (escaped for argparse)."""
    text = plain(setting.help)
    if setting.kind is bool:
        text = f"turn off what is on by default: {text}" if setting.default else text
    elif setting.default not in (None, "", []):
        shown = ", ".join(setting.default) if setting.kind is list else default_text(setting).strip('"')
        text += f"; default {shown}"
    if setting.kind is list:
        text += "; repeatable"
    if setting.section:
        text += f" [config {setting.name}]"
    return text.replace("%", "%%")


def settings_markdown() -> str:
    """The settings table of docs/settings.md (tests compare it): every setting's config key, flag, default, meaning."""
    lines = ["| config key | `run` option | default | meaning |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        key = f"`{s.name}`" if s.section else ""
        flag = f"`{s.flag}{' ' + s.metavar if s.metavar else ''}`" if s.flag else ""
        default = "" if s.default is None else f"`{default_text(s)}`"
        if len(default) > 40:  # the default bindings: config.toml shows them one a line
            default = f"{len(s.default)} items (config.toml)"
        meaning = s.help.replace("|", "\\|") + ("; repeatable" if s.flag and s.kind is list else "")
        lines.append(f"| {key} | {flag} | {default} | {meaning} |")
    return "\n".join(lines)


def settings_text() -> str:
    """`vjengine settings`: one line per setting."""
    width = max(len(s.name) for s in SETTINGS)
    return "\n".join(f"{s.name:<{width}}  {default_text(s):<12}  {plain(s.help)}" for s in SETTINGS)


def config_toml() -> str:
    """The documented config file (config.toml): every key with its help and default, then [params] examples."""
    parts = [_TOML_HEADER]
    for section, settings in by_section().items():
        lines = [f"[{section}]", *_comment(SECTIONS[section])]
        for setting in settings.values():
            text = setting.help[:1].upper() + setting.help[1:] + "."
            lines += _comment(text + (f" Command line: {setting.flag}." if setting.flag else ""))
            if setting.default is None:
                lines.append(f"# {setting.key} = {_toml_value(setting.example)}")
            else:
                lines.append(f"{setting.key} = {_toml_value(setting.default)}")
        parts.append("\n".join(lines))
    defaults = {p.name: p.default for p in REGISTRY}
    params = [f'"{name}" = {_toml_value(defaults[name])}' for name in _EXAMPLE_PARAMS]
    intro = _comment(
        "Start values of parameters; `vjengine params` lists them all with ranges and OSC addresses. Write them as "
        "dotted keys or as tables ([params.truncation] psi = 0.7). These are the defaults."
    )
    parts.append("\n".join(["[params]", *intro, *params]))
    return "\n\n".join(parts) + "\n"


def _comment(text: str) -> list[str]:
    return textwrap.wrap(plain(text), 98, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False)


def _toml_value(value: Any, width: int | None = 80) -> str:
    """`value` written as TOML; a list longer than `width` one item a line."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list) and width is not None and len(json.dumps(value)) > width:
        return "[\n" + "".join(f"    {json.dumps(v)},\n" for v in value) + "]"
    return json.dumps(value)
