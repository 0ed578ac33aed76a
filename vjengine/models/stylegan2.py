"""StyleGAN2 generator (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", 2020).

Written from the paper and NVIDIA's weight format: the module tree, parameter names and shapes
equal those of `G_ema` in `stylegan2-ada-pytorch` and `stylegan3` (`networks_stylegan2`) snapshots,
so their state dicts load unchanged. Plain PyTorch ops only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vjengine.models import layers
from vjengine.models.layers import (
    LRELU_GAIN,
    FullyConnectedLayer,
    MappingNetwork,
    bias_act,
    setup_filter,
    upfirdn2d,
    upsample2d,
)

ARCHITECTURES = ("orig", "skip", "resnet")


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    weight_sq: torch.Tensor | None = None,
    weight_t: torch.Tensor | None = None,
) -> torch.Tensor:
    """Convolve each sample with the shared weight scaled by its styles (and demodulated).

    `weight_sq` ([O, I], the weight squared and summed over the kernel) and `weight_t` (the weight as
    a transposed conv wants it, [I, O, k, k]) may be passed in, cached: they depend on weights only.

    Two equivalent evaluations: scale the weight per sample and run one grouped conv ("fused"), or
    scale the input and output around one shared conv. Whichever touches fewer numbers wins: the
    weights at high resolution, the activations at low resolution.
    """
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:
        # Pre-normalise so fp16 cannot overflow; demodulation cancels these scales exactly.
        weight = weight * (1 / math.sqrt(in_ch * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    dcoefs = None
    if demodulate:  # |w_o|^2 = sum_i s_i^2 sum_k weight[o, i, k]^2, without forming w
        if weight_sq is None or x.dtype == torch.float16:
            weight_sq = weight.square().sum(dim=[2, 3])
        dcoefs = (styles.square() @ weight_sq.t() + 1e-8).rsqrt()  # [N, O]
    out_h = x.shape[2] * up
    fused = n * out_ch * in_ch * kh * kw < n * (in_ch + out_ch) * out_h * out_h
    if fused:
        scale = styles.reshape(n, 1, -1) if dcoefs is None else styles.reshape(n, 1, -1) * dcoefs.reshape(n, -1, 1)
        w = (weight.unsqueeze(0) * scale.reshape(n, out_ch if dcoefs is not None else 1, in_ch, 1, 1)).to(x.dtype)
        x = _conv(x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, in_ch, kh, kw), up, padding, resample_filter, n)
        x = x.reshape(n, -1, *x.shape[2:])
    else:
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        x = _conv(x, weight.to(x.dtype), up, padding, resample_filter, 1, weight_t)
        if dcoefs is not None:
            x = x.mul_(dcoefs.to(x.dtype).reshape(n, -1, 1, 1))
    if noise is not None:
        x = x.add_(noise.to(x.dtype))
    return x


def _conv(
    x: torch.Tensor,
    w: torch.Tensor,
    up: int,
    padding: int,
    resample_filter: torch.Tensor | None,
    groups: int,
    wt: torch.Tensor | None = None,
) -> torch.Tensor:
    """Stride-1 conv, or (up > 1) a transposed conv with stride `up` followed by the FIR filter."""
    if up == 1:
        return F.conv2d(x, w, padding=padding, groups=groups)
    out_ch, in_ch, kh, kw = w.shape
    if wt is None or wt.dtype != x.dtype:
        wt = w.reshape(groups, -1, in_ch, kh, kw).transpose(1, 2).reshape(groups * in_ch, -1, kh, kw)
    x = F.conv_transpose2d(x, wt, stride=up, groups=groups)
    fw = resample_filter.shape[-1]
    lo = padding + (fw + up - 1) // 2 - (kw - 1)
    hi = padding + (fw - up) // 2 - (kw - up)
    return upfirdn2d(x, resample_filter, padding=(lo, hi, lo, hi), gain=up**2)


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally upsampling), noise, bias and leaky ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: int = 1,
        use_noise: bool = True,
        resample_filter: list[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self._cache: tuple[tuple, dict[str, torch.Tensor]] | None = None

    def _derived(self) -> dict[str, torch.Tensor]:
        """Tensors that depend on the weight alone, recomputed only when the weight changes."""
        key = (self.weight._version, self.weight.data_ptr(), self.weight.device)
        if self._cache is None or self._cache[0] != key:
            weight = self.weight.detach()
            derived = {"weight_sq": weight.square().sum(dim=[2, 3])}
            if self.up > 1:
                derived["weight_t"] = weight.transpose(0, 1).contiguous()
            self._cache = (key, derived)
        return self._cache[1]

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const", gain: float = 1.0) -> torch.Tensor:
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            shape = [x.shape[0], 1, self.resolution, self.resolution]
            noise = torch.randn(shape, device=x.device, dtype=torch.float32) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(
            x,
            self.weight,
            styles,
            noise,
            up=self.up,
            padding=self.padding,
            resample_filter=self.resample_filter,
            **self._derived(),
        )
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, lrelu=True, gain=LRELU_GAIN * gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv to image channels, without demodulation."""

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1, conv_clamp: float | None = None
    ) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class Conv2dLayer(nn.Module):
    """The resnet architecture's 1x1 upsampling skip connection (no bias, linear)."""

    def __init__(self, in_channels: int, out_channels: int, up: int = 2, resample_filter=(1, 3, 3, 1)) -> None:
        super().__init__()
        self.up = up
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        x = upsample2d(x, self.resample_filter, self.up)
        return F.conv2d(x, (self.weight * (self.weight_gain * gain)).to(x.dtype))


