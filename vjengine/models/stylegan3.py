"""StyleGAN3 generator (Karras et al., "Alias-Free Generative Adversarial Networks", 2021), configs T and R.

Written from the paper and NVIDIA's weight format (names and shapes equal `G_ema` in `stylegan3`
snapshots). The filtered leaky ReLU runs in plain PyTorch: separable filters as 1-D convolutions,
upsampling as polyphase transposed convolutions and downsampling as strided ones, so no work is
spent on the zeros that upsampling inserts or on the samples that downsampling discards.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vjengine.models import layers
from vjengine.models.layers import FullyConnectedLayer, MappingNetwork, upfirdn2d


def design_lowpass_filter(
    numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False
) -> torch.Tensor | None:
    """A Kaiser-windowed low-pass FIR filter (1-D, or 2-D radially symmetric); None for 1 tap."""
    import scipy.signal
    import scipy.special

    if numtaps == 1:
        return None
    if not radial:
        return torch.as_tensor(scipy.signal.firwin(numtaps, cutoff, width=width, fs=fs), dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    with np.errstate(invalid="ignore", divide="ignore"):
        f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    f[r == 0] = cutoff  # the limit of J1(2*pi*c*r) / (pi*r) at r = 0
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    window = np.kaiser(numtaps, beta)
    f *= np.outer(window, window)
    return torch.as_tensor(f / np.sum(f), dtype=torch.float32)


def filtered_lrelu(
    x: torch.Tensor,
    fu: torch.Tensor | None,
    fd: torch.Tensor | None,
    b: torch.Tensor,
    up: int,
    down: int,
    padding: tuple[int, int, int, int],
    gain: float,
    slope: float,
    clamp: float | None,
) -> torch.Tensor:
    """Bias, upsample with `fu`, leaky ReLU (scaled by `gain`, clamped), downsample with `fd`."""
    inplace = not (x.requires_grad and torch.is_grad_enabled())
    b = b.to(x.dtype).reshape(1, -1, 1, 1)
    x = x.add_(b) if inplace else x + b
    # Leaky ReLU commutes with a positive gain, so the gain rides on the (linear) upsampling filter.
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up**2 * gain, channels_last=True)
    if slope != 1:
        x = F.leaky_relu_(x, slope) if inplace else F.leaky_relu(x, slope)
    if clamp is not None:
        x = x.clamp_(-clamp, clamp) if inplace else x.clamp(-clamp, clamp)
    return upfirdn2d(x, fd, down=down, channels_last=True)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    padding: int = 0,
    demodulate: bool = True,
    input_gain: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-sample modulated convolution as one grouped conv; `input_gain` divides out the
    running magnitude of the layer's input."""
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    if demodulate and x.dtype == torch.float16:
        # Scale weight and styles to unit RMS first so fp16 stays in range; demodulation cancels it.
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean(dim=1, keepdim=True).rsqrt()
    scale = styles.reshape(n, 1, -1)  # [N, 1, I], then per output channel [N, O, I]
    if demodulate:  # |w_o|^2 = sum_i s_i^2 sum_k weight[o, i, k]^2, without forming w first
        dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()
        scale = scale * dcoefs.reshape(n, -1, 1)
    if input_gain is not None:
        scale = scale * input_gain
    w = weight.unsqueeze(0) * scale.unsqueeze(-1).unsqueeze(-1)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_ch, kh, kw).to(x.dtype).contiguous(memory_format=torch.channels_last)
    x = F.conv2d(x, w, padding=padding, groups=n)
    return x.reshape(n, -1, *x.shape[2:])


