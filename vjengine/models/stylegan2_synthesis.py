"""StyleGAN2's synthesis network (Karras et al. 2020): a learned 4x4 constant grown by one block per
octave to the output resolution, every convolution modulated by a style from w.

Per block `b{res}` (parameter names as in NVIDIA's files): `conv0` doubles the resolution, `conv1`
keeps it, `torgb` projects to the image. Architectures: `skip` (every block adds its RGB to the
upsampled running image), `resnet` (a 1x1 shortcut around the two convolutions, RGB from the last
block only) and `orig` (RGB from the last block only).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vjengine.models.equalized import SQRT2, Dense, StyleLayer
from vjengine.models.resample import activate, binomial_filter, blur, separable_taps, upsample

NOISE_MODES = ("const", "random", "none")
# Where the layers that NVIDIA's `num_fp16_res` marks run in float16 (its mixed precision).
HALF_DEVICES = ("cuda",)


def runs_half(device: torch.device, force_fp32: bool) -> bool:
    """Whether the layers marked fp16 run in half precision on `device`."""
    return not force_fp32 and device.type in HALF_DEVICES


def check_noise_mode(noise_mode: str | torch.Tensor) -> None:
    """Refuse a noise mode that is not one of NOISE_MODES (or a tensor of noise weights)."""
    if not isinstance(noise_mode, torch.Tensor) and noise_mode not in NOISE_MODES:
        raise ValueError(f"noise_mode {noise_mode!r}: use one of {', '.join(NOISE_MODES)}")


def noise_weights(noise_mode: str) -> tuple[float, float]:
    """(weight of the fixed noise map, weight of fresh random noise) for a noise mode."""
    return {"const": (1.0, 0.0), "random": (0.0, 1.0), "none": (0.0, 0.0)}[noise_mode]


def half_precision(resolution: int, img_resolution: int, num_fp16_res: int) -> bool:
    """Whether a block at `resolution` is one of the `num_fp16_res` highest, which NVIDIA's
    training ran (and its mixed-precision inference runs) in float16."""
    if num_fp16_res <= 0:
        return False
    return resolution >= max(2 ** (int(math.log2(img_resolution)) + 1 - num_fp16_res), 8)


class StyledConv(nn.Module):
    """A 3x3 convolution whose input channels are scaled by a style and whose output channels are
    renormalised (demodulated), then noise, bias, leaky ReLU and a clamp. With `up`, it runs at
    twice the input resolution: a strided transposed convolution followed by the blur filter."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        up: bool = False,
        gain: float = 1.0,
        clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.affine = Dense(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.register_buffer("resample_filter", binomial_filter())
        self.up, self.gain, self.clamp = up, gain, clamp
        self.register_buffer("kernel_energy", torch.empty(0), persistent=False)
        self.register_buffer("weight_t", torch.empty(0), persistent=False)
        self.refresh()

    @torch.no_grad()
    def refresh(self) -> None:
        """Recompute what each frame needs of the weight but need not compute again: each kernel's
        energy and, for the upsampling layer, the weight laid out for a transposed convolution.
        The generator calls it after loading weights; call `G.refresh()` after editing them by hand."""
        self.kernel_energy = kernel_energy(self.weight)
        if self.up:
            self.weight_t = self.weight.detach().transpose(0, 1).contiguous()

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str | torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """`noise_mode` is a mode's name, or a tensor (fixed, random) of weights: one compiled graph
        then serves every mode, switched by writing the tensor. Random noise is drawn from
        `generator` when given (reproducible whatever other threads draw), else torch's own."""
        half = x.dtype == torch.float16
        styles = self.affine(w.float())
        weight = self.weight
        if half:  # keep every product inside float16's range; demodulation cancels both scales
            fan_in = weight[0].numel()
            weight = weight / (weight.abs().amax(dim=(1, 2, 3), keepdim=True) * math.sqrt(fan_in))
            styles = styles / styles.abs().amax(dim=1, keepdim=True)
        if half:
            x = modulated_conv(x, weight, styles, demodulate=True, up=self.up)
        else:
            x = modulated_conv(x, weight, styles, True, self.up, self.kernel_energy, self.weight_t)
        if self.up:
            x = blur(x, self.resample_filter * 4, padding=1)
        noise = self._noise(x, noise_mode, generator)
        if noise is not None:
            x = add(x, noise.to(x.dtype))
        x = add(x, self.bias.to(x.dtype).reshape(1, -1, 1, 1))
        return activate(x, 0.2, SQRT2 * self.gain, None if self.clamp is None else self.clamp * self.gain)

    def _noise(
        self, x: torch.Tensor, noise_mode: str | torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor | None:
        """The noise to add, scaled by the learned strength; None when there is none."""
        fixed, fresh = noise_weights(noise_mode) if isinstance(noise_mode, str) else noise_mode.unbind()
        noise = None
        if isinstance(fixed, torch.Tensor) or fixed:
            noise = self.noise_const * fixed
        if isinstance(fresh, torch.Tensor) or fresh:
            shape = (x.shape[0], 1, x.shape[2], x.shape[3])
            drawn = torch.randn(shape, device=x.device, dtype=torch.float32, generator=generator) * fresh
            noise = drawn if noise is None else noise + drawn
        return None if noise is None else noise * self.noise_strength


def add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x + y, in place into x unless gradients are wanted (x is always a fresh intermediate here)."""
    return x + y if torch.is_grad_enabled() else x.add_(y)


def kernel_energy(weight: torch.Tensor) -> torch.Tensor:
    """[out, in]: the sum of squares of each kernel of a [out, in, kh, kw] weight."""
    return torch.linalg.vector_norm(weight.detach().float(), dim=(2, 3)).square()


def modulated_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool,
    up: bool = False,
    energy: torch.Tensor | None = None,
    weight_t: torch.Tensor | None = None,
) -> torch.Tensor:
    """Convolve each sample of `x` with `weight` scaled per input channel by its `styles` (and, with
    `demodulate`, renormalised per output channel to unit L2 norm). Same-size output, or a strided
    transposed convolution for `up` (2x + 1 samples; the caller filters it down to 2x).

    Where the per-sample weights are the smaller tensor (high resolutions) they are built and run
    as a grouped convolution; where the activations are, the styles scale the activations around one
    shared convolution. Both compute the same thing. `energy` (`kernel_energy(weight)`) and
    `weight_t` (the weight transposed for `up`) may be given when they are kept between frames.
    """
    batch, in_channels, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    weight = weight.float()
    if demodulate:
        # [N, out]: the modulated weight's sum of squares, from the styles and the kernels' energies.
        energy = kernel_energy(weight) if energy is None else energy
        demod = (styles.square() @ energy.t() + 1e-8).rsqrt()
    per_sample_weights = out_channels * in_channels * kh * kw
    if per_sample_weights <= (in_channels + out_channels) * height * width:
        scale = styles.unsqueeze(1) * demod.unsqueeze(2) if demodulate else styles.unsqueeze(1)  # [N, out, in]
        w = per_sample_weight(weight, scale, transposed=up).to(x.dtype)
        x = x.reshape(1, batch * in_channels, height, width)
        x = F.conv_transpose2d(x, w, stride=2, groups=batch) if up else F.conv2d(x, w, padding=kh // 2, groups=batch)
        return x.reshape(batch, out_channels, x.shape[2], x.shape[3])
    x = x * styles.to(x.dtype).reshape(batch, in_channels, 1, 1)
    if up:
        w = weight.transpose(0, 1) if weight_t is None or weight_t.numel() == 0 else weight_t
        x = F.conv_transpose2d(x, w.to(x.dtype), stride=2)
    else:
        x = F.conv2d(x, weight.to(x.dtype), padding=kh // 2)
    if demodulate:
        x = x * demod.to(x.dtype).reshape(batch, out_channels, 1, 1)
    return x


def per_sample_weight(weight: torch.Tensor, scale: torch.Tensor, transposed: bool = False) -> torch.Tensor:
    """`weight` [out, in, kh, kw] times `scale` [N, out, in], stacked for a convolution grouped by
    sample: [N*out, in, kh, kw], or [N*in, out, kh, kw] for a transposed one.

    With `weight` channels-last (as the generator keeps its parameters) the result is built
    channels-last, which keeps the convolution channels-last (a reshaped input's strides alone do
    not tell oneDNN so) without another copy of the weights each frame.
    """
    batch, out_channels, in_channels = scale.shape
    kh, kw = weight.shape[2:]
    if not weight.is_contiguous(memory_format=torch.channels_last) or kh * kw == 1:
        w = weight.unsqueeze(0) * scale.reshape(batch, out_channels, in_channels, 1, 1)
        if transposed:
            return w.transpose(1, 2).reshape(batch * in_channels, out_channels, kh, kw)
        return w.reshape(batch * out_channels, in_channels, kh, kw)
    if transposed:
        w = weight.permute(1, 2, 3, 0).unsqueeze(0) * scale.transpose(1, 2).reshape(batch, in_channels, 1, 1, -1)
        return w.reshape(batch * in_channels, kh, kw, out_channels).permute(0, 3, 1, 2)
    w = weight.permute(0, 2, 3, 1).unsqueeze(0) * scale.reshape(batch, out_channels, 1, 1, in_channels)
    return w.reshape(batch * out_channels, kh, kw, in_channels).permute(0, 3, 1, 2)


class ToRGB(nn.Module):
    """A modulated 1x1 convolution to image channels (not demodulated), plus bias, clamped."""

    def __init__(self, in_channels: int, img_channels: int, w_dim: int, clamp: float | None = None) -> None:
        super().__init__()
        self.affine = Dense(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.clamp = clamp

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        batch, in_channels, height, width = x.shape
        styles = self.affine(w.float()) / math.sqrt(in_channels)
        per_sample = self.weight.float().reshape(1, -1, in_channels) * styles.unsqueeze(1)  # [N, rgb, in]
        rgb = torch.bmm(per_sample.to(x.dtype), x.reshape(batch, in_channels, height * width)).float()
        rgb = rgb.reshape(batch, -1, height, width) + self.bias.reshape(1, -1, 1, 1)
        return rgb if self.clamp is None else rgb.clamp(-self.clamp, self.clamp)


class Shortcut(nn.Module):
    """resnet's 1x1 shortcut (no bias): channel mixing, then 2x upsampling, scaled by sqrt(1/2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.register_buffer("resample_filter", binomial_filter())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = math.sqrt(0.5 / self.weight.shape[1])
        x = F.conv2d(x, (self.weight * scale).to(x.dtype))
        return upsample(x, separable_taps(self.resample_filter), 2, (2, 1))


class SynthesisBlock(nn.Module):
    """One octave: (upsampling conv0 or the constant), conv1, and this architecture's RGB/shortcut."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        architecture: str,
        is_last: bool,
        clamp: float | None,
        use_fp16: bool,
    ) -> None:
        super().__init__()
        self.resolution, self.architecture, self.use_fp16 = resolution, architecture, use_fp16
        self.is_first = resolution == 4
        if self.is_first:
            self.const = nn.Parameter(torch.randn(out_channels, 4, 4))
        else:
            self.conv0 = StyledConv(in_channels, out_channels, w_dim, resolution, up=True, clamp=clamp)
        gain = math.sqrt(0.5) if architecture == "resnet" and not self.is_first else 1.0
        self.conv1 = StyledConv(out_channels, out_channels, w_dim, resolution, gain=gain, clamp=clamp)
        self.has_rgb = architecture == "skip" or is_last
        if self.has_rgb:
            self.torgb = ToRGB(out_channels, img_channels, w_dim, clamp=clamp)
        if architecture == "resnet" and not self.is_first:
            self.skip = Shortcut(in_channels, out_channels)
        self.register_buffer("resample_filter", binomial_filter())
        self.num_conv = 1 if self.is_first else 2

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        noise_mode: str | torch.Tensor,
        fp16: bool,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`ws` holds this block's rows: its convolutions' and then its RGB layer's."""
        dtype = torch.float16 if fp16 and self.use_fp16 else torch.float32
        if self.is_first:
            x = self.const.to(dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, ws[:, 0], noise_mode, generator)
        else:
            x = x.to(dtype)
            shortcut = self.skip(x) if self.architecture == "resnet" else None
            x = self.conv0(x, ws[:, 0], noise_mode, generator)
            x = self.conv1(x, ws[:, 1], noise_mode, generator)
            if shortcut is not None:
                x = x + shortcut
        if img is not None and self.architecture == "skip":
            img = upsample(img, separable_taps(self.resample_filter), 2, (2, 1))
        if self.has_rgb:
            rgb = self.torgb(x, ws[:, self.num_conv])
            img = rgb if img is None else img + rgb
        return x, img


class StyleGAN2Synthesis(nn.Module):
    """w+ [N, num_ws, w_dim] to images [N, img_channels, R, R]; `num_ws = conv layers + 1`."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int = 3,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 4,
        conv_clamp: float | None = 256,
        architecture: str = "skip",
        resample_filter: list[int] | None = None,
    ) -> None:
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"StyleGAN2 resolution {img_resolution} is not a power of two >= 4")
        if architecture not in ("skip", "resnet", "orig"):
            raise ValueError(f"StyleGAN2 architecture {architecture!r} is not one of skip, resnet, orig")
        if resample_filter is not None and list(resample_filter) != [1, 3, 3, 1]:
            raise ValueError(f"resample_filter {resample_filter} is not supported (only [1, 3, 3, 1])")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.resolutions = [2**i for i in range(2, int(math.log2(img_resolution)) + 1)]

        def channels(res: int) -> int:
            return min(channel_base // res, channel_max)

        for res in self.resolutions:
            block = SynthesisBlock(
                channels(res // 2) if res > 4 else 0,
                channels(res),
                w_dim,
                res,
                img_channels,
                architecture,
                is_last=res == img_resolution,
                clamp=conv_clamp,
                use_fp16=half_precision(res, img_resolution, num_fp16_res),
            )
            setattr(self, f"b{res}", block)
        self.num_ws = sum(block.num_conv for block in self.blocks()) + 1

    def prepare_layout(self) -> None:
        """Planar (NCHW) memory: measured faster than channels-last for these layers on oneDNN."""

    def blocks(self) -> list[SynthesisBlock]:
        """The blocks from 4x4 up."""
        return [getattr(self, f"b{res}") for res in self.resolutions]

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str | torch.Tensor = "const",
        force_fp32: bool = False,
        noise_generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Render `ws`; float16 blocks run in half precision only on CUDA and unless `force_fp32`.
        `noise_mode`: "const", "random", "none", or a tensor of (fixed, random) noise weights;
        random noise comes from `noise_generator` when given (a frame drawn again is the same)."""
        check_noise_mode(noise_mode)
        fp16 = runs_half(ws.device, force_fp32)
        x = img = None
        row = 0
        for block in self.blocks():
            x, img = block(x, img, ws[:, row : row + block.num_conv + 1], noise_mode, fp16, noise_generator)
            row += block.num_conv
        return img.float()

    def style_layers(self) -> list[StyleLayer]:
        """Every layer with a style, in w-row order."""
        layers, row = [], 0
        for block in self.blocks():
            convs = ["conv1"] if block.is_first else ["conv0", "conv1"]
            for offset, name in enumerate(convs):
                layers.append(
                    StyleLayer(row + offset, f"b{block.resolution}.{name}", getattr(block, name).affine, False)
                )
            if block.has_rgb:
                layers.append(StyleLayer(row + block.num_conv, f"b{block.resolution}.torgb", block.torgb.affine, True))
            row += block.num_conv
        return layers

    @property
    def const(self) -> torch.Tensor:
        return self.b4.const

    @property
    def input_transform(self) -> None:
        return None

    def noise_layers(self) -> dict[str, nn.Module]:
        return {name: module for name, module in self.named_modules() if isinstance(module, StyledConv)}
