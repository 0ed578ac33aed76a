"""StyleGAN3's alias-free synthesis network (Karras et al. 2021, appendix F).

Fourier features at the input, then `num_layers` modulated convolutions, each followed by a
nonlinearity applied at a temporarily raised sampling rate between two low-pass filters, and a
final 1x1 layer to RGB. Every layer's sampling rate, cutoff, stopband and width follow a geometric
schedule from the first layer to the last (`layer_schedule`); the last `num_critical` layers are
critically sampled. Configuration T uses 3x3 kernels; R uses 1x1 kernels and radially symmetric
down filters in its non-critical layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vjengine.models.equalized import SQRT2, Dense, StyleLayer
from vjengine.models.resample import activate, downsample, lowpass_filter, upsample
from vjengine.models.stylegan2_synthesis import check_noise_mode, kernel_energy, per_sample_weight, runs_half
from vjengine.models.winograd import applies, winograd_conv3x3, winograd_filters, worthwhile


@dataclass(frozen=True)
class Band:
    """Where a layer's signal lives: channels, size in samples, sampling rate, cutoff, half width."""

    channels: int
    size: int
    rate: float
    cutoff: float
    half_width: float


def layer_schedule(
    img_resolution: int,
    img_channels: int,
    channel_base: int,
    channel_max: int,
    num_layers: int,
    num_critical: int,
    first_cutoff: float,
    first_stopband: float,
    last_stopband_rel: float,
    margin_size: int,
) -> list[Band]:
    """The band of every layer 0..num_layers (the last is toRGB), from appendix F's schedule:
    cutoff and stopband grow geometrically from the first layer's to the output's over the
    non-critical layers; each layer samples at the smallest power of two above twice its stopband
    (at most the output resolution) with a margin of `margin_size` samples on each side."""
    bands = []
    for i in range(num_layers + 1):
        t = min(i / (num_layers - num_critical), 1.0)
        cutoff = first_cutoff * (img_resolution / 2 / first_cutoff) ** t
        stopband = first_stopband * (img_resolution / 2 * last_stopband_rel / first_stopband) ** t
        rate = 2.0 ** math.ceil(math.log2(min(2 * stopband, img_resolution)))
        size = img_resolution if i >= num_layers - 1 else int(rate) + 2 * margin_size
        channels = img_channels if i == num_layers else round(min(channel_base / 2 / cutoff, channel_max))
        bands.append(Band(channels, size, rate, cutoff, max(stopband, rate / 2) - cutoff))
    return bands


@dataclass(frozen=True)
class LayerOptions:
    """What every alias-free layer of a network shares: kernel size (3 for T, 1 for R), filter taps
    per unit of resampling, how far the nonlinearity raises the rate, radial down filters, clamp."""

    conv_kernel: int = 3
    filter_size: int = 6
    lrelu_upsampling: int = 2
    use_radial_filters: bool = False
    conv_clamp: float | None = 256


class FourierInput(nn.Module):
    """Sinusoids of fixed frequencies and phases, rotated and shifted by a transform that w predicts
    (and by the user's `transform`), faded out near the band limit, then mixed by a learned matrix."""

    def __init__(self, w_dim: int, band: Band) -> None:
        super().__init__()
        self.band = band
        channels = band.channels
        self.affine = Dense(w_dim, 4, bias_init=[1.0, 0.0, 0.0, 0.0])
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.register_buffer("transform", torch.eye(3))
        # Untrained frequencies: uniform over the disk of radius `cutoff`, random phases.
        angle = torch.rand(channels) * 2 * math.pi
        radius = band.cutoff * torch.rand(channels).sqrt()
        self.register_buffer("freqs", torch.stack((angle.cos(), angle.sin()), dim=1) * radius[:, None])
        self.register_buffer("phases", torch.rand(channels) - 0.5)
        centres = ((torch.arange(band.size) + 0.5) / band.size * 2 - 1) * (band.size / (2 * band.rate))
        self.register_buffer("centres", centres, persistent=False)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        # w predicts a rotation (as a cosine and sine, normalised here) and a translation.
        cos, sin, dx, dy = self.affine(w.float()).unbind(1)
        length = torch.hypot(cos, sin)
        cos, sin, dx, dy = cos / length, sin / length, dx / length, dy / length
        zero, one = torch.zeros_like(cos), torch.ones_like(cos)
        rotate = torch.stack((cos, -sin, zero, sin, cos, zero, zero, zero, one), dim=1).reshape(-1, 3, 3)
        shift = torch.stack((one, zero, -dx, zero, one, -dy, zero, zero, one), dim=1).reshape(-1, 3, 3)
        m = rotate @ shift @ self.transform.float()
        freqs = self.freqs @ m[:, :2, :2]  # [N, C, 2]
        phases = self.phases + torch.einsum("ck,nk->nc", self.freqs, m[:, :2, 2])
        # Fade each wave linearly from full at the cutoff to nothing at the Nyquist frequency.
        band, nyquist = self.band, self.band.rate / 2
        amplitude = ((nyquist - torch.linalg.vector_norm(freqs, dim=2)) / (nyquist - band.cutoff)).clamp(0, 1)
        # angle[n, y, x, c] = x * fx + y * fy + phase
        along_x = self.centres.reshape(1, 1, -1, 1) * freqs[:, None, None, :, 0]
        along_y = self.centres.reshape(1, -1, 1, 1) * freqs[:, None, None, :, 1]
        waves = torch.sin(2 * math.pi * (along_x + along_y + phases[:, None, None, :])) * amplitude[:, None, None, :]
        mixed = waves @ (self.weight / math.sqrt(band.channels)).t()
        return mixed.permute(0, 3, 1, 2)  # channels-last in memory, which oneDNN and cuDNN prefer