class SynthesisInput(nn.Module):
    """Fourier features of a fixed bandwidth, rotated and translated by w and by `transform`.

    `transform` (3x3) is the user's handle on the whole image: NVIDIA's `gen_images.py` sets it to
    the inverse of a rotation/translation matrix.
    """

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float) -> None:
        super().__init__()
        self.w_dim, self.channels = w_dim, channels
        self.size = [int(size), int(size)]
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        freqs = torch.randn([channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs /= radii * radii.square().exp().pow(0.25)
        freqs *= bandwidth
        phases = torch.rand([channels]) - 0.5
        self.weight = nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3, 3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", phases)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[0]
        t = self.affine(w)  # rotation (cos, sin) and translation (x, y) predicted from w
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        rotation = torch.eye(3, device=w.device).repeat([n, 1, 1])
        rotation[:, 0, 0], rotation[:, 0, 1] = t[:, 0], -t[:, 1]
        rotation[:, 1, 0], rotation[:, 1, 1] = t[:, 1], t[:, 0]
        translation = torch.eye(3, device=w.device).repeat([n, 1, 1])
        translation[:, 0, 2], translation[:, 1, 2] = -t[:, 2], -t[:, 3]
        transforms = rotation @ translation @ self.transform.unsqueeze(0)
        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ transforms[:, :2, 2:]).squeeze(2)
        freqs = self.freqs.unsqueeze(0) @ transforms[:, :2, :2]
        # Fade out frequencies that the transform pushed above the band limit.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        x = self._grid(w.device).unsqueeze(0) @ freqs.transpose(1, 2).unsqueeze(1)  # [N, H, W, C]
        x = torch.sin((x + phases[:, None, None, :]) * (2 * math.pi)) * amplitudes[:, None, None, :]
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)

    def _grid(self, device: torch.device) -> torch.Tensor:
        """Sample positions [H, W, 2] of pixel centres, in units of the sampling period."""
        w, h = self.size
        xs = (torch.arange(w, device=device, dtype=torch.float32) * 2 + 1 - w) / w * (0.5 * w / self.sampling_rate)
        ys = (torch.arange(h, device=device, dtype=torch.float32) * 2 + 1 - h) / h * (0.5 * h / self.sampling_rate)
        return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)

    def extra_repr(self) -> str:
        return f"w_dim={self.w_dim}, channels={self.channels}, size={self.size}, sampling_rate={self.sampling_rate:g}"


class SynthesisLayer(nn.Module):
    """Modulated conv followed by the alias-free filtered leaky ReLU (or, last, the toRGB layer)."""

    def __init__(
        self,
        w_dim: int,
        is_torgb: bool,
        is_critically_sampled: bool,
        use_fp16: bool,
        in_channels: int,
        out_channels: int,
        in_size: int,
        out_size: int,
        in_sampling_rate: int,
        out_sampling_rate: int,
        in_cutoff: float,
        out_cutoff: float,
        in_half_width: float,
        out_half_width: float,
        conv_kernel: int = 3,
        filter_size: int = 6,
        lrelu_upsampling: int = 2,
        use_radial_filters: bool = False,
        conv_clamp: float | None = 256,
    ) -> None:
        super().__init__()
        self.is_torgb, self.use_fp16 = is_torgb, use_fp16
        self.in_channels, self.out_channels = in_channels, out_channels
        self.out_size = out_size
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp = conv_clamp
        tmp_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, self.conv_kernel, self.conv_kernel]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.up_factor = int(np.rint(tmp_rate / in_sampling_rate))
        up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        self.register_buffer("up_filter", design_lowpass_filter(up_taps, in_cutoff, in_half_width * 2, tmp_rate))
        self.down_factor = int(np.rint(tmp_rate / out_sampling_rate))
        down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        radial = use_radial_filters and not is_critically_sampled
        self.register_buffer(
            "down_filter", design_lowpass_filter(down_taps, out_cutoff, out_half_width * 2, tmp_rate, radial)
        )
        # Pad so that output samples sit where the continuous signal's samples are (paper, App. C.3).
        total = (out_size - 1) * self.down_factor + 1
        total -= (in_size + self.conv_kernel - 1) * self.up_factor
        total += up_taps + down_taps - 2
        lo = (total + self.up_factor) // 2
        self.padding = (lo, total - lo, lo, total - lo)

    def forward(self, x: torch.Tensor, w: torch.Tensor, force_fp32: bool = False) -> torch.Tensor:
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / math.sqrt(self.in_channels * self.conv_kernel**2))
        fp16 = self.use_fp16 and not force_fp32 and layers.fp16_enabled(x.device)
        # Channels-last lets oneDNN/cuDNN vectorise the depthwise filters across channels.
        x = x.to(dtype=torch.float16 if fp16 else torch.float32, memory_format=torch.channels_last)
        x = modulated_conv2d(
            x,
            self.weight,
            styles,
            padding=self.conv_kernel - 1,
            demodulate=not self.is_torgb,
            input_gain=self.magnitude_ema.rsqrt(),
        )
        return filtered_lrelu(
            x,
            self.up_filter,
            self.down_filter,
            self.bias,
            self.up_factor,
            self.down_factor,
            self.padding,
            gain=1.0 if self.is_torgb else math.sqrt(2),
            slope=1.0 if self.is_torgb else 0.2,
            clamp=self.conv_clamp,
        )

    def extra_repr(self) -> str:
        return f"in={self.in_channels}, out={self.out_channels}, up={self.up_factor}, down={self.down_factor}"


