"""MIDI controller maps: which control sets which parameter, and how. One TOML file per controller.

A map file (the built-in ones live in `mappings/`; `vjengine run --mapping NAME|FILE` picks them)::

    [controller]
    name = "Korg nanoKONTROL2"   # shown in logs and `status()`
    port = "nanoKONTROL2"        # part of the MIDI input port's name (case-insensitive); --midi overrides it
    output = "nanoKONTROL2"      # part of the output port's name for feedback (default: the same as port)
    channel = 1                  # the bindings' MIDI channel unless they name one, 1-16 (default 1)

    [[binding]]
    param = "truncation.psi"     # a parameter name (`vjengine params` lists them)
    type = "cc"                  # cc | cc14 | nrpn | note | pitchbend
    number = 16                  # CC or note number; cc14: the MSB's CC (0-31, LSB is number + 32);
                                 # nrpn: the parameter number (0-16383); pitchbend has none
    channel = 1                  # optional, 1-16
    mode = "absolute"            # absolute | relative | toggle | momentary | trigger | step (defaults below)
    curve = "linear"             # linear | exp (fine at the low end) | log (fine at the high end)
    min = 0.0                    # the value at the control's low end, in the parameter's units
    max = 1.5                    # ... and at its high end (defaults: the parameter's range; min > max inverts)
    pickup = true                # absolute faders and knobs: take over only once they cross the current value
    feedback = true              # send the value back: LED rings, motorised faders, button LEDs
    step = 1.0                   # relative: units per encoder tick (default range / 128; whole numbers and
                                 # choices: 1); step: how far one press moves (default 1, negative goes back)
    encoding = "twos"            # relative: twos (1..63 up, 127..65 down) | offset (64 = still) | signbit
    value = "random"             # trigger and momentary: what a press sets (default: max, or true)
    on_value = 127               # feedback for buttons: what lights the LED (a colour on some controllers)
    off_value = 0                # ... and what turns it off
    bits = 14                    # nrpn: 14 (data entry MSB and LSB) or 7 (MSB only)

Modes: `absolute` sets the value from the control's position (CC, 14-bit CC, NRPN, pitch bend, or a
note's velocity); `relative` adds encoder ticks to the current value (CC only); for buttons (CC >= 64
or note on = pressed): `toggle` flips a bool (numbers: between min and max), `momentary` holds `value`
while pressed and restores the previous value on release, `trigger` sets `value` on each press, `step`
moves an enum through its choices (whole numbers by `step`), wrapping round. Defaults: `absolute` for
cc, cc14, nrpn and pitch bend; for notes `toggle` (bool), `step` (enum) or `momentary` (numbers).

When several files are combined, a later file's bindings for a control replace an earlier file's
bindings for the same control (type, channel, number), so a user map can override a factory map.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from vjengine.errors import VJError
from vjengine.params.param import Param, ParamError
from vjengine.params.registry import RENAMED

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

log = logging.getLogger(__name__)


def _mappings_dir() -> Path:
    """The built-in maps: `mappings/` of a checkout (or an editable install), else where a wheel puts them."""
    checkout = Path(__file__).resolve().parents[2] / "mappings"
    installed = Path(sys.prefix) / "share" / "vjengine" / "mappings"
    return checkout if checkout.is_dir() or not installed.is_dir() else installed


MAPPINGS_DIR = _mappings_dir()
LEARNED_MAP = "learned"  # the stem of config.toml's default [midi] learn_file, mappings/learned.toml

CONTROL_TYPES = ("cc", "cc14", "nrpn", "note", "pitchbend")
MODES = ("absolute", "relative", "toggle", "momentary", "trigger", "step")
BUTTON_MODES = ("toggle", "momentary", "trigger", "step")
CURVES = ("linear", "exp", "log")
ENCODINGS = ("twos", "offset", "signbit")
CURVE_STEEPNESS = 4.0  # exp/log: the middle of the travel reaches about 12% (exp) or 88% (log) of the range

_CONTROLLER_KEYS = {"name", "port", "output", "channel"}
_BINDING_KEYS = {
    "param",
    "type",
    "number",
    "channel",
    "mode",
    "curve",
    "min",
    "max",
    "pickup",
    "feedback",
    "step",
    "encoding",
    "value",
    "on_value",
    "off_value",
    "bits",
}
_NUMERIC = ("float", "int", "vector")


class MappingError(VJError):
    """A controller map that cannot be used; the message names the file, the binding and the problem."""


@dataclass(frozen=True)
class Control:
    """One physical control as MIDI sees it: its message type, channel (0-15) and number."""

    type: str
    channel: int
    number: int = 0

    def __str__(self) -> str:
        where = "" if self.type == "pitchbend" else f" {self.number}"
        return f"{self.type}{where} on channel {self.channel + 1}"


@dataclass(frozen=True)
class Binding:
    """A control bound to a parameter: how raw MIDI values become parameter values and back (for feedback)."""

    param: Param
    control: Control
    mode: str
    low: Any = None  # the value at the control's low end (numbers only)
    high: Any = None
    curve: str = "linear"
    pickup: bool = True
    feedback: bool = False
    step: float | None = None
    encoding: str = "twos"
    value: Any = None  # trigger/momentary: what a press sets
    on_value: int = 127
    off_value: int = 0
    bits: int = 14

    @property
    def resolution(self) -> int:
        """The highest raw value the control sends."""
        if self.control.type in ("cc14", "pitchbend") or (self.control.type == "nrpn" and self.bits == 14):
            return 16383
        return 127

    @property
    def continuous(self) -> bool:
        """A fader or knob (as opposed to a button): absolute positions, needing pick-up."""
        return self.mode == "absolute" and self.control.type != "note"

    def position(self, raw: int) -> float:
        """Where on its travel (0..1) a raw value puts the control."""
        if self.control.type == "nrpn" and self.bits == 7:
            raw >>= 7
        return min(1.0, max(0.0, raw / self.resolution))

    def to_value(self, x: float) -> Any:
        """The parameter value for a control position 0..1 (through the curve and the range)."""
        y = apply_curve(self.curve, x)
        kind = self.param.kind
        if kind == "bool":
            return y >= 0.5
        if kind == "enum":
            choices = self.param.choices
            return choices[min(len(choices) - 1, int(y * len(choices)))]
        number = self.low + y * (self.high - self.low)
        if kind == "int":
            return self.param.coerce(round(number))
        if kind == "vector":
            return self.param.coerce([number] * self.param.size)
        return self.param.coerce(number)

    def to_position(self, value: Any) -> float:
        """Where the control would be for `value`: the inverse of `to_value` (pick-up, feedback)."""
        kind = self.param.kind
        if kind == "bool":
            return 1.0 if value else 0.0
        if kind == "enum":
            choices = self.param.choices
            y = (choices.index(value) + 0.5) / len(choices) if value in choices else 0.0
        else:
            number = sum(value) / len(value) if kind == "vector" else float(value)
            span = self.high - self.low
            y = 0.0 if span == 0 else min(1.0, max(0.0, (number - self.low) / span))
        return invert_curve(self.curve, y)

    def to_raw(self, value: Any) -> int:
        """The raw MIDI value that shows `value` on this control (feedback)."""
        if self.mode in BUTTON_MODES:
            return self.on_value if self.is_lit(value) else self.off_value
        return round(self.to_position(value) * self.resolution)

    def is_lit(self, value: Any) -> bool:
        """Whether a button's LED should be on for `value`."""
        if self.mode in ("trigger", "momentary"):
            return _same(value, self.press_value())
        if self.mode == "step":
            first = self.param.choices[0] if self.param.kind == "enum" else min(self.low, self.high)
            return value != first
        return self.to_position(value) >= 0.5

    def on_press(self, current: Any) -> Any:
        """The value a button press sets, given the current one (toggle, momentary, trigger, step)."""
        if self.mode == "toggle":
            if self.param.kind == "bool":
                return not current
            return self.to_value(0.0 if self.to_position(current) >= 0.5 else 1.0)
        if self.mode == "step":
            return self._stepped(current, int(self.step or 1), wrap=True)
        return self.press_value()

    def nudge(self, current: Any, ticks: int) -> Any:
        """The value `ticks` encoder steps away from `current` (relative mode), kept inside min..max."""
        if self.param.kind == "enum":
            return self._stepped(current, ticks * int(self.step or 1), wrap=False)
        low, high = sorted((self.low, self.high))
        step = self.step if self.step is not None else (1 if self.param.kind == "int" else (high - low) / 128)
        direction = 1 if self.high >= self.low else -1  # an inverted range turns the encoder round too
        base = sum(current) / len(current) if self.param.kind == "vector" else current
        number = min(high, max(low, base + ticks * step * direction))
        if self.param.kind == "int":
            number = round(number)
            if number == base:  # a step finer than one unit must still move a whole number
                number = min(high, max(low, base + (1 if ticks * direction > 0 else -1)))
            return self.param.coerce(int(number))
        if self.param.kind == "vector":
            return self.param.coerce([number] * self.param.size)
        return self.param.coerce(number)

    def _stepped(self, current: Any, by: int, wrap: bool) -> Any:
        if self.param.kind == "enum":
            choices = self.param.choices
            index = choices.index(current) if current in choices else 0
            target = (index + by) % len(choices) if wrap else min(len(choices) - 1, max(0, index + by))
            return choices[target]
        low, high = sorted((int(self.low), int(self.high)))
        number = current + by
        if number > high:
            number = low if wrap else high
        elif number < low:
            number = high if wrap else low
        return self.param.coerce(number)

    def press_value(self) -> Any:
        """What `trigger` and `momentary` set on a press."""
        if self.value is not None:
            return self.value
        return True if self.param.kind == "bool" else self.to_value(1.0)

    def to_dict(self) -> dict[str, Any]:
        """The TOML table for this binding: only what differs from the defaults."""
        table: dict[str, Any] = {"param": self.param.name, "type": self.control.type}
        if self.control.type != "pitchbend":
            table["number"] = self.control.number
        table["channel"] = self.control.channel + 1
        if self.mode != default_mode(self.param, self.control.type):
            table["mode"] = self.mode
        if self.param.kind in _NUMERIC and self.mode != "trigger":
            if self.low != self.param.min:
                table["min"] = self.low
            if self.high != self.param.max:
                table["max"] = self.high
        defaults = {"curve": "linear", "pickup": True, "feedback": False, "encoding": "twos"}
        defaults |= {"on_value": 127, "off_value": 0, "bits": 14}
        for key, default in defaults.items():
            if getattr(self, key) != default:
                table[key] = getattr(self, key)
        if self.step is not None:
            table["step"] = self.step
        if self.value is not None:
            table["value"] = list(self.value) if isinstance(self.value, tuple) else self.value
        return table


