"""Blending two models' weights live (`model.blend`): fine-tunes of one model, mixed like two pictures are not.

Two models of the same architecture and shapes (a model and its fine-tune, as VJs often train) have weights
that mean the same thing, so their average is a model in between. `WeightBlend` keeps a copy of the model on
screen (made on a worker thread, never the loop's) and writes `lerp(shown, other, model.blend)` into it
whenever the amount or the layers change. `model.blend.layers` blends only the synthesis layers reading some
w rows (`coarse` from the other model: its shapes with this one's colours); the mapping network, the
constant and the input layers blend with `all` only. Each model's fixed noise stays the one on screen.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

import torch
from torch import nn

from vjengine.errors import VJError
from vjengine.latent.regions import layer_range
from vjengine.models.build import build_generator
from vjengine.models.manipulation import Manipulator
from vjengine.rig import Rig

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


class WeightBlend:
    """The rig to render for `model.blend`: the shown one, or a blended copy once it is ready.

    `wait` (offline, `vjengine render`) makes the copy at once instead of on the worker thread."""

    def __init__(self, wait: bool = False) -> None:
        self.wait = wait
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="blend")
        self._pair: tuple[Rig, Rig] | None = None
        self._job: Future | None = None
        self._applied: tuple[float, str] | None = None
        self._said: set[str] = set()

    def rig(self, shown: Rig, other: Rig | None, amount: float, layers: str) -> Rig:
        """What renders this frame: `shown` moved `amount` (0..1) of the way to `other` on `layers`."""
        if amount <= 0 or other is None or other is shown or other.closed:
            return shown
        if self._pair is None or self._pair[0] is not shown or self._pair[1] is not other:
            problem = mismatch(shown.generator, other.generator)
            if problem is not None:
                self._say(
                    f"model.blend: {shown.name or shown.spec} and {other.name or other.spec} do not blend: {problem}"
                )
                return shown
            self._pair, self._applied = (shown, other), None
            self._job = self._worker.submit(_copy, shown)
        if not self.wait and not self._job.done():
            return shown  # the copy is being made beside the loop
        try:
            blended = self._job.result()
            if (amount, layers) != self._applied:
                _blend_into(blended, shown, other, amount, _rows(layers, shown.generator))
                self._applied = (amount, layers)
        except VJError as exc:
            self._say(f"model.blend.layers: {exc}; the model shows unblended")
            return shown
        return blended

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    def _say(self, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            log.warning("%s", message)


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
