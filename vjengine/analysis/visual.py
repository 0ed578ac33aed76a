"""The camera as a latent controller: VGG16 features per region of the frame become fake z vectors."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from vjengine.analysis.base import Signals
from vjengine.analysis.regions import Layout, parse_layout, region_means
from vjengine.analysis.vgg import LAYERS, VGGEncoder
from vjengine.errors import VJError
from vjengine.kit import SayOnce
from vjengine.params.registry import REGISTRY
from vjengine.sources import Frame

log = logging.getLogger(__name__)

SETTINGS = ("visual.enabled", "visual.size", "visual.layers", "visual.layer", "visual.layout")  # what it reads


class VisualAnalyser:
    """Runs VGG16 up to `visual.layer` on the frame, splits the map by `visual.layout` and keeps one
    fake z per region (`latest_z`, [regions, z_dim]). Slow: run it wrapped in an AsyncAnalyser.

    Takes its parameters (`visual.*`) from the frame's snapshot (`configure`, called by the loop with every
    frame handed over), so a layer or layout change takes effect with the next analysed frame.
    Signals: `visual.region.N.norm`, each region's z size relative to a standard normal z (about 1 when
    the camera's z looks like G.mapping's input).
    """

    name = "visual"

    def __init__(self, encoder: VGGEncoder | Callable[[], VGGEncoder], z_dim: int) -> None:
        # A factory defers opening VGG16 (perhaps a 528 MB download) to the first frame analysed while
        # `visual.enabled` is on, so a show without camera analysis never fetches it.
        self._encoder = encoder if isinstance(encoder, VGGEncoder) else None
        self._open_encoder = None if isinstance(encoder, VGGEncoder) else encoder
        self.z_dim = z_dim
        self._z: torch.Tensor | None = None
        self._values: dict[str, Any] = {p.name: p.default for p in REGISTRY if p.name in SETTINGS}
        self._layout: Layout = parse_layout(self._values["visual.layout"])
        self._said = SayOnce(log)  # bad specs: this runs every frame

    @property
    def encoder(self) -> VGGEncoder:
        """The VGG16 encoder, opened now if it was given as a factory (on the analysis thread)."""
        if self._encoder is None:
            self._encoder = self._open_encoder()
        return self._encoder

    def configure(self, values: Mapping[str, Any]) -> None:
        """Take the `visual.*` parameters the next analyses use from `values` (a frame's snapshot)."""
        self._values = {name: values[name] for name in SETTINGS}

    def latest_z(self) -> torch.Tensor | None:
        """The newest region latents, or None before the first analysis or while disabled."""
        return self._z

    def analyse(self, frame: Frame) -> Signals:
        if not self._values["visual.enabled"]:
            self._z = None
            return {}
        layout = self._current_layout()
        self.encoder.analysis_size = self._values["visual.size"]
        weights = self._layer_weights()
        maps = self.encoder.feature_maps(frame.image, weights)
        z = sum(w * self.encoder.project(region_means(maps[name], layout), self.z_dim) for name, w in weights.items())
        self._z = z
        norms = z.norm(dim=1) / math.sqrt(self.z_dim)
        return {f"visual.region.{i}.norm": float(n) for i, n in enumerate(norms)}

    def _layer_weights(self) -> dict[str, float]:
        """{layer: weight}: `visual.layers` when set (the paper's Equation 2), else `visual.layer` alone."""
        spec = self._values["visual.layers"].strip()
        if not spec:
            return {self._values["visual.layer"]: 1.0}
        try:
            return parse_layer_weights(spec)
        except VJError as exc:
            self._said(("visual.layers", spec), "visual.layers: %s; using visual.layer", exc)
            return {self._values["visual.layer"]: 1.0}

    def _current_layout(self) -> Layout:
        """The layout named by the parameter; a bad name is logged once and the last good one kept."""
        name = self._values["visual.layout"]
        if name == self._layout.name:
            return self._layout
        try:
            self._layout = parse_layout(name)
        except VJError as exc:
            self._said(("visual.layout", name), "visual.layout: %s; keeping %s", exc, self._layout.name)
        return self._layout


def parse_layer_weights(spec: str) -> dict[str, float]:
    """'conv4_1:0.7, conv5_1:0.3' -> {'conv4_1': 0.7, 'conv5_1': 0.3}; a bare name weighs 1."""
    weights: dict[str, float] = {}
    for item in (part.strip() for part in spec.split(",")):
        name, _, text = item.partition(":")
        name = name.strip()
        if name not in LAYERS:
            raise VJError(f"unknown VGG16 layer {name!r}; choose from {', '.join(LAYERS)}")
        try:
            weights[name] = float(text) if text.strip() else 1.0
        except ValueError:
            raise VJError(f"weight {text!r} of {name} is not a number") from None
    return weights


# The camera analysis's text parameters (see `ParamStore.add_check`); neither depends on the model.
TEXT_CHECKS = {"visual.layout": parse_layout, "visual.layers": parse_layer_weights}
