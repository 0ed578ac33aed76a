"""Small building blocks shared by the StyleGAN2 and StyleGAN3 generators.

Parameter names and storage follow NVIDIA's weight format (equalised learning rate: weights are
stored unscaled and multiplied by a gain at run time), so their state dicts load unchanged.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LRELU_GAIN = math.sqrt(2.0)


def fp16_enabled(device: torch.device) -> bool:
    """Whether layers that NVIDIA marks fp16 (`num_fp16_res`) run in fp16 on `device`: CUDA only,
    where half precision is fast; elsewhere it is slow or missing, so they stay fp32."""
    return device.type == "cuda"


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row to unit root-mean-square (StyleGAN's "pixel norm" of z)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    lrelu: bool = False,
    gain: float = 1.0,
    clamp: float | None = None,
    slope: float = 0.2,
) -> torch.Tensor:
    """Add a per-channel bias, apply leaky ReLU, scale by `gain`, clamp to +-`clamp`, in that order.

    Works in place on `x` (a fresh intermediate) unless autograd needs its value.
    """
    inplace = not (x.requires_grad and torch.is_grad_enabled())
    if b is not None:
        b = b.to(x.dtype).reshape([1, -1] + [1] * (x.ndim - 2))
        x = x.add_(b) if inplace else x + b
    if lrelu:
        x = F.leaky_relu_(x, slope) if inplace else F.leaky_relu(x, slope)
    if gain != 1:
        x = x.mul_(gain) if inplace else x * gain
    if clamp is not None:
        x = x.clamp_(-clamp, clamp) if inplace else x.clamp(-clamp, clamp)
    return x


class FullyConnectedLayer(nn.Module):
    """A linear layer with equalised learning rate, optionally followed by leaky ReLU."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float | list[float] = 0.0,
        weight_init: float = 1.0,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) * (weight_init / lr_multiplier))
        init = np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features])
        self.bias = nn.Parameter(torch.from_numpy(init / lr_multiplier)) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = None if self.bias is None else self.bias.to(x.dtype) * self.bias_gain
        if self.activation == "linear":
            return F.linear(x, w, b)
        return bias_act(F.linear(x, w), b, lrelu=True, gain=LRELU_GAIN)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


class MappingNetwork(nn.Module):
    """z (and an optional class label c) to w, broadcast to `num_ws` rows, with truncation."""

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
        w_avg_beta: float | None = 0.998,
        activation: str = "lrelu",
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers
        embed_features = (w_dim if embed_features is None else embed_features) if c_dim else 0
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(num_layers):
            fc = FullyConnectedLayer(features[i], features[i + 1], activation=activation, lr_multiplier=lr_multiplier)
            setattr(self, f"fc{i}", fc)
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,
    ) -> torch.Tensor:
        """Return ws of shape [N, num_ws, w_dim]; truncation lerps rows [:cutoff] toward `w_avg`."""
        parts = []
        if self.z_dim:
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim:
            if c is None or c.shape[-1] != self.c_dim:
                raise ValueError(f"this generator is conditional: pass c with {self.c_dim} columns")
            parts.append(normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        ws = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], truncation_psi)
        return ws


def setup_filter(taps: list[float]) -> torch.Tensor:
    """A normalised 2-D FIR filter: the outer product of `taps` with itself, summing to 1."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int = 1,
    down: int = 1,
    padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 1.0,
    channels_last: bool = False,
) -> torch.Tensor:
    """Upsample by zero insertion, pad (x0, x1, y0, y1), convolve with `f`, downsample.

    `f` is a separable 1-D filter (applied to both axes), a 2-D filter, or None for identity.
    Every filter runs as a depthwise convolution (one group per channel); upsampling is a
    transposed convolution, so no work is spent on inserted zeros. `channels_last` runs the passes
    in that memory format, which oneDNN vectorises across channels (worth it when the caller's
    tensors are channels-last already: converting costs more than it saves).
    """
    if f is None:
        if up == 1 and down == 1:
            x = _pad(x, padding)
            return x * gain if gain != 1 else x
        f = torch.ones([1], device=x.device)
    if f.ndim == 1:
        f = f * gain**0.5
        x = _fir(x, f.reshape(1, -1), up, down, (padding[0], padding[1], 0, 0), (1, up, 1, down), channels_last)
        return _fir(x, f.reshape(-1, 1), up, down, (0, 0, padding[2], padding[3]), (up, 1, down, 1), channels_last)
    return _fir(x, f * gain, up, down, padding, (up, up, down, down), channels_last)


def _fir(
    x: torch.Tensor,
    f: torch.Tensor,
    up: int,
    down: int,
    padding: tuple[int, int, int, int],
    axes: tuple[int, int, int, int],
    channels_last: bool,
) -> torch.Tensor:
    """One depthwise FIR pass with filter `f` ([kh, kw]); `axes` = (up_y, up_x, down_y, down_x)."""
    up_y, up_x, down_y, down_x = axes
    kh, kw = f.shape
    c = x.shape[1]
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = f.to(x.dtype)[None, None].expand(c, 1, kh, kw).contiguous()
    px0, px1, py0, py1 = padding
    if up_y > 1 or up_x > 1:
        # conv_transpose2d = convolution of the zero-stuffed signal; its `padding` crops both ends.
        x0, x1 = kw - 1 - px0, kw - up_x - px1
        y0, y1 = kh - 1 - py0, kh - up_y - py1
        crop = (max(min(y0, y1), 0), max(min(x0, x1), 0))
        if channels_last:
            # Measured, not explained: fed straight from the previous in-place ops, oneDNN's
            # depthwise transposed conv often took a slow path with a channels-first output; a
            # fresh channels-last copy keeps it fast (StyleGAN3-T 256 px on 2 cores: 3.25 -> 2.9 s).
            x = x.clone(memory_format=torch.channels_last)
        x = F.conv_transpose2d(x, weight, stride=(up_y, up_x), padding=crop, groups=c)
        x = _pad(x, (crop[1] - x0, crop[1] - x1, crop[0] - y0, crop[0] - y1))
        return x[:, :, ::down_y, ::down_x] if down_y > 1 or down_x > 1 else x
    pad = (max(min(py0, py1), 0), max(min(px0, px1), 0))
    x = _pad(x, (px0 - pad[1], px1 - pad[1], py0 - pad[0], py1 - pad[0]))
    return F.conv2d(x, weight.flip([2, 3]), stride=(down_y, down_x), padding=pad, groups=c)


def _pad(x: torch.Tensor, padding: tuple[int, int, int, int]) -> torch.Tensor:
    """Zero-pad (x0, x1, y0, y1); negative amounts crop."""
    return F.pad(x, padding) if any(padding) else x


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """Upsample by `up` with the FIR filter `f`, keeping the image centred and its DC gain at 1."""
    k = f.shape[-1]
    p0, p1 = (k + up - 1) // 2, (k - up) // 2
    return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up**2)