class SynthesisBlock(nn.Module):
    """One resolution: (const or upsampling conv), conv, and the toRGB/skip bookkeeping."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        is_last: bool,
        architecture: str = "skip",
        resample_filter: list[float] = (1, 3, 3, 1),
        conv_clamp: float | None = 256,
        use_fp16: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        self.is_last, self.architecture, self.use_fp16 = is_last, architecture, use_fp16
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            layer_args = {"resample_filter": resample_filter, "conv_clamp": conv_clamp}
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, **layer_args)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, up=2, resample_filter=resample_filter)

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        noise_mode: str = "const",
        force_fp32: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        w_iter = iter(ws.unbind(dim=1))
        fp16 = self.use_fp16 and not force_fp32 and layers.fp16_enabled(ws.device)
        dtype = torch.float16 if fp16 else torch.float32
        fmt = torch.channels_last if fp16 else torch.contiguous_format
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1]).to(memory_format=fmt)
            x = self.conv1(x, next(w_iter), noise_mode)
        elif self.architecture == "resnet":
            x = x.to(dtype=dtype, memory_format=fmt)
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(w_iter), noise_mode)
            x = self.conv1(x, next(w_iter), noise_mode, gain=math.sqrt(0.5))
            x = y + x
        else:
            x = x.to(dtype=dtype, memory_format=fmt)
            x = self.conv0(x, next(w_iter), noise_mode)
            x = self.conv1(x, next(w_iter), noise_mode)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter)).to(torch.float32, memory_format=torch.contiguous_format)
            img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """w+ ([N, num_ws, w_dim]) to image ([N, img_channels, R, R]), one block per resolution."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 4,
        architecture: str = "skip",
        resample_filter: list[float] = (1, 3, 3, 1),
        conv_clamp: float | None = 256,
    ) -> None:
        super().__init__()
        log2 = int(math.log2(img_resolution))
        if img_resolution < 4 or 2**log2 != img_resolution:
            raise ValueError(f"StyleGAN2 needs a power-of-two resolution >= 4, not {img_resolution}")
        if architecture not in ARCHITECTURES:
            raise ValueError(f"unknown StyleGAN2 architecture {architecture!r} (known: {', '.join(ARCHITECTURES)})")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                channels[res // 2] if res > 4 else 0,
                channels[res],
                w_dim,
                res,
                img_channels,
                is_last=res == img_resolution,
                architecture=architecture,
                resample_filter=resample_filter,
                conv_clamp=conv_clamp,
                use_fp16=res >= fp16_resolution,
            )
            self.num_ws += block.num_conv + (block.num_torgb if block.is_last else 0)
            setattr(self, f"b{res}", block)

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", force_fp32: bool = False) -> torch.Tensor:
        """Render ws; `noise_mode` is "const" (fixed noise), "random" or "none"."""
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        for block in self.blocks():
            # Each block's toRGB reads the w that the next block's first conv uses.
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            x, img = block(x, img, block_ws, noise_mode=noise_mode, force_fp32=force_fp32)
            w_idx += block.num_conv
        return img


class Generator(nn.Module):
    """StyleGAN2: `mapping` (z, c -> ws) and `synthesis` (ws -> image), as in NVIDIA's snapshots."""

    arch = "stylegan2"
    synthesis_class = SynthesisNetwork

    def __init__(
        self,
        z_dim: int = 512,
        c_dim: int = 0,
        w_dim: int = 512,
        img_resolution: int = 256,
        img_channels: int = 3,
        mapping_kwargs: dict | None = None,
        **synthesis_kwargs,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, **(mapping_kwargs or {}))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
        force_fp32: bool = False,
    ) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32)
