"""Resampling with finite impulse response filters, in plain PyTorch ops.

StyleGAN2 doubles its resolution with a 4-tap binomial filter; StyleGAN3 moves every layer between
sampling rates with Kaiser-windowed low-pass filters (Karras et al. 2021, section 3 and appendix F).
Zero insertion followed by filtering is computed as a strided transposed convolution, and filtering
followed by decimation as a strided convolution, so no multiplication ever touches an inserted zero
or a discarded sample. All shapes are static: the whole graph traces under `torch.compile`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def binomial_filter(taps: list[int] | tuple[int, ...] = (1, 3, 3, 1)) -> torch.Tensor:
    """The normalised 2-D outer product of `taps` ([len, len], sums to 1): StyleGAN2's blur kernel."""
    a = torch.tensor(taps, dtype=torch.float32)
    kernel = torch.outer(a, a)
    return kernel / kernel.sum()


def lowpass_filter(taps: int, cutoff: float, half_width: float, rate: float, radial: bool = False) -> np.ndarray | None:
    """StyleGAN3's Kaiser-windowed low-pass filter at sampling rate `rate`, or None for one tap.

    Separable filters are 1-D (`scipy.signal.firwin`); radial ones are 2-D: a jinc of the cutoff
    under a separable Kaiser window, normalised to unit sum.
    """
    if taps <= 1:
        return None
    # Imported here: scipy.signal takes seconds to import, and only StyleGAN3 layers being built need it.
    import scipy.signal
    import scipy.special

    if not radial:
        return scipy.signal.firwin(numtaps=taps, cutoff=cutoff, width=half_width * 2, fs=rate)
    offsets = (np.arange(taps) - (taps - 1) / 2) / rate
    rho = np.hypot(*np.meshgrid(offsets, offsets))
    jinc = scipy.special.j1(2 * np.pi * cutoff * rho) / (np.pi * np.where(rho == 0, 1, rho))
    jinc = np.where(rho == 0, cutoff, jinc)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(taps, half_width * 2 / (rate / 2)))
    window = np.kaiser(taps, beta)
    kernel = jinc * np.outer(window, window)
    return kernel / kernel.sum()


def _depthwise(kernel: torch.Tensor, like: torch.Tensor, axis: int | None) -> torch.Tensor:
    """A [channels, 1, kh, kw] weight that filters every channel of `like` alone with `kernel`
    (1-D along `axis` = 2 for rows or 3 for columns; 2-D when axis is None), materialised in
    `like`'s memory layout: an expanded (stride 0) or mismatched weight sends oneDNN to a slow
    path or to copies of the whole signal."""
    channels = like.shape[1]
    if axis is None:
        shape = (1, 1, *kernel.shape)
    else:
        shape = (1, 1, kernel.numel(), 1) if axis == 2 else (1, 1, 1, kernel.numel())
    return kernel.reshape(shape).expand(channels, 1, *shape[2:]).contiguous(memory_format=_layout(like))


def _layout(x: torch.Tensor) -> torch.memory_format:
    channels_last = x.shape[1] > 1 and x.is_contiguous(memory_format=torch.channels_last)
    return torch.channels_last if channels_last else torch.contiguous_format


def upsample(x: torch.Tensor, kernel: torch.Tensor, factor: int, pad: tuple[int, int]) -> torch.Tensor:
    """Insert `factor - 1` zeros after every sample, pad (before, after) on both axes, and filter with
    `kernel * factor**2`, keeping only positions where it lies wholly inside.

    `kernel` is 1-D (applied along both axes) or 2-D. It must be symmetric, as every filter
    here is, so that correlation and convolution agree.
    """
    channels, taps = x.shape[1], kernel.shape[0]
    kernel = kernel.to(x.dtype)
    # A transposed convolution puts tap t of input sample q at factor*q + t; the wanted window starts
    # `taps - 1 - before` samples into that and ends `after` zeros past the last inserted sample.
    first, last = taps - 1 - pad[0], taps - factor - pad[1]
    trim = max(min(first, last), 0)  # cut by the convolution itself: no copy, and the layout is kept
    if kernel.ndim == 1:
        # Columns first, then rows: in channels-last memory this order ran fastest on oneDNN.
        gain = kernel * factor
        x = F.conv_transpose2d(x, _depthwise(gain, x, 3), stride=(1, factor), padding=(0, trim), groups=channels)
        x = F.conv_transpose2d(x, _depthwise(gain, x, 2), stride=(factor, 1), padding=(trim, 0), groups=channels)
    else:
        weight = _depthwise(kernel * factor**2, x, None)
        x = F.conv_transpose2d(x, weight, stride=factor, padding=trim, groups=channels)
    first, last = first - trim, last - trim
    if first == last == 0:
        return x
    height, width = x.shape[-2:]
    if first >= 0 and last >= 0:
        return x[:, :, first : height - last, first : width - last]
    return F.pad(x, (-first, -last, -first, -last))


def activate(x: torch.Tensor, slope: float, gain: float, clamp: float | None) -> torch.Tensor:
    """Leaky ReLU times `gain`, clamped to +-`clamp`; in place unless gradients are wanted,
    because on a CPU these passes over large intermediates cost as much as the filters."""
    if torch.is_grad_enabled():
        x = F.leaky_relu(x, slope) * gain if slope != 1 else x * gain
        return x if clamp is None else x.clamp(-clamp, clamp)
    if slope != 1:
        x = F.leaky_relu_(x, slope)
    if gain != 1:
        x = x.mul_(gain)
    return x if clamp is None else x.clamp_(-clamp, clamp)


def blur(x: torch.Tensor, kernel: torch.Tensor, padding: int) -> torch.Tensor:
    """Filter every channel with the 2-D `kernel`, zero-padded (one pass: for StyleGAN2's 4x4 kernel
    faster on oneDNN than two separable ones)."""
    return F.conv2d(x, _depthwise(kernel.to(x.dtype), x, None), padding=padding, groups=x.shape[1])


def downsample(x: torch.Tensor, kernel: torch.Tensor | None, factor: int) -> torch.Tensor:
    """Filter with `kernel` (valid positions only) and keep every `factor`-th sample from the first."""
    if kernel is None:
        return x[:, :, ::factor, ::factor] if factor > 1 else x
    channels = x.shape[1]
    kernel = kernel.to(x.dtype)
    if kernel.ndim == 1:
        x = F.conv2d(x, _depthwise(kernel, x, 3), stride=(1, factor), groups=channels)
        return F.conv2d(x, _depthwise(kernel, x, 2), stride=(factor, 1), groups=channels)
    return F.conv2d(x, _depthwise(kernel, x, None), stride=factor, groups=channels)


def separable_taps(kernel: torch.Tensor) -> torch.Tensor:
    """The 1-D taps `v` of a separable, unit-sum 2-D kernel `outer(v, v)` (its row sums)."""
    return kernel.sum(dim=1)
