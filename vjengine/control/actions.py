"""Actions: what a controller asks the engine to do once (store a preset, recall one, arm MIDI learn, tap the
tempo), where a parameter holds a value.

Each action is declared once, in `ACTIONS`: its name, its OSC address, its arguments, whether it waits for
`preset.quantize`, and the one function that does it. `Actions.invoke` is the one way to run one, whoever
asks: OSC over UDP and TCP and OSCQuery's websocket (the browser page's pads and keys) by its address; MIDI
pads, triggers and `--set` through the action's parameter (`preset.recall`, `tempo.tap`), which reads its
default again at once so the same pad can be pressed again. The OSC addresses, the OSCQuery routing,
`vjengine params --actions` and the table in docs/osc.md all come from these declarations.

Which actions wait for the beat (`quantized`): those that change what is on screen at a moment a performer
wants on the music, a preset recall and a model select. The others do not: storing a preset keeps what is
on screen *now* (waiting would store a later picture); learn, bind, unbind and reset are setup, not
performance; loading a model only starts it loading beside the loop (nothing shows until it is selected);
and a tap is itself the timing (holding it would move it onto the old tempo's grid).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vjengine.control.midi import learnable
from vjengine.errors import VJError

if TYPE_CHECKING:
    from vjengine.engine.bank import ModelBank
    from vjengine.latent.morph import PresetPlayer
    from vjengine.params import ParamStore
    from vjengine.params.modulation import Modulation

log = logging.getLogger(__name__)

Defer = Callable[[Callable[[], None]], None]
PREFIX = "/vj/"
SOURCE = "actions"  # the source of an action parameter's own reset to its default
AT_START = "start"  # a request already in an action parameter when the engine starts (`--set preset.recall=3`)
MAX_LOGGED_PROBLEMS = 200
# How a log line names who asked; others (a source the store knows) are named as they are.
SURFACES = {"osc": "OSC", "oscquery": "OSCQuery", "midi": "MIDI", AT_START: "at start", "config": "config"}


class ArgumentError(VJError):
    """An action got arguments it cannot take; the message says what to send."""


@dataclass(frozen=True)
class Argument:
    """One argument of an action: `kind` is int, float or str; `optional` ones may be left out, and a `many`
    argument takes any number of values (none too)."""

    name: str
    kind: type
    help: str
    optional: bool = False
    many: bool = False

    @property
    def usage(self) -> str:
        """How a user writes it: `SLOT`, `[NAME]`, `[NAMES ...]`."""
        word = self.name.upper()
        return f"[{word} ...]" if self.many else f"[{word}]" if self.optional else word

    def convert(self, value: Any) -> Any:
        """`value` as this argument's kind; ArgumentError when it is not one (controllers send whole numbers
        as floats, so 3.0 is a fine slot)."""
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ArgumentError(f"{self.name} is {_kind_name(self.kind)}, not {value!r}")
        if self.kind is str:
            return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        if isinstance(value, str):
            raise ArgumentError(f"{self.name} is {_kind_name(self.kind)}, not the text {value!r}")
        if self.kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ArgumentError(f"{self.name} is a whole number, not {value!r}")
            return int(value)
        if value != value:
            raise ArgumentError(f"{self.name} is a number, not NaN")
        return float(value)


@dataclass(frozen=True)
class Targets:
    """What the actions act on in this run; an action whose target is missing says so when asked."""

    store: ParamStore
    presets: PresetPlayer | None = None
    modulation: Modulation | None = None
    models: ModelBank | None = None
    learn: Callable[[str], None] | None = None  # MIDI learn (None: MIDI is off)
    tap: Callable[[], None] | None = None  # one tap of the tap tempo


@dataclass(frozen=True)
class Action:
    """One action: `run(targets, *arguments)` does it. With `quantized`, it waits for the boundary
    `preset.quantize` names. With `param`, writing that parameter (a MIDI pad, a trigger, `--set`) asks for it
    too, the value being its first argument."""

    name: str
    help: str
    arguments: tuple[Argument, ...]
    run: Callable[..., object]
    quantized: bool = False
    param: str | None = None

    @property
    def address(self) -> str:
        """Its OSC address: the name with slashes under /vj/ (`preset.recall` -> `/vj/preset/recall`)."""
        return PREFIX + self.name.replace(".", "/")

    @property
    def usage(self) -> str:
        """What to send: `/vj/preset/store SLOT [NAME]`."""
        return " ".join([self.address, *(argument.usage for argument in self.arguments)])

    def parse(self, args: Sequence[Any]) -> tuple:
        """The arguments converted to their kinds; ArgumentError saying what is wrong."""
        values, rest = [], list(args)
        for argument in self.arguments:
            if argument.many:
                values += [argument.convert(value) for value in rest]
                rest = []
            elif rest:
                values.append(argument.convert(rest.pop(0)))
            elif not argument.optional:
                raise ArgumentError("wrong arguments")
        if rest:
            raise ArgumentError("wrong arguments")
        return tuple(values)


# ---------------------------------------------------------------------------------------- what each one does


def _presets(targets: Targets) -> PresetPlayer:
    if targets.presets is None:
        raise VJError("this run has no preset bank")
    return targets.presets


def _models(targets: Targets) -> ModelBank:
    if targets.models is None:
        raise VJError("this run has no model bank")
    return targets.models


def _modulation(targets: Targets) -> Modulation:
    if targets.modulation is None:
        raise VJError("this run has no modulation")
    return targets.modulation


def store_preset(targets: Targets, slot: int, name: str = "") -> None:
    _presets(targets).store_preset(slot, name)


def recall_preset(targets: Targets, slot: int, seconds: float | None = None) -> None:
    _presets(targets).recall(slot, seconds)


def learn(targets: Targets, name: str) -> None:
    if name:
        learnable(targets.store, name)  # the parameter's own mistake first, whether or not MIDI is on
    if targets.learn is None:
        raise VJError(f"MIDI learn of {name or 'nothing'}: MIDI is off; start with --midi NAME (see vjengine devices)")
    targets.learn(name)


def bind(targets: Targets, binding: str) -> None:
    log.info("modulation: bound %s", _modulation(targets).bind(binding))  # the sender hears nothing back


def unbind(targets: Targets, param: str, signal: str | None = None) -> None:
    if not _modulation(targets).unbind(param, signal):
        raise VJError(
            f"no modulation drives {param!r}" + (f" from {signal!r}" if signal else "") + "; nothing to unbind"
        )


def reset(targets: Targets, *names: str) -> None:
    if not names:
        targets.store.reset(source="reset")
    for name in names:
        targets.store.reset(name, source="reset")


def load_model(targets: Targets, spec: str, name: str = "") -> None:
    _models(targets).add(spec, name)


def select_model(targets: Targets, name: str) -> None:
    _models(targets).select(name)


def tap_tempo(targets: Targets) -> None:
    if targets.tap is None:
        raise VJError("this run has no tap tempo")
    targets.tap()


ACTIONS: tuple[Action, ...] = (
    Action(
        "preset.store",
        "save the look on screen (w+ and its parameters) in the bank",
        (Argument("slot", int, "a preset slot, 1-127"), Argument("name", str, "a name to show with it", optional=True)),
        store_preset,
    ),
    Action(
        "preset.recall",
        "cross-fade to the preset over `preset.time` (or the seconds given); slot 0 = back to the live seed",
        (
            Argument("slot", int, "a preset slot, or 0"),
            Argument("seconds", float, "the crossfade's length", optional=True),
        ),
        recall_preset,
        quantized=True,
        param="preset.recall",
    ),
    Action(
        "learn",
        "MIDI learn: the next control moved drives it (needs `--midi`); empty = stop learning",
        (Argument("name", str, "a parameter's name"),),
        learn,
    ),
    Action(
        "bind",
        'add or replace a modulation binding live: `"PARAM += SIGNAL * SCALE + OFFSET"`',
        (Argument("binding", str, "PARAM += SIGNAL * SCALE + OFFSET"),),
        bind,
    ),
    Action(
        "unbind",
        "remove the parameter's bindings (from that signal only, when given)",
        (Argument("param", str, "a parameter's name"), Argument("signal", str, "a signal's name", optional=True)),
        unbind,
    ),
    Action(
        "reset",
        "back to the default (all parameters when none is named)",
        (Argument("names", str, "parameters' names", many=True),),
        reset,
    ),
    Action(
        "model.load",
        "add a model to the bank and load it beside the render loop (selecting it later is instant)",
        (
            Argument("spec", str, "a model: a file, a URL or a known name"),
            Argument("name", str, "a short name for it", optional=True),
        ),
        load_model,
    ),
    Action(
        "model.select",
        "show that model of the bank (sets `model.slot`), with the `model.fade` crossfade",
        (Argument("name", str, "a model's name, a unique prefix of one, or a slot number"),),
        select_model,
        quantized=True,
    ),
    Action(
        "tempo.tap",
        "one tap of the tap tempo: two taps or more set `tempo.bpm`",
        (),
        tap_tempo,
        param="tempo.tap",
    ),
)
BY_NAME = {action.name: action for action in ACTIONS}
BY_ADDRESS = {action.address: action for action in ACTIONS}


def find(which: str) -> Action:
    """The action named `which` (`preset.recall`) or at that OSC address (`/vj/preset/recall`)."""
    action = BY_NAME.get(which) or BY_ADDRESS.get(which)
    if action is None:
        raise KeyError(f"no action {which!r}; the actions are {', '.join(BY_NAME)}")
    return action


# ------------------------------------------------------------------------------------------------ dispatching


class Actions:
    """Runs the declared actions on this run's `targets`; quantized ones go through `defer` (the tempo's
    quantizer: it holds an action until the next beat or bar, or runs it now when `preset.quantize` is off or
    no tempo runs). Without `defer` (before the tempo is open), everything runs at once."""

    def __init__(self, targets: Targets, defer: Defer | None = None) -> None:
        self.targets = targets
        self.defer = defer
        self._logged: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._by_param = {action.param: action for action in ACTIONS if action.param}

    @property
    def declared(self) -> tuple[Action, ...]:
        """Every action, in declaration order: what the OSC surfaces answer."""
        return ACTIONS

    def invoke(self, which: str, args: Sequence[Any] = (), source: str = "api") -> bool:
        """Run (or, quantized, hold for the boundary) the action named `which` or at that address, asked by
        `source` (`osc`, `midi` ...). A mistake or a failure is one warning line, said once; never raises for
        them. Returns whether the action was taken (done or held)."""
        action = find(which)
        try:
            values = action.parse(args)
        except ArgumentError as exc:
            self._say(action, args, source, f"{exc}; send {action.usage}")
            return False
        if action.quantized and self.defer is not None:
            self.defer(lambda: self._run(action, values, args, source))
            return True
        return self._run(action, values, args, source)

    def listen(self) -> None:
        """Writes of an action's parameter (`preset.recall`, `tempo.tap`) ask for the action. One written before
        (`--set preset.recall=3`, `[params]`) is done now, without waiting for a beat: the first frame shows it."""
        store = self.targets.store
        store.add_listener(self._param_set)
        for name, action in self._by_param.items():
            value = store.get(name)
            if value != store.params[name].default:
                store.set(name, store.params[name].default, source=SOURCE)
                args = (value,) if action.arguments else ()
                try:
                    values = action.parse(args)
                except ArgumentError as exc:
                    self._say(action, args, AT_START, str(exc))
                    continue
                self._run(action, values, args, AT_START)

    def close(self) -> None:
        with contextlib.suppress(ValueError):  # listen() was never called
            self.targets.store.remove_listener(self._param_set)

    def _param_set(self, name: str, value: Any, source: str) -> None:
        action = self._by_param.get(name)
        if action is None or source == SOURCE:
            return
        default = self.targets.store.params[name].default
        if value == default:
            return
        self.targets.store.set(name, default, source=SOURCE)  # reads its default at once: press the pad again
        self.invoke(action.name, (value,) if action.arguments else (), source)

    def _run(self, action: Action, values: tuple, args: Sequence[Any], source: str) -> bool:
        try:
            action.run(self.targets, *values)
            return True
        except Exception as exc:  # a failing action is said, whatever failed; the engine renders on
            why = exc if isinstance(exc, (VJError, ValueError)) else f"{type(exc).__name__}: {exc}"
            self._say(action, args, source, f"{why}; ignored")
            return False

    def _say(self, action: Action, args: Sequence[Any], source: str, why: str) -> None:
        message = f"{SURFACES.get(source, source)} {action.address} {list(args)}: {why}"
        with self._lock:
            key = (action.name, message)
            if key in self._logged or len(self._logged) >= MAX_LOGGED_PROBLEMS:
                return
            self._logged.add(key)
        log.warning("%s", message)


# ------------------------------------------------------------------------------------------------ describing


def actions_markdown() -> str:
    """The table of actions in docs/osc.md (tests compare it)."""
    lines = ["| address | arguments | waits for `preset.quantize` | does |", "|" + " --- |" * 4]
    for action in ACTIONS:
        arguments = " ".join(argument.usage for argument in action.arguments) or "none"
        waits = "yes" if action.quantized else "no"
        lines.append(f"| `{action.address}` | {arguments} | {waits} | {action.help.replace('|', chr(92) + '|')} |")
    return "\n".join(lines)


def actions_table() -> str:
    """A plain-text listing of the actions for the terminal."""
    out = []
    for action in ACTIONS:
        waits = " (waits for preset.quantize)" if action.quantized else ""
        out.append(f"  {action.usage}{waits}")
        out.append(f"      {action.help.replace('`', '')}")
        for argument in action.arguments:
            if argument.help:
                out.append(f"      {argument.name.upper()}: {argument.help}")
    return "\n".join(out)


def actions_json() -> list[dict[str, Any]]:
    """One object per action, in declaration order."""
    return [
        {
            "name": action.name,
            "osc": action.address,
            "arguments": [
                {"name": a.name, "type": a.kind.__name__, "optional": a.optional, "many": a.many, "help": a.help}
                for a in action.arguments
            ],
            "quantized": action.quantized,
            "param": action.param,
            "description": action.help,
        }
        for action in ACTIONS
    ]


def _kind_name(kind: type) -> str:
    return {int: "a whole number", float: "a number", str: "text"}[kind]


__all__ = [
    "ACTIONS",
    "Action",
    "Actions",
    "Argument",
    "ArgumentError",
    "Targets",
    "actions_json",
    "actions_markdown",
    "actions_table",
    "find",
]