class AliasFreeLayer(nn.Module):
    """A modulated convolution, then bias and leaky ReLU at `up` times the input rate between a
    low-pass up filter and a low-pass down filter to the output rate. The toRGB layer is a 1x1
    modulated convolution without demodulation, bias and clamp only."""

    def __init__(
        self,
        w_dim: int,
        source: Band,
        target: Band,
        is_torgb: bool,
        is_critical: bool,
        use_fp16: bool,
        options: LayerOptions,
    ) -> None:
        super().__init__()
        self.is_torgb, self.use_fp16, self.clamp = is_torgb, use_fp16, options.conv_clamp
        kernel = 1 if is_torgb else options.conv_kernel
        self.kernel = kernel
        self.affine = Dense(w_dim, source.channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(target.channels, source.channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(target.channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.register_buffer("kernel_energy", torch.empty(0), persistent=False)
        self.register_buffer("winograd_filters", torch.empty(0), persistent=False)
        self.winograd = kernel == 3 and worthwhile(source.channels, target.channels)

        rate = max(source.rate, target.rate) * (1 if is_torgb else options.lrelu_upsampling)
        self.up = int(round(rate / source.rate))
        self.down = int(round(rate / target.rate))
        up_taps = options.filter_size * self.up if self.up > 1 and not is_torgb else 1
        down_taps = options.filter_size * self.down if self.down > 1 and not is_torgb else 1
        radial = options.use_radial_filters and not is_critical
        self.register_buffer("up_filter", _tensor(lowpass_filter(up_taps, source.cutoff, source.half_width, rate)))
        down = lowpass_filter(down_taps, target.cutoff, target.half_width, rate, radial=radial)
        self.register_buffer("down_filter", _tensor(down))

        # The Winograd filters wait for the weights the generator loads (`refresh`).
        self.kernel_energy = kernel_energy(self.weight)

        # Pad the upsampled signal so that the down filter's outputs land exactly on target.size.
        total = (target.size - 1) * self.down + 1 - (source.size + kernel - 1) * self.up + up_taps + down_taps - 2
        before = (total + self.up) // 2
        self.padding = (before, total - before)

    @torch.no_grad()
    def refresh(self) -> None:
        """Recompute each kernel's energy, which every frame's demodulation needs (after loading or
        editing the weight; `G.refresh()` does it for the whole generator), and on a CPU the
        weight's Winograd transform, which the widest layers convolve with."""
        self.kernel_energy = kernel_energy(self.weight)
        on_cpu = self.weight.device.type == "cpu"
        self.winograd_filters = winograd_filters(self.weight) if self.winograd and on_cpu else self.weight.new_empty(0)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        batch, in_channels = x.shape[:2]
        out_channels, _, k, _ = self.weight.shape
        styles = self.affine(w.float())
        weight = self.weight.float()
        if self.is_torgb:
            scale = (styles / math.sqrt(in_channels * k * k)).unsqueeze(1).expand(batch, out_channels, in_channels)
        else:
            if x.dtype == torch.float16:  # unit RMS keeps float16 in range; demodulation cancels both scales
                fan_in = weight[0].numel()
                weight = weight * (math.sqrt(fan_in) / torch.linalg.vector_norm(weight, dim=(1, 2, 3), keepdim=True))
                styles = styles * (math.sqrt(styles.numel()) / torch.linalg.vector_norm(styles))
            # The modulated weight's energy per output channel, without building it: sum_i s_i^2 |w_oi|^2.
            energy = styles.square() @ (kernel_energy(weight) if x.dtype == torch.float16 else self.kernel_energy).t()
            demod = torch.rsqrt(energy + 1e-8) * self.magnitude_ema.rsqrt()  # [N, out]
            if applies(x, self.winograd_filters, styles):
                x = winograd_conv3x3(x, self.winograd_filters, k - 1, styles, demod, self.bias)
                return self.filtered_lrelu(x)
            scale = styles.unsqueeze(1) * demod.unsqueeze(2)  # [N, out, in]
        if self.is_torgb:
            scale = scale * self.magnitude_ema.rsqrt()
        # Channels-last weights keep the convolution channels-last, and with it every filter after.
        weight = per_sample_weight(weight, scale).to(x.dtype)
        bias = self.bias.to(x.dtype).repeat(batch)
        x = F.conv2d(x.reshape(1, batch * in_channels, *x.shape[2:]), weight, bias, padding=k - 1, groups=batch)
        return self.filtered_lrelu(x.reshape(batch, out_channels, *x.shape[2:]))

    def filtered_lrelu(self, x: torch.Tensor) -> torch.Tensor:
        """Upsample, leaky ReLU (toRGB: none) with its gain and clamp, downsample (the bias was
        added by the convolution).

        Under bfloat16 autocast only the dense convolutions run in bfloat16: these depthwise filters
        are slower in it on a CPU, and float32 keeps the alias-free filtering exact."""
        if x.dtype == torch.bfloat16:
            x = x.float()
        with torch.autocast(x.device.type, enabled=False):
            return self._filtered_lrelu(x)

    def _filtered_lrelu(self, x: torch.Tensor) -> torch.Tensor:
        if self.up_filter is None:
            x = F.pad(x, (self.padding[0], self.padding[1], self.padding[0], self.padding[1]))
        else:
            x = upsample(x, self.up_filter, self.up, self.padding)
        if self.is_torgb:
            return downsample(activate(x, 1.0, 1.0, self.clamp), self.down_filter, self.down)
        # The gain rides on the (linear) down filter, clamped to match: one pass less over the
        # largest tensor of the layer. clamp(g * lrelu(x), c) == g * clamp(lrelu(x), c / g).
        x = activate(x, 0.2, 1.0, None if self.clamp is None else self.clamp / SQRT2)
        per_pass = SQRT2 ** (1 / 2) if self.down_filter.ndim == 1 else SQRT2  # a 1-D filter runs twice
        return downsample(x, self.down_filter * per_pass, self.down)


def _tensor(array: object) -> torch.Tensor | None:
    return None if array is None else torch.as_tensor(array, dtype=torch.float32)


class StyleGAN3Synthesis(nn.Module):
    """w+ [N, num_ws, w_dim] to images; row 0 drives the Fourier input, row i+1 layer i."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int = 3,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_layers: int = 14,
        num_critical: int = 2,
        first_cutoff: float = 2,
        first_stopband: float = 2**2.1,
        last_stopband_rel: float = 2**0.3,
        margin_size: int = 10,
        output_scale: float = 0.25,
        num_fp16_res: int = 4,
        conv_kernel: int = 3,
        filter_size: int = 6,
        lrelu_upsampling: int = 2,
        use_radial_filters: bool = False,
        conv_clamp: float | None = 256,
    ) -> None:
        super().__init__()
        if img_resolution < 16 or img_resolution & (img_resolution - 1):
            raise ValueError(f"StyleGAN3 resolution {img_resolution} is not a power of two >= 16")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.output_scale = output_scale
        bands = layer_schedule(
            img_resolution,
            img_channels,
            channel_base,
            channel_max,
            num_layers,
            num_critical,
            first_cutoff,
            first_stopband,
            last_stopband_rel,
            margin_size,
        )
        self.input = FourierInput(w_dim, bands[0])
        self.layer_names = [f"L{i}_{band.size}_{band.channels}" for i, band in enumerate(bands)]
        for i, (name, band) in enumerate(zip(self.layer_names, bands, strict=True)):
            layer = AliasFreeLayer(
                w_dim,
                bands[max(i - 1, 0)],
                band,
                is_torgb=i == num_layers,
                is_critical=i >= num_layers - num_critical,
                use_fp16=band.rate * 2**num_fp16_res > img_resolution,
                options=LayerOptions(conv_kernel, filter_size, lrelu_upsampling, use_radial_filters, conv_clamp),
            )
            self.add_module(name, layer)
        self.num_ws = num_layers + 2

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str | torch.Tensor = "const",
        force_fp32: bool = False,
        noise_generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Render `ws` (StyleGAN3 has no noise inputs; the noise arguments are accepted for a common call)."""
        check_noise_mode(noise_mode)
        fp16 = runs_half(ws.device, force_fp32)
        x = self.input(ws[:, 0])
        for row, name in enumerate(self.layer_names, start=1):
            layer = getattr(self, name)
            x = layer(x.to(torch.float16 if fp16 and layer.use_fp16 else torch.float32), ws[:, row])
        return x.float() * self.output_scale

    def prepare_layout(self) -> None:
        """Convolution weights live channels-last, the layout every frame's modulated weights and
        activations take: on oneDNN the depthwise filters run twice as fast in it (loading a state
        dict copies into the parameters and keeps their layout)."""
        self.to(memory_format=torch.channels_last)

    def style_layers(self) -> list[StyleLayer]:
        """Every layer with channel styles, in w-row order (the input's affine predicts a transform)."""
        return [
            StyleLayer(row, name, getattr(self, name).affine, getattr(self, name).is_torgb)
            for row, name in enumerate(self.layer_names, start=1)
        ]

    @property
    def const(self) -> None:
        return None

    @property
    def input_transform(self) -> torch.Tensor:
        return self.input.transform

    def noise_layers(self) -> dict[str, nn.Module]:
        return {}