class SynthesisNetwork(nn.Module):
    """w+ ([N, num_layers + 2, w_dim]) to image; layers named like NVIDIA's (`L3_52_512`)."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
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
        **layer_kwargs,
    ) -> None:
        super().__init__()
        log2 = int(math.log2(img_resolution))
        if img_resolution < 16 or 2**log2 != img_resolution:
            raise ValueError(f"StyleGAN3 needs a power-of-two resolution >= 16, not {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.num_ws = num_layers + 2
        self.output_scale = output_scale
        # Cutoffs and stopbands rise geometrically until the last `num_critical` layers (paper, Sec. 3.2).
        last_cutoff = img_resolution / 2
        last_stopband = last_cutoff * last_stopband_rel
        exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
        stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
        rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
        half_widths = np.maximum(stopbands, rates / 2) - cutoffs
        sizes = rates + margin_size * 2
        sizes[-2:] = img_resolution
        channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
        channels[-1] = img_channels
        self.input = SynthesisInput(w_dim, int(channels[0]), int(sizes[0]), rates[0], cutoffs[0])
        self.layer_names = []
        for i in range(num_layers + 1):
            prev = max(i - 1, 0)
            layer = SynthesisLayer(
                w_dim,
                is_torgb=i == num_layers,
                is_critically_sampled=i >= num_layers - num_critical,
                use_fp16=bool(rates[i] * 2**num_fp16_res > img_resolution),
                in_channels=int(channels[prev]),
                out_channels=int(channels[i]),
                in_size=int(sizes[prev]),
                out_size=int(sizes[i]),
                in_sampling_rate=int(rates[prev]),
                out_sampling_rate=int(rates[i]),
                in_cutoff=cutoffs[prev],
                out_cutoff=cutoffs[i],
                in_half_width=half_widths[prev],
                out_half_width=half_widths[i],
                **layer_kwargs,
            )
            name = f"L{i}_{layer.out_size}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", force_fp32: bool = False) -> torch.Tensor:
        """Render ws. StyleGAN3 has no noise inputs; `noise_mode` is accepted for a common API."""
        ws = ws.to(torch.float32).unbind(dim=1)
        x = self.input(ws[0])
        for name, w in zip(self.layer_names, ws[1:], strict=True):
            x = getattr(self, name)(x, w, force_fp32=force_fp32)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)


class Generator(nn.Module):
    """StyleGAN3: `mapping` (z, c -> ws) and `synthesis` (ws -> image), as in NVIDIA's snapshots."""

    arch = "stylegan3"
    synthesis_class = SynthesisNetwork
    extra_kwargs = ("conv_kernel", "filter_size", "lrelu_upsampling", "use_radial_filters", "conv_clamp")

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
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, **{"num_layers": 2, **(mapping_kwargs or {})})

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
