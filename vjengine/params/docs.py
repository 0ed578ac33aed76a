"""The parameter list as text: for `vjengine params` and the table in docs/parameters.md."""

from __future__ import annotations

import json
from collections.abc import Iterable

from vjengine.params.param import Param


def _default_text(param: Param) -> str:
    if param.kind == "bool":
        return str(param.default).lower()
    if param.kind == "vector":
        return ", ".join(f"{v:g}" for v in param.default)
    return str(param.default)


def params_json(params: Iterable[Param]) -> str:
    """One JSON object per parameter, in registry order."""
    rows = [
        {
            "name": p.name,
            "osc": p.osc_address,
            "type": p.kind,
            "min": p.min,
            "max": p.max,
            "choices": list(p.choices) or None,
            "default": list(p.default) if p.kind == "vector" else p.default,
            "unit": p.unit or None,
            "smoothing_s": p.smoothing or None,
            "description": p.description,
        }
        for p in params
    ]
    return json.dumps(rows, indent=2)


def params_markdown(params: Iterable[Param]) -> str:
    """The parameter table of docs/parameters.md (tests compare it; paste this output between its markers)."""
    lines = ["| parameter | OSC address | type | range | default | description |", "|" + " --- |" * 6]
    for p in params:
        unit = f" {p.unit}" if p.unit else ""
        smooth = f" Smoothed over {p.smoothing:g} s." if p.smoothing else ""
        cells = [f"`{p.name}`", f"`{p.osc_address}`", p.kind, p.range_text, f"{_default_text(p)}{unit}"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in [*cells, p.description + smooth]) + " |")
    return "\n".join(lines)


def params_table(params: Iterable[Param]) -> str:
    """A plain-text listing for the terminal, grouped by stage."""
    out, group = [], None
    for p in params:
        if p.group != group:
            group = p.group
            out.append(f"\n[{group}]")
        unit = f" {p.unit}" if p.unit else ""
        default = f"default {_default_text(p)}{unit}"
        out.append(f"  {p.name:<22} {p.osc_address:<26} {p.kind:<6} {p.range_text:<22} {default}")
        out.append(f"      {p.description}")
    return "\n".join(out).lstrip("\n")
