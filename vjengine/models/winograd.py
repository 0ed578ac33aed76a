"""3x3 convolutions by Winograd's minimal filtering F(6x6, 3x3) (Lavin and Gray 2016), for CPU frames.

A direct float32 3x3 convolution already runs at the core's peak on oneDNN, and most of a StyleGAN
frame is such convolutions, so only doing fewer multiplications makes a frame much faster. Winograd's
algorithm computes each 6x6 tile of outputs from an 8x8 tile of inputs with 64 products per channel
pair instead of 324: the tiles are transformed, multiplied as 64 independent matrix products (one per
position in the tile, over channels), and transformed back. Only the matrix products grow with the
channel count; the transforms are passes over memory.

The filters are transformed once per weight (`winograd_filters`, 64/9 of the weight's size); a style
that scales the input channels and a demodulation that scales the output channels ride on those
passes, so a modulated convolution costs no more than a plain one. In float32 the result differs from
a direct convolution by about 1e-5 of its range (measured; the interpolation points are 0, +-1, +-2,
+-1/2 and infinity, the smallest that keep the transforms' entries small).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction

import torch

TILE = 6  # outputs per tile side
SPAN = TILE + 2  # inputs per tile side for a 3-tap kernel
# Where the polynomials are evaluated (and infinity): small values keep float32's rounding small.
POINTS = (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2))


def _transforms(points: tuple[Fraction | int, ...], outputs: int, taps: int) -> tuple[list, list, list]:
    """(input, filter, output) transforms of F(outputs, taps) from its evaluation points.

    A correlation of `taps` weights over `outputs + taps - 1` samples is the transpose of multiplying
    a polynomial with `outputs` coefficients by one with `taps`: evaluate both at the points and at
    infinity (the leading coefficient), multiply, interpolate. Transposed, the interpolation becomes
    the input transform and the first evaluation the output transform."""
    span = outputs + taps - 1
    if len(points) != span - 1:
        raise ValueError(f"F({outputs}, {taps}) needs {span - 1} finite points")

    def evaluate(degree: int) -> list[list[Fraction]]:
        rows = [[Fraction(p) ** i for i in range(degree)] for p in points]
        return [*rows, [Fraction(int(i == degree - 1)) for i in range(degree)]]

    interpolate = _inverse(evaluate(span))
    input_transform = [list(column) for column in zip(*interpolate, strict=True)]
    output_transform = [list(column) for column in zip(*evaluate(outputs), strict=True)]
    return input_transform, evaluate(taps), output_transform


def _inverse(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    """The exact inverse of a small square matrix (Gauss-Jordan over fractions)."""
    n = len(matrix)
    rows = [[*row, *(Fraction(int(i == j)) for j in range(n))] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if rows[r][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        rows[col] = [v / rows[col][col] for v in rows[col]]
        for r in range(n):
            if r != col and rows[r][col] != 0:
                factor = rows[r][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col], strict=True)]
    return [row[n:] for row in rows]


_INPUT, _FILTER, _OUTPUT = _transforms(POINTS, TILE, 3)


def _both_axes(rows: list[list[Fraction]]) -> torch.Tensor:
    """A 1-D transform applied along rows and columns at once (its Kronecker square), in float32."""
    matrix = torch.tensor([[float(v) for v in row] for row in rows], dtype=torch.float64)
    return torch.kron(matrix, matrix).to(torch.float32)


# Built once: every wide layer uses them every frame (on the CPU, where Winograd runs).
_INPUT_BOTH, _FILTER_BOTH, _OUTPUT_BOTH = _both_axes(_INPUT), _both_axes(_FILTER), _both_axes(_OUTPUT)


# Below this (half the harmonic mean of the channel counts) the transforms, which grow with the
# channels, cost about what the products save. Measured on one core against oneDNN's direct
# convolution: 2.6x faster at 512 -> 512 channels, 2.3x at 512 -> 362, 1.7x at 256 -> 181, 1.1x at
# 181 -> 128 (`MIN_WIDTH` 75).
MIN_WIDTH = 72


def worthwhile(in_channels: int, out_channels: int) -> bool:
    """Whether a 3x3 convolution between these channel counts runs faster by Winograd on a CPU."""
    return in_channels * out_channels / (in_channels + out_channels) >= MIN_WIDTH


_enabled = True


@contextmanager
def direct_convolutions() -> Iterator[None]:
    """Within this block every layer convolves directly (for comparisons: `vjengine bench generator
    --direct`)."""
    global _enabled
    previous, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = previous


def applies(x: torch.Tensor, filters: torch.Tensor, styles: torch.Tensor) -> bool:
    """Whether to convolve `x`, modulated by `styles`, by Winograd: float32 on a CPU with the filters
    prepared, nothing to differentiate. Under autocast the direct convolution runs in bfloat16, which
    is faster still (and Winograd's transforms would lose too much in it); with gradients (projecting
    a photo), the direct one is simpler to differentiate."""
    wants_gradients = torch.is_grad_enabled() and (x.requires_grad or styles.requires_grad)
    return (
        _enabled
        and filters.numel() > 0
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and not wants_gradients
        and not torch.is_autocast_enabled("cpu")
    )


def winograd_filters(weight: torch.Tensor) -> torch.Tensor:
    """[64, in, out]: a [out, in, 3, 3] weight in the transformed domain, one matrix per tile position."""
    out_channels, in_channels = weight.shape[:2]
    both_axes = _FILTER_BOTH.to(weight.device)  # [64, 9]
    kernels = weight.detach().float().reshape(out_channels * in_channels, 9)
    filters = (both_axes @ kernels.t()).reshape(SPAN * SPAN, out_channels, in_channels)
    return filters.transpose(1, 2).contiguous()


def winograd_conv3x3(
    x: torch.Tensor,
    filters: torch.Tensor,
    padding: int,
    in_scale: torch.Tensor | None = None,
    out_scale: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """A 3x3 convolution of `x` [N, in, H, W] (zero `padding` on every side) with `filters` from
    `winograd_filters`, the input channels first scaled by `in_scale` [N, in] and the outputs by
    `out_scale` [N, out] before `bias` [out] is added. Float32; the result is channels-last."""
    batch, channels, height, width = x.shape
    out_height, out_width = height + 2 * padding - 2, width + 2 * padding - 2
    rows, cols = -(-out_height // TILE), -(-out_width // TILE)
    tiles = _input_tiles(x, padding, rows, cols, in_scale)  # [64, N * rows * cols, in]
    products = torch.bmm(tiles, filters)  # [64, N * rows * cols, out]
    y = _output_tiles(products, batch, rows, cols, out_scale, bias)  # [N, rows * 6, cols * 6, out]
    return y[:, :out_height, :out_width].permute(0, 3, 1, 2)


def _input_tiles(x: torch.Tensor, padding: int, rows: int, cols: int, in_scale: torch.Tensor | None) -> torch.Tensor:
    """Every overlapping 8x8 input tile (stride 6), transformed, laid out position-major."""
    batch, channels, height, width = x.shape
    # Channels innermost: every later pass then runs along contiguous channel vectors.
    padded = torch.nn.functional.pad(
        x.permute(0, 2, 3, 1),
        (0, 0, padding, TILE * cols + 2 - width - padding, padding, TILE * rows + 2 - height - padding),
    )
    n_stride, h_stride, w_stride, c_stride = padded.stride()
    windows = padded.as_strided(
        (SPAN, SPAN, batch, rows, cols, channels),
        (h_stride, w_stride, n_stride, TILE * h_stride, TILE * w_stride, c_stride),
    )
    # The style scales the channels while the tiles are gathered: no pass of its own.
    scale = torch.ones(1, dtype=x.dtype, device=x.device) if in_scale is None else in_scale.to(x.dtype)
    scale = scale.reshape(1, 1, -1, 1, 1, scale.shape[-1] if in_scale is not None else 1)
    gathered = _contiguous(lambda out: torch.mul(windows, scale, out=out), windows.shape, x)
    both_axes = _INPUT_BOTH.to(x.device, x.dtype)  # [64, 64]
    return (both_axes @ gathered.reshape(SPAN * SPAN, -1)).reshape(SPAN * SPAN, batch * rows * cols, channels)


def _contiguous(
    compute: Callable[[torch.Tensor | None], torch.Tensor], shape: torch.Size, like: torch.Tensor
) -> torch.Tensor:
    """`compute(out)` as a contiguous tensor of `shape`. Eagerly it writes into a fresh contiguous
    `out` (a strided source would otherwise give its result the source's memory order, and the
    next reshape a copy); compiled, the result is made contiguous, which the compiler fuses into
    the computation (it does not keep `out=` semantics)."""
    if torch.compiler.is_compiling():
        return compute(None).contiguous()
    out = torch.empty(shape, dtype=like.dtype, device=like.device)
    compute(out)
    return out


def _output_tiles(
    products: torch.Tensor,
    batch: int,
    rows: int,
    cols: int,
    out_scale: torch.Tensor | None,
    bias: torch.Tensor | None,
) -> torch.Tensor:
    """The 6x6 output tiles from the products, scaled, biased and put in place: [N, H', W', out]."""
    out_channels = products.shape[2]
    both_axes = _OUTPUT_BOTH.to(products.device, products.dtype)  # [36, 64]
    tiles = (both_axes @ products.reshape(SPAN * SPAN, -1)).reshape(TILE, TILE, batch, rows, cols, out_channels)
    placed = tiles.permute(2, 3, 0, 4, 1, 5)  # [N, rows, 6, cols, 6, out]
    ones = torch.ones(1, 1, 1, 1, 1, out_channels, dtype=products.dtype, device=products.device)
    scale = ones if out_scale is None else out_scale.to(products.dtype).reshape(batch, 1, 1, 1, 1, out_channels)
    offset = ones * 0 if bias is None else bias.to(products.dtype)
    y = _contiguous(lambda out: torch.addcmul(offset, placed, scale, out=out), placed.shape, products)
    return y.reshape(batch, rows * TILE, cols * TILE, out_channels)
