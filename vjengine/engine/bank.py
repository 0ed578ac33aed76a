"""A bank of models for a set: their names and specs in slot order, the ones resident on the device, and
loading beside the render loop.

The render loop asks `rig_for(slot)` every frame: a resident model comes back at once; one that is not
resident starts loading on the bank's own thread (reading, building, moving to the device, a warm-up frame)
and the loop keeps rendering what it shows until it is ready. At most `keep` models stay resident, the least
recently shown going first; a model that fails to load is one log line, and `model.slot` goes back to what
is on screen. Controllers use `add` (`/vj/model/load`), `select` (`/vj/model/select`) and `select_spec`
(a preset stored with another model).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from vjengine.engine.rig import Rig
from vjengine.errors import VJError
from vjengine.kit import SayOnce
from vjengine.latent.morph import PresetPlayer
from vjengine.models import portable_model
from vjengine.params import ParamStore

log = logging.getLogger(__name__)

SLOT = "model.slot"
NAME = "model.name"
_NAMED = re.compile(r"(?P<name>[A-Za-z][\w-]*)=(?P<spec>.+)")


@dataclass(frozen=True)
class BankEntry:
    """One model of the set: a short `name` (for `/vj/model/select`, the status line) and its `spec`."""

    name: str
    spec: str


def parse_entry(text: str, name: str = "") -> BankEntry:
    """`NAME=SPEC` or a bare `SPEC` (named after its file, e.g. `ffhq.pkl` -> ffhq); `name` overrides."""
    text = str(text).strip()
    match = _NAMED.fullmatch(text)
    spec = match.group("spec").strip() if match else text
    if not spec:
        raise VJError(f"model {text!r}: give a model spec (a .pkl, .pt, .safetensors, a zoo name, a URL or random)")
    if not name and match:
        name = match.group("name")
    return BankEntry(name or default_name(spec), spec)


def default_name(spec: str) -> str:
    """A short name for a spec: a file's or URL's stem, `random:sg2-64` as it is."""
    if spec.startswith("random"):
        return spec
    stem = re.split(r"[/\\]", spec.split("?")[0].rstrip("/\\"))[-1]
    return stem.rsplit(".", 1)[0] if "." in stem else stem


def unique_names(entries: Sequence[BankEntry]) -> list[BankEntry]:
    """The entries with names made unique (a second `ffhq` becomes `ffhq-2`), so each can be selected."""
    seen: set[str] = set()
    out = []
    for entry in entries:
        name, n = entry.name, 1
        while name in seen:
            n += 1
            name = f"{entry.name}-{n}"
        seen.add(name)
        out.append(BankEntry(name, entry.spec))
    return out


class ModelBank:
    """The set's models. `build(entry)` makes a ready `Rig` (it runs on the bank's thread, never the loop's);
    `first` is the rig of slot 0, already built at start."""

    def __init__(
        self,
        entries: Sequence[BankEntry],
        build: Callable[[BankEntry], Rig],
        store: ParamStore,
        first: Rig,
        keep: int = 2,
    ) -> None:
        if not entries:
            raise VJError("the model bank is empty: give at least one --model")
        if keep < 1:
            raise VJError(f"models.keep {keep}: keep at least 1 model resident")
        self.entries = unique_names(entries)
        self.build = build
        self.store = store
        self.keep = keep
        self._lock = threading.Lock()
        self._resident: OrderedDict[int, Rig] = OrderedDict({0: first})  # least recently shown first
        self._jobs: dict[int, Future] = {}
        self._failed: set[int] = set()
        self._said = SayOnce(log)
        self._shown = 0
        self._listeners: list[Callable[[Rig], None]] = []
        # An executor, not a kit Worker: its thread is joined at exit, and a daemon thread still inside torch while
        # the interpreter finalizes aborts the process ("terminate called without an active exception").
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="models")

    # ---------------------------------------------------------------- the render loop's side

    def rig_for(self, slot: int) -> Rig | None:
        """The rig of `slot` when it is resident, else None (and it starts loading, unless it failed)."""
        with self._lock:
            rig = self._resident.get(slot)
            if rig is not None:
                return rig
            if not 0 <= slot < len(self.entries):
                self._said(
                    slot,
                    "%s",
                    f"{SLOT} {slot}: the bank has {len(self.entries)} models (0-"
                    f"{len(self.entries) - 1}); showing {self.entries[self._shown].name}",
                )
                return None
            failed = slot in self._failed
            if not failed and slot not in self._jobs:
                self._jobs[slot] = self._worker.submit(self._load, slot)
        if failed:  # said when it failed; /vj/model/load tries again
            self._back_to_shown(slot)
        return None

    def shown(self, slot: int, rig: Rig) -> None:
        """The loop now shows `slot`: it becomes the most recently shown; models past `keep` leave (their
        threads stop; the memory goes once the loop lets go of them, after a crossfade)."""
        with self._lock:
            self._shown = slot
            self._resident[slot] = rig
            self._resident.move_to_end(slot)
            gone = []
            while len(self._resident) > self.keep:
                old_slot, old = self._resident.popitem(last=False)
                gone.append((old_slot, old))
        for old_slot, old in gone:
            old.close()
            log.info("model %s left the device (models.keep = %d)", self.entries[old_slot].name, self.keep)
        for listener in self._listeners:
            listener(rig)
        self.store.set(NAME, self.entries[slot].name, source="models")

    def listen(self) -> None:
        """`model.name` reads back the model on screen, and setting it (a name, a unique prefix, a slot number)
        selects one; a name that is none of the bank's is refused when set, a start value (`--set`) too."""
        self.store.add_check(NAME, self.find)
        self.store.add_listener(self._name_set)
        wanted = self.store.get(NAME)
        if wanted and self.find(wanted) != self._shown:
            self.select(wanted)
        else:
            self.store.set(NAME, self.entries[self._shown].name, source="models")

    def _name_set(self, name: str, value: str, source: str) -> None:
        if name != NAME or source == "models":
            return
        try:
            slot = self.select(value)
            if value != self.entries[slot].name:  # a prefix or a slot number: it reads back the whole name
                self.store.set(NAME, self.entries[slot].name, source="models")
        except VJError as exc:  # a model that failed to load: said, and the name shows what is on screen
            log.warning("%s %s: %s", NAME, value, exc)
            self.store.set(NAME, self.entries[self._shown].name, source="models")

    def add_listener(self, listener: Callable[[Rig], None]) -> None:
        """Call `listener(rig)` on the render thread whenever the loop starts showing another model."""
        self._listeners.append(listener)

    def follow_presets(self, presets: PresetPlayer) -> None:
        """Presets remember the model on screen when stored, and recalling one stored with another model
        shows that model again (with `model.fade`), adding it to the bank if it is not there."""
        self.add_listener(lambda _rig: setattr(presets, "model", self.entries[self._shown].spec))
        presets.switch_model = self.select_spec

    def resident(self) -> list[str]:
        """The names of the models loaded on the device now, least recently shown first."""
        with self._lock:
            return [self.entries[slot].name for slot in self._resident]

    def is_resident(self, slot: int) -> bool:
        """Whether `slot`'s model is loaded (showing it is then instant)."""
        with self._lock:
            return slot in self._resident

    # ---------------------------------------------------------------- the controllers' side

    def add(self, spec: str, name: str = "") -> int:
        """Add a model to the bank (`/vj/model/load SPEC [NAME]`) and start loading it, so that selecting it
        later is instant; a spec already in the bank keeps its slot. Returns the slot."""
        entry = parse_entry(spec, name)
        with self._lock:
            slot = self._slot_of_spec(entry.spec)
            if slot is None:
                names = {e.name for e in self.entries}
                if entry.name in names:
                    entry = unique_names([*self.entries, entry])[-1]
                self.entries.append(entry)
                slot = len(self.entries) - 1
                log.info("model %s (%s) added to the bank as slot %d", entry.name, entry.spec, slot)
            self._failed.discard(slot)  # loading it again is a new try
            self._said.forget(slot)
            if slot not in self._resident and slot not in self._jobs:
                self._jobs[slot] = self._worker.submit(self._load, slot)
        return slot

    def select(self, name: str) -> int:
        """Show the model named `name` (or a unique prefix of a name, or a slot number): sets `model.slot`."""
        slot = self.find(str(name))
        if slot in self._failed:
            entry = self.entries[slot]
            raise VJError(f"model {entry.name} failed to load (see above); /vj/model/load {entry.spec} tries again")
        self._select(slot)
        return slot

    def select_spec(self, spec: str) -> int:
        """Show the model of `spec` (a preset's model), adding it to the bank if it is not there."""
        with self._lock:
            slot = self._slot_of_spec(spec)
        if slot is None:
            slot = self.add(spec)
        self._select(slot)
        return slot

    def find(self, name: str) -> int:
        """The slot of a name, a unique prefix of one, or a slot number; a VJError saying what there is."""
        text = name.strip()
        names = [entry.name for entry in self.entries]
        if text in names:
            return names.index(text)
        if text.isdigit() and int(text) < len(names):
            return int(text)
        matches = [i for i, n in enumerate(names) if n.lower().startswith(text.lower())] if text else []
        if len(matches) == 1:
            return matches[0]
        what = "matches several" if matches else "is none"
        raise VJError(f"model {name!r} {what} of the bank's models: {', '.join(names)}")

    def name(self, slot: int) -> str:
        return self.entries[slot].name if 0 <= slot < len(self.entries) else str(slot)

    def close(self) -> None:
        """Stop loading and the resident rigs' threads."""
        with contextlib.suppress(ValueError):  # listen() may not have been called
            self.store.remove_listener(self._name_set)
        self._worker.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            rigs = list(self._resident.values())
        for rig in rigs:
            rig.close()

    # ---------------------------------------------------------------- inside

    def _select(self, slot: int) -> None:
        self.store.set(SLOT, slot, source="models")

    def _slot_of_spec(self, spec: str) -> int | None:
        wanted = {spec, portable_model(spec)}
        for slot, entry in enumerate(self.entries):
            if entry.spec in wanted or portable_model(entry.spec) in wanted:
                return slot
        return None

    def _load(self, slot: int) -> None:
        entry = self.entries[slot]
        try:
            rig = self.build(entry)
        except Exception as exc:  # a bad file, a malicious pickle, no memory: the show goes on
            reason = str(exc) if isinstance(exc, VJError) else f"{type(exc).__name__}: {exc}"
            with self._lock:
                self._failed.add(slot)
                del self._jobs[slot]
                shown = self._shown
            log.error(
                "model %s failed to load (%s); still showing %s (/vj/model/load %s tries again)",
                entry.name,
                reason,
                self.entries[shown].name,
                entry.spec,
            )
            self._back_to_shown(slot)
            return
        with self._lock:
            self._resident[slot] = rig
            self._resident.move_to_end(slot, last=False)  # loaded, not shown yet: first to go if unused
            del self._jobs[slot]
        log.info("model %s ready (%s)", entry.name, entry.spec)

    def _back_to_shown(self, failed: int) -> None:
        """Controllers show what is on screen, not a model that could not be loaded."""
        if self.store.get(SLOT) == failed:
            self.store.set(SLOT, self._shown, source="models")