@dataclass
class ControllerMap:
    """One map file: the controller it is for and its bindings, in file order."""

    name: str = ""
    port: str | None = None
    output: str | None = None
    bindings: list[Binding] = field(default_factory=list)
    path: Path | None = None


def apply_curve(curve: str, x: float) -> float:
    """0..1 -> 0..1: linear, exp (slow start, fine low values) or log (fast start, fine high values)."""
    x = min(1.0, max(0.0, x))
    k = CURVE_STEEPNESS
    if curve == "exp":
        return math.expm1(k * x) / math.expm1(k)
    if curve == "log":
        return math.log1p(x * math.expm1(k)) / k
    return x


def invert_curve(curve: str, y: float) -> float:
    """The inverse of `apply_curve`: exp and log are each other's inverse."""
    if curve == "exp":
        return apply_curve("log", y)
    if curve == "log":
        return apply_curve("exp", y)
    return min(1.0, max(0.0, y))


def default_mode(param: Param, control_type: str) -> str:
    """absolute for faders and knobs; for notes toggle (bool), step (enum) or momentary (numbers)."""
    if control_type != "note":
        return "absolute"
    return {"bool": "toggle", "enum": "step"}.get(param.kind, "momentary")


def resolve_map(spec: str | os.PathLike) -> Path:
    """A map file from a path, or the name of a built-in map (`nanokontrol2` -> mappings/nanokontrol2.toml)."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    builtin = MAPPINGS_DIR / f"{Path(spec).name}.toml"
    if builtin.is_file():
        return builtin
    names = ", ".join(builtin_maps()) or "none found"
    raise MappingError(f"MIDI map {str(spec)!r}: no such file and no built-in map of that name (built in: {names})")


def builtin_maps() -> list[str]:
    """Names of the maps shipped in `mappings/` (not a user's learned map that may be saved there too)."""
    if not MAPPINGS_DIR.is_dir():
        return []
    return sorted(p.stem for p in MAPPINGS_DIR.glob("*.toml") if p.stem != LEARNED_MAP)


def builtin_map_for_port(pattern: str) -> str:
    """The built-in map of the controller whose port `pattern` names (part of it, either way round),
    else "generic": so `--midi nano` alone plays a nanoKONTROL2 with its factory map."""
    wanted = pattern.strip().casefold()
    for name in builtin_maps():
        port = _declared_port(MAPPINGS_DIR / f"{name}.toml").casefold()
        if wanted and port and (wanted in port or port in wanted):
            return name
    return "generic"


def _declared_port(path: Path) -> str:
    try:
        controller = tomllib.loads(path.read_text()).get("controller", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ""
    port = controller.get("port") if isinstance(controller, dict) else None
    return port if isinstance(port, str) else ""


def load_map(path: str | os.PathLike, params: Mapping[str, Param]) -> ControllerMap:
    """Read and check one map file; MappingError (one line: file, binding, problem) on anything wrong."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the MIDI map ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{path}: not valid TOML ({exc})") from None
    return parse_map(data, params, path)


def parse_map(data: Mapping[str, Any], params: Mapping[str, Param], path: Path | None = None) -> ControllerMap:
    """A ControllerMap from already-parsed TOML; `path` only names the source in errors."""
    where = str(path) if path else "MIDI map"
    _only(data, {"controller", "binding"}, where, "top-level table")
    controller = data.get("controller", {})
    if not isinstance(controller, dict):
        raise MappingError(f"{where}: [controller] must be a table")
    _only(controller, _CONTROLLER_KEYS, where, "[controller] key")
    channel = _channel(controller.get("channel", 1), f"{where}: [controller]")
    tables = data.get("binding", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise MappingError(f"{where}: bindings must be [[binding]] tables")
    bindings = [_binding(table, params, channel, f"{where}: binding {i}") for i, table in enumerate(tables, 1)]
    return ControllerMap(
        name=_text(controller, "name", where) or (path.stem if path else ""),
        port=_text(controller, "port", where),
        output=_text(controller, "output", where),
        bindings=bindings,
        path=path,
    )


def combine(maps: Iterable[ControllerMap]) -> list[Binding]:
    """All bindings of several maps; a later map's bindings for a control replace an earlier map's."""
    bindings: list[Binding] = []
    for controller_map in maps:
        overridden = {b.control for b in controller_map.bindings}
        bindings = [b for b in bindings if b.control not in overridden] + list(controller_map.bindings)
    return bindings


def save_map(controller_map: ControllerMap, path: str | os.PathLike) -> None:
    """Write a map as TOML (atomically: a crash mid-write leaves the old file)."""
    path = Path(path)
    head = {"name": controller_map.name or path.stem}
    if controller_map.port:
        head["port"] = controller_map.port
    if controller_map.output:
        head["output"] = controller_map.output
    document = {"controller": head, "binding": [b.to_dict() for b in controller_map.bindings]}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(
        "# vjengine MIDI map, written by MIDI learn; edit freely (format: see docs/midi.md)\n" + tomli_w.dumps(document)
    )
    os.replace(temporary, path)


def _binding(table: dict[str, Any], params: Mapping[str, Param], channel: int, where: str) -> Binding:
    name = table.get("param")
    if not isinstance(name, str):
        raise MappingError(f"{where}: needs param = \"name\" (see 'vjengine params')")
    where = f"{where} ({name})"
    _only(table, _BINDING_KEYS, where, "key")
    if name in RENAMED and RENAMED[name] in params:  # an old name: one release more, said once
        log.warning("%s: %s is now %s; please write param = %r", where, name, RENAMED[name], RENAMED[name])
        name = RENAMED[name]
    param = params.get(name)
    if param is None:
        import difflib

        close = difflib.get_close_matches(name, params, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "list them with 'vjengine params'"
        raise MappingError(f"{where}: unknown parameter; {hint}")
    control = _control(table, channel, where)
    mode = _choice(table, "mode", MODES, default_mode(param, control.type), where)
    _check_mode(param, control, mode, where)
    low, high = _range(table, param, mode, where)
    binding = Binding(
        param=param,
        control=control,
        mode=mode,
        low=low,
        high=high,
        curve=_choice(table, "curve", CURVES, "linear", where),
        pickup=_flag(table, "pickup", True, where),
        feedback=_flag(table, "feedback", False, where),
        step=_step(table, param, mode, where),
        encoding=_choice(table, "encoding", ENCODINGS, "twos", where),
        value=_press_value(table, param, mode, where),
        on_value=_int(table, "on_value", 127, 0, 127, where),
        off_value=_int(table, "off_value", 0, 0, 127, where),
        bits=_bits(table, control, where),
    )
    if "encoding" in table and mode != "relative":
        raise MappingError(f'{where}: encoding only applies to mode = "relative"')
    return binding


def _control(table: dict[str, Any], channel: int, where: str) -> Control:
    kind = _choice(table, "type", CONTROL_TYPES, None, where)
    channel = _channel(table.get("channel", channel + 1), where)
    if kind == "pitchbend":
        if "number" in table:
            raise MappingError(f"{where}: pitchbend has no number (one per channel); remove number")
        return Control(kind, channel)
    highest = {"cc": 127, "note": 127, "cc14": 31, "nrpn": 16383}[kind]
    if "number" not in table:
        raise MappingError(f"{where}: needs number = 0..{highest} (the {kind} number)")
    number = _int(table, "number", 0, 0, highest, where)
    return Control(kind, channel, number)


def _check_mode(param: Param, control: Control, mode: str, where: str) -> None:
    if mode == "relative" and control.type != "cc":
        raise MappingError(f'{where}: relative encoders send plain CCs; use type = "cc"')
    if mode in BUTTON_MODES and control.type not in ("cc", "note"):
        raise MappingError(f"{where}: mode {mode} needs a button (type cc or note), not {control.type}")
    if mode in ("absolute", "relative") and param.kind == "string":
        raise MappingError(f'{where}: a text parameter cannot follow a fader; use mode = "trigger" with a value')
    if mode == "relative" and param.kind == "bool":
        raise MappingError(f'{where}: an encoder cannot turn a bool; use a button with mode = "toggle"')
    if mode == "step" and param.kind not in ("enum", "int"):
        raise MappingError(f"{where}: mode step moves through choices or whole numbers; {param.name} is a {param.kind}")
    if mode == "toggle" and param.kind not in ("bool", *_NUMERIC):
        raise MappingError(f"{where}: toggle flips a bool or a number; for a {param.kind} use step or trigger")


def _range(table: dict[str, Any], param: Param, mode: str, where: str) -> tuple[Any, Any]:
    if param.kind not in _NUMERIC:
        for key in ("min", "max"):
            if key in table:
                raise MappingError(f"{where}: {key} only applies to numbers; {param.name} is a {param.kind}")
        return None, None
    low = _number(table, "min", param.min, where)
    high = _number(table, "max", param.max, where)
    needs_range = mode in ("absolute", "relative", "toggle", "step") or (mode == "momentary" and "value" not in table)
    if needs_range and (low is None or high is None):
        raise MappingError(f"{where}: {param.name} has no range of its own; give min and max")
    for key, number in (("min", low), ("max", high)):
        if number is None:
            continue
        if (param.min is not None and number < param.min) or (param.max is not None and number > param.max):
            raise MappingError(f"{where}: {key} = {number:g} is outside {param.name}'s range {param.range_text}")
    if needs_range and low == high:
        raise MappingError(f"{where}: min and max are both {low:g}; the control would do nothing")
    return low, high


def _step(table: dict[str, Any], param: Param, mode: str, where: str) -> float | None:
    if "step" not in table:
        return None
    if mode not in ("relative", "step"):
        raise MappingError(f'{where}: step only applies to mode = "relative" or "step"')
    step = _number(table, "step", None, where)
    if step == 0:
        raise MappingError(f"{where}: step = 0 would do nothing")
    if mode == "step" and not float(step).is_integer():
        raise MappingError(f"{where}: step must be a whole number of choices or units per press")
    return step


def _press_value(table: dict[str, Any], param: Param, mode: str, where: str) -> Any:
    if "value" not in table:
        if mode == "trigger" and param.kind not in ("bool", *_NUMERIC):
            raise MappingError(f"{where}: trigger needs value = what a press sets (one of {param.range_text})")
        if mode == "momentary" and param.kind in ("enum", "string"):
            raise MappingError(f"{where}: momentary on a {param.kind} needs value = what a press sets")
        return None
    if mode not in ("trigger", "momentary"):
        raise MappingError(f'{where}: value only applies to mode = "trigger" or "momentary"')
    try:
        return param.accept(table["value"])
    except ParamError as exc:
        raise MappingError(f"{where}: value: {exc}") from None


def _bits(table: dict[str, Any], control: Control, where: str) -> int:
    if "bits" in table and control.type != "nrpn":
        raise MappingError(f'{where}: bits only applies to type = "nrpn"')
    bits = _int(table, "bits", 14, 7, 14, where)
    if bits not in (7, 14):
        raise MappingError(f"{where}: bits must be 7 or 14")
    return bits


def _only(table: Mapping[str, Any], allowed: set[str], where: str, what: str) -> None:
    for key in table:
        if key not in allowed:
            raise MappingError(f"{where}: unknown {what} {key!r}; allowed: {', '.join(sorted(allowed))}")


def _choice(table: dict[str, Any], key: str, allowed: tuple[str, ...], default: str | None, where: str) -> str:
    value = table.get(key, default)
    if value not in allowed:
        got = "missing" if value is None else repr(value)
        raise MappingError(f"{where}: {key} is {got}; expected one of {', '.join(allowed)}")
    return value


def _channel(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 16:
        raise MappingError(f"{where}: channel = {value!r}; MIDI channels are 1..16")
    return value - 1


def _int(table: dict[str, Any], key: str, default: int, low: int, high: int, where: str) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MappingError(f"{where}: {key} = {value!r}; expected a whole number {low}..{high}")
    return value


def _number(table: dict[str, Any], key: str, default: Any, where: str) -> Any:
    value = table.get(key, default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value)):
        raise MappingError(f"{where}: {key} = {value!r}; expected a number")
    return value


def _flag(table: dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise MappingError(f"{where}: {key} = {value!r}; expected true or false")
    return value


def _text(table: dict[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise MappingError(f"{where}: [controller] {key} = {value!r}; expected text")
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return a == b


__all__ = [
    "Binding",
    "Control",
    "ControllerMap",
    "MappingError",
    "apply_curve",
    "builtin_maps",
    "combine",
    "default_mode",
    "invert_curve",
    "load_map",
    "parse_map",
    "resolve_map",
    "save_map",
]
