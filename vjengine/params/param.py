"""One parameter's declaration: its type, range, default, unit and how values are coerced."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vjengine.errors import VJError

KINDS = ("float", "int", "bool", "enum", "string", "vector")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ParamError(VJError):
    """A value a parameter cannot take; the message names the parameter, the value and what is allowed."""


@dataclass(frozen=True)
class Param:
    """A named, typed, bounded control of the engine, declared once in the registry.

    Everything else (OSC addresses, OSCQuery, MIDI, config keys, `vjengine params`, docs/parameters.md)
    is derived from these fields.
    """

    name: str
    kind: str
    default: Any
    description: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    size: int = 0
    unit: str = ""
    smoothing: float = 0.0  # slew time in seconds toward a new value (float and vector only)
    # A trigger: writing it acts once (recall a slot, count a tap) and it holds no state worth reading back,
    # so OSCQuery offers it write-only rather than show a value that is never the one sent.
    action: bool = False
    group: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")
        object.__setattr__(self, "default", self.coerce(self.default))

    @property
    def osc_address(self) -> str:
        """`/vj/` + the name with dots as slashes."""
        return "/vj/" + self.name.replace(".", "/")

    @property
    def range_text(self) -> str:
        if self.kind == "enum":
            return " | ".join(self.choices)
        if self.kind == "bool":
            return "true | false"
        if self.min is not None or self.max is not None:
            lo = "" if self.min is None else _fmt(self.min)
            hi = "" if self.max is None else _fmt(self.max)
            text = f"{lo} .. {hi}"
            return f"{self.size} x ({text})" if self.kind == "vector" else text
        return f"{self.size} values" if self.kind == "vector" else ""

    @property
    def normalisable(self) -> bool:
        """Whether a 0..1 control (a fader, a knob) can set this parameter: bounded numbers, bools, enums."""
        if self.kind in ("bool", "enum"):
            return True
        return self.kind in ("float", "int", "vector") and self.min is not None and self.max is not None

    def from_norm(self, x: float) -> Any:
        """The value a 0..1 control position stands for (enums step through their choices)."""
        x = min(1.0, max(0.0, float(x)))
        if not self.normalisable:
            raise ParamError(f"{self.name}: a {self.kind} without a range cannot be set from 0..1")
        if self.kind == "bool":
            return x >= 0.5
        if self.kind == "enum":
            return self.choices[min(len(self.choices) - 1, int(x * len(self.choices)))]
        value = self.min + x * (self.max - self.min)
        if self.kind == "int":
            return self.coerce(round(value))
        if self.kind == "vector":
            return self.coerce([value] * self.size)
        return self.coerce(value)

    def to_norm(self, value: Any) -> float:
        """Where `value` sits on a 0..1 control (for feedback to faders and LEDs)."""
        if not self.normalisable:
            raise ParamError(f"{self.name}: a {self.kind} without a range has no 0..1 position")
        if self.kind == "bool":
            return 1.0 if value else 0.0
        if self.kind == "enum":
            return self.choices.index(value) / max(1, len(self.choices) - 1)
        if self.kind == "vector":
            value = sum(value) / len(value)
        span = self.max - self.min
        return 0.0 if span == 0 else min(1.0, max(0.0, (value - self.min) / span))

    def coerce(self, value: Any) -> Any:
        """The value in this parameter's type, numbers clamped to the range; ParamError if impossible."""
        method = getattr(self, f"_coerce_{self.kind}")
        return method(value)

    def accept(self, value: Any) -> Any:
        """`parse` for text, `coerce` for anything else: what every writer calls."""
        return self.parse(value) if isinstance(value, str) and self.kind != "string" else self.coerce(value)

    def check(self, value: Any) -> Any:
        """`accept`, refusing numbers outside the range instead of clamping them: for what a person
        typed on a command line or in a config file, where a silent clamp would hide a typo."""
        accepted = self.accept(value)
        if self.kind in ("float", "int", "vector") and not all(map(self._within, _numbers(value))):
            raise ParamError(f"{self.name}: {value!r} is out of range; expected {self.range_text}")
        return accepted

    def _within(self, number: float) -> bool:
        return (self.min is None or number >= self.min) and (self.max is None or number <= self.max)

    def parse(self, text: str) -> Any:
        """A value typed as text (command line, config, OSC string)."""
        text = text.strip()
        if self.kind == "vector":
            parts = [p for p in text.replace(",", " ").split() if p]
            return self.coerce([self._number(p, float) for p in parts])
        return self.coerce(text)

    def _fail(self, value: Any, allowed: str) -> ParamError:
        return ParamError(f"{self.name}: {value!r} is not allowed; expected {allowed}")

    def _number(self, value: Any, cast: type) -> float:
        if isinstance(value, bool) or value is None:
            raise self._fail(value, f"a {self.kind} in {self.range_text or 'any range'}")
        try:
            number = cast(float(value)) if cast is int else cast(value)
        except (TypeError, ValueError, OverflowError):
            raise self._fail(value, f"a {self.kind} in {self.range_text or 'any range'}") from None
        if isinstance(number, float) and math.isnan(number):
            raise self._fail(value, "a number, not NaN")
        return number

    def _clamp(self, number: float) -> float:
        if self.min is not None and number < self.min:
            return type(number)(self.min)
        if self.max is not None and number > self.max:
            return type(number)(self.max)
        return number

    def _coerce_float(self, value: Any) -> float:
        return float(self._clamp(self._number(value, float)))

    def _coerce_int(self, value: Any) -> int:
        if isinstance(value, float):
            if not value.is_integer():
                raise self._fail(value, f"a whole number in {self.range_text or 'any range'}")
            value = int(value)
        if isinstance(value, str) and not value.strip().lstrip("+-").isdigit():
            raise self._fail(value, f"a whole number in {self.range_text or 'any range'}")
        return int(self._clamp(self._number(value, int)))

    def _coerce_bool(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise self._fail(value, "true or false (1/0, on/off)")

    def _coerce_enum(self, value: Any) -> str:
        if isinstance(value, str) and value.strip() in self.choices:
            return value.strip()
        raise self._fail(value, f"one of {', '.join(self.choices)}")

    def _coerce_string(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        raise self._fail(value, "text")

    def _coerce_vector(self, value: Any) -> tuple[float, ...]:
        if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != self.size:
            raise self._fail(value, f"{self.size} numbers")
        return tuple(float(self._clamp(self._number(v, float))) for v in value)


def _numbers(value: Any) -> list[float]:
    """The numbers in a value that `accept` took: one, or a vector's (as text or a sequence)."""
    if isinstance(value, str):
        return [float(part) for part in value.replace(",", " ").split()]
    if isinstance(value, Sequence):
        return [float(v) for v in value]
    return [float(value)]


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"
