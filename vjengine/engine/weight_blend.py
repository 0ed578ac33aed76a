"""Blending two models' weights live (`model.blend`): fine-tunes of one model, mixed like two pictures are not.

Two models of the same architecture and shapes (a model and its fine-tune, as VJs often train) have weights
that mean the same thing, so their average is a model in between. `WeightBlend` keeps copies of the model on
screen and writes `lerp(shown, other, model.blend)` into one whenever the amount or the layers change, all on
its worker thread, never the loop's. `model.blend.layers` blends only the synthesis layers reading some
w rows (`coarse` from the other model: its shapes with this one's colours); the mapping network, the
constant and the input layers blend with `all` only. Each model's fixed noise stays the one on screen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from vjengine.engine.rig import Rig
from vjengine.errors import VJError
from vjengine.kit import Newest, SayOnce, Worker
from vjengine.latent.regions import layer_range
from vjengine.models.build import build_generator
from vjengine.models.manipulation import Manipulator

log = logging.getLogger(__name__)


def mismatch(a: nn.Module, b: nn.Module) -> str | None:
    """Why two generators cannot blend (None when they can): another architecture or other tensor shapes."""
    if a.config != b.config:
        return "their architectures differ (only fine-tunes of one model blend)"
    shapes_a = {k: tuple(v.shape) for k, v in a.state_dict().items()}
    shapes_b = {k: tuple(v.shape) for k, v in b.state_dict().items()}
    if shapes_a != shapes_b:
        name = next(k for k in shapes_a if shapes_a[k] != shapes_b.get(k))
        return f"their tensors differ ({name}: {shapes_a[name]} and {shapes_b.get(name)})"
    return None


def blended_names(G: nn.Module, rows: range | None) -> set[str]:
    """The state-dict names that blend: every float tensor but the noise maps (`rows` None, i.e. all), or those
    of the synthesis layers reading a w row in `rows`."""
    names = {k for k, v in G.state_dict().items() if v.is_floating_point() and not k.endswith("noise_const")}
    if rows is None:
        return names
    prefixes = [(f"synthesis.{layer.name}.", layer.row) for layer in G.style_layers(include_torgb=True)]
    return {k for k in names if any(k.startswith(prefix) and row in rows for prefix, row in prefixes)}


@dataclass(frozen=True)
class _Mix:
    """A blended copy: `rig` holding `shown` moved `amount` of the way to the pair's other model on `layers`."""

    pair: int  # which pair of models it belongs to (WeightBlend counts them)
    rig: Rig | None  # None when mixing failed
    amount: float
    layers: str

    @property
    def wanted(self) -> tuple[int, float, str]:
        return self.pair, self.amount, self.layers


@dataclass(frozen=True)
class _Order:
    """What the render thread asks the blend worker for; `into` is a copy no frame renders now, or None: make one."""

    pair: int
    shown: Rig
    other: Rig
    amount: float
    layers: str
    rows: range | None
    into: Rig | None


