"""One generator for StyleGAN2 and StyleGAN3: a mapping network, then the synthesis network of the
architecture the weight file describes.

Written from the papers (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN"; Karras et al. 2021, "Alias-Free Generative Adversarial Networks") and from what NVIDIA's
weight files dictate: parameter names and shapes, the number of w rows, the stored filters. The
public surface keeps NVIDIA's names so that users' scripts work unchanged:

    G.mapping(z, c, truncation_psi, truncation_cutoff) -> ws [N, num_ws, w_dim]
    G.synthesis(ws, noise_mode)                        -> images [N, img_channels, R, R]
    G.z_dim, G.c_dim, G.w_dim, G.num_ws, G.img_resolution, G.img_channels

and, for the engine, an explicit interface instead of attribute probing: `G.arch`,
`G.style_layers()` (the style affines in w order), `G.const` (StyleGAN2's learned 4x4 input) and
`G.input_transform` (StyleGAN3's 3x3 input transform).
"""

from __future__ import annotations

import torch
from torch import nn

from vjengine.models.equalized import Dense, StyleLayer, normalize_rows
from vjengine.models.stylegan2_synthesis import StyleGAN2Synthesis
from vjengine.models.stylegan3_synthesis import StyleGAN3Synthesis

SYNTHESIS: dict[str, type[nn.Module]] = {"stylegan2": StyleGAN2Synthesis, "stylegan3": StyleGAN3Synthesis}


class MappingNetwork(nn.Module):
    """z (and a one-hot class label c for conditional models) to w, repeated for every w row.

    Truncation pulls rows toward `w_avg`, the running mean of w that training tracked.
    """

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int,
        num_layers: int = 8,
        embed_features: int | None = None,
        layer_features: int | None = None,
        lr_multiplier: float = 0.01,
        activation: str = "lrelu",
    ) -> None:
        super().__init__()
        if activation not in ("lrelu", "linear"):
            raise ValueError(f"mapping activation {activation!r} is not supported (lrelu or linear)")
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        embed_features = (w_dim if c_dim else 0) if embed_features is None else embed_features
        layer_features = w_dim if layer_features is None else layer_features
        if c_dim:
            self.embed = Dense(c_dim, embed_features)
        self.num_layers = num_layers
        self.names = [f"fc{i}" for i in range(num_layers)]
        for i, name in enumerate(self.names):
            fan_in = z_dim + embed_features if i == 0 else layer_features
            fan_out = w_dim if name == self.names[-1] else layer_features
            self.add_module(name, Dense(fan_in, fan_out, lr=lr_multiplier, act=activation == "lrelu"))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        parts = [normalize_rows(z.float())] if self.z_dim else []
        if self.c_dim:
            if c is None:
                raise ValueError(f"this is a conditional model with {self.c_dim} classes: pass a one-hot label c")
            parts.append(normalize_rows(self.embed(c.float())))
        x = torch.cat(parts, dim=1)
        for name in self.names:
            x = self.get_submodule(name)(x)
        # Truncation in float32 whatever the layers ran in (bf16 autocast makes x bf16).
        ws = x.float().unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            rows = slice(None) if truncation_cutoff is None else slice(None, truncation_cutoff)
            ws[:, rows] = torch.lerp(self.w_avg.float(), ws[:, rows], float(truncation_psi))
        return ws


class Generator(nn.Module):
    """A StyleGAN2 or StyleGAN3 generator; `arch` picks the synthesis network, the keyword
    arguments are those NVIDIA's training code stores with each snapshot."""

    def __init__(
        self,
        arch: str,
        z_dim: int = 512,
        c_dim: int = 0,
        w_dim: int = 512,
        img_resolution: int = 256,
        img_channels: int = 3,
        mapping_kwargs: dict | None = None,
        **options,
    ) -> None:
        super().__init__()
        if arch not in SYNTHESIS:
            raise ValueError(f"unknown architecture {arch!r}: this build knows {', '.join(SYNTHESIS)}")
        self.arch = arch
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SYNTHESIS[arch](w_dim, img_resolution, img_channels, **options)
        # NVIDIA's StyleGAN3 configs default to a 2-layer mapping network, StyleGAN2's to 8.
        layers = 2 if arch == "stylegan3" else 8
        self.mapping = MappingNetwork(
            z_dim, c_dim, w_dim, self.synthesis.num_ws, **{"num_layers": layers, **(mapping_kwargs or {})}
        )
        self.synthesis.prepare_layout()
        self.register_load_state_dict_post_hook(lambda module, _: module.refresh())

    def refresh(self) -> None:
        """Recompute what the layers keep derived from their weights. Loading a state dict does it;
        call it after changing convolution weights in place by hand."""
        for module in self.modules():
            if module is not self and hasattr(module, "refresh"):
                module.refresh()

    def _apply(self, fn, recurse=True):  # noqa: ANN001, ANN202 - nn.Module's own signature
        # After a move or a cast (`.to`, `.cpu()`, `.half()`), derive again on the new device and dtype.
        before = self._placement()
        module = super()._apply(fn, recurse)
        if self._placement() != before:
            self.refresh()
        return module

    def _placement(self) -> tuple[torch.device, torch.dtype]:
        weight = self.mapping.w_avg
        return weight.device, next(self.parameters()).dtype

    @property
    def num_ws(self) -> int:
        """How many w rows the synthesis network reads."""
        return self.synthesis.num_ws

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        **synthesis_kwargs,
    ) -> torch.Tensor:
        return self.synthesis(self.mapping(z, c, truncation_psi, truncation_cutoff), **synthesis_kwargs)

    def style_layers(self, include_torgb: bool = False) -> list[StyleLayer]:
        """The layers with per-channel styles, in w-row order (what SeFa factorises)."""
        return [layer for layer in self.synthesis.style_layers() if include_torgb or not layer.is_torgb]

    @property
    def const(self) -> torch.Tensor | None:
        """StyleGAN2's learned 4x4 input (`synthesis.b4.const`); None for StyleGAN3."""
        return self.synthesis.const

    @property
    def input_transform(self) -> torch.Tensor | None:
        """StyleGAN3's 3x3 input transform (`synthesis.input.transform`); None for StyleGAN2."""
        return self.synthesis.input_transform

    def noise_layers(self) -> dict[str, nn.Module]:
        """Layers with a fixed noise map (`noise_const`), by name under `synthesis`; empty for StyleGAN3."""
        return self.synthesis.noise_layers()