class WeightBlend:
    """The rig to render for `model.blend`: the shown one, or a blended copy once it is ready.

    The copies are made and mixed on the blend's worker thread (a kit Worker), never the render loop's: the
    weight mix and `G.refresh()` (the Winograd filters) take far longer than a frame. There are two copies: the
    loop renders one while the worker mixes the other for the newest amount, and picks that one up, finished,
    at the next frame (the one it leaves becomes the next to mix into). `wait` (offline, `vjengine render`)
    mixes on the calling thread and returns the copy at once.
    """

    def __init__(self, wait: bool = False) -> None:
        self.wait = wait
        self._said = SayOnce(log)
        self._pair: tuple[Rig, Rig] | None = None
        self._pairs = 0  # counts pairs, so that a mix for a pair no longer shown is dropped
        self._shown: _Mix | None = None  # the finished copy the loop renders
        self._spare: Rig | None = None  # the other copy, free to mix into
        self._pending = False  # an order is with the worker
        self._failed: tuple | None = None  # the mix that failed last: not asked for again
        self._orders: Newest[_Order] = Newest()
        self._mixed: Newest[_Mix] = Newest()
        self._taken = 0  # the serial of the newest mix picked up
        self._worker = Worker("blend", self._work, on_stop=self._orders.close, logger=log)

    def rig(self, shown: Rig, other: Rig | None, amount: float, layers: str) -> Rig:
        """What renders this frame: `shown` moved `amount` (0..1) of the way to `other` on `layers`."""
        if amount <= 0 or other is None or other is shown or other.closed:
            return shown
        if self._pair is None or self._pair[0] is not shown or self._pair[1] is not other:
            problem = mismatch(shown.generator, other.generator)
            if problem is not None:
                names = f"{shown.name or shown.spec} and {other.name or other.spec}"
                self._said(("pair", names), "model.blend: %s do not blend: %s", names, problem)
                return shown
            self._pair, self._pairs, self._shown, self._spare = (shown, other), self._pairs + 1, None, None
        try:
            rows = _rows(layers, shown.generator)
        except VJError as exc:
            self._said(("layers", layers), "model.blend.layers: %s; the model shows unblended", exc)
            return shown
        wanted = (self._pairs, float(amount), layers)
        if self.wait:
            if self._shown is None or self._shown.wanted != wanted:
                into = self._shown.rig if self._shown is not None else None
                self._shown = _mix(_Order(self._pairs, shown, other, float(amount), layers, rows, into))
            return self._shown.rig or shown
        self._take_finished()
        if not self._pending and wanted not in (self._failed, self._shown.wanted if self._shown else None):
            self._orders.put(_Order(self._pairs, shown, other, float(amount), layers, rows, self._spare))
            self._spare, self._pending = None, True
            self._worker.start()
        return self._shown.rig if self._shown is not None and self._shown.rig is not None else shown

    def close(self, timeout: float = 30.0) -> None:
        """Stop the worker, letting a mix in progress finish (at most `timeout` s): a thread still inside torch
        while the interpreter exits would abort the process."""
        self._worker.stop(timeout)

    def _take_finished(self) -> None:
        """At a frame boundary: the newest finished mix of this pair becomes the shown copy, and the copy shown
        until now (no frame renders it any more) the spare."""
        serial, mixed = self._mixed.latest()
        if serial == self._taken or mixed is None:
            return
        self._taken, self._pending = serial, False
        if mixed.rig is None:
            self._failed = mixed.wanted  # said on the worker
        if mixed.pair != self._pairs or mixed.rig is None:
            return  # for models no longer shown, or failed
        if self._shown is not None and self._shown.pair == mixed.pair:
            self._spare = self._shown.rig
        self._shown = mixed

    def _work(self) -> None:
        serial = 0
        while (newest := self._orders.wait_newer(serial)) is not None:
            serial, order = newest
            try:
                mixed = _mix(order)
                if order.shown.device.type == "cuda":
                    torch.cuda.synchronize(order.shown.device)  # finished before the loop renders it
            except Exception as exc:  # no memory for the copy, a model closed under us: the picture stays unblended
                self._said(("failed", type(exc)), "model.blend failed (%s); the model shows unblended", exc)
                mixed = _Mix(order.pair, None, order.amount, order.layers)
            self._mixed.put(mixed)


def _mix(order: _Order) -> _Mix:
    """Make or reuse a copy of the shown model and write the order's mix into it (slow: the worker's job)."""
    rig = order.into or _copy(order.shown)
    _blend_into(rig, order.shown, order.other, order.amount, order.rows)
    return _Mix(order.pair, rig, order.amount, order.layers)


def _rows(layers: str, G: nn.Module) -> range | None:
    return None if layers.strip().lower() in ("", "all") else layer_range(layers, G.num_ws, G.arch)


def _copy(shown: Rig) -> Rig:
    """A rig around a copy of `shown`'s generator, sharing its presets and direction offsets."""
    source = shown.generator
    copy = build_generator(source.config)  # in eval mode, without gradients
    copy.load_state_dict(source.state_dict())
    copy = copy.to(source.mapping.w_avg.device)
    copy.source = getattr(source, "source", "")
    return Rig.build(
        copy,
        presets=shown.composer.presets,
        offsets=shown.composer.offsets,
        precision=shown.precision,
        force_fp32=shown.force_fp32,
        name=shown.name,
    )


@torch.no_grad()
def _blend_into(blended: Rig, a: Rig, b: Rig, amount: float, rows: range | None) -> None:
    """Write `lerp(a, b, amount)` into `blended`'s tensors that blend, `a`'s into the others."""
    G = blended.generator
    names = blended_names(G, rows)
    state_a, state_b = a.generator.state_dict(), b.generator.state_dict()
    for name, tensor in G.state_dict().items():
        if name in names:
            tensor.copy_(torch.lerp(state_a[name], state_b[name], float(amount)))
        else:
            tensor.copy_(state_a[name])
    G.refresh()  # the layers keep values derived from their weights
    blended.manipulator = Manipulator(G)  # its copy of the constant is the blended one now
