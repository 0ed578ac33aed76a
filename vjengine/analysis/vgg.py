"""VGG16 features of a camera frame, and their channel means as a "fake z" for a StyleGAN mapping network.

The network is written here, not taken from torchvision (which vjengine does not depend on), but it keeps
torchvision's module layout and state-dict names, so torchvision's published `vgg16-397923af.pth` loads as is
(its `classifier.*` weights are ignored: only the convolutional part is used).

Layer names follow Gatys et al.: `convB_N` is the ReLU output of the N-th convolution of block B, `poolB` the
output of block B's max-pool, and `adavgpool` the 7x7 adaptive average pool after `pool5`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vjengine import downloads
from vjengine.errors import VJError

log = logging.getLogger(__name__)

TORCHVISION_VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"

# torchvision's "D" configuration: output channels per conv, "M" for a 2x2 max-pool.
_CONFIG: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def _layer_counts() -> dict[str, int]:
    """Name -> how many modules of `features` produce that output, derived from `_CONFIG`."""
    counts: dict[str, int] = {}
    block, conv, count = 1, 0, 0
    for item in _CONFIG:
        if item == "M":
            count += 1
            counts[f"pool{block}"] = count
            block, conv = block + 1, 0
        else:
            count += 2  # conv + its ReLU: the named output is after the ReLU
            conv += 1
            counts[f"conv{block}_{conv}"] = count
    counts["adavgpool"] = count  # all of `features`, then `avgpool`
    return counts


LAYERS: dict[str, int] = _layer_counts()
"""Layer name -> number of `features` modules to run for it (`adavgpool` then also runs `avgpool`)."""

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_RANDOM_SEED = 0
_HASH_PREFIX = re.compile(r"-([a-f0-9]*)\.")  # torchvision's: the hex after the name's '-' starts the sha256


class VGG16(nn.Module):
    """The convolutional part of torchvision's VGG16: `features` and `avgpool`, with torchvision's names."""

    def __init__(self) -> None:
        super().__init__()
        modules: list[nn.Module] = []
        channels = 3
        for item in _CONFIG:
            if item == "M":
                modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                # Not in-place: the outputs collected on the way to a deeper layer must stay intact.
                modules += [nn.Conv2d(channels, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                channels = int(item)
        self.features = nn.Sequential(*modules)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))

    def reset_random(self, seed: int = _RANDOM_SEED) -> None:
        """torchvision's initialisation (Kaiming-normal, zero bias) from `seed`, leaving the global RNG as it was."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for module in self.features:
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(module.bias)


class VGGEncoder(nn.Module):
    """VGG16 features of RGB frames, and their channel means mapped to a StyleGAN z.

    `weights`: a torchvision-format VGG16 state dict (`.pth`), `"download"` for torchvision's published file
    (fetched once into the vjengine cache from `url`), or None for fixed random weights (deterministic, but
    untrained: the features then only loosely follow the picture). `analysis_size` is the short side the frame
    is resized to before the network; it may be changed between calls.
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        device: str | torch.device = "cpu",
        analysis_size: int = 224,
        url: str = TORCHVISION_VGG16_URL,
    ) -> None:
        super().__init__()
        self.vgg = _empty_vgg16()
        self.analysis_size = analysis_size
        self.pretrained = weights is not None
        if weights is None:  # said once by open_encoder, which knows whether the user asked for it
            self.vgg.reset_random()
        else:
            path = download_weights(url) if str(weights) == "download" else Path(weights)
            self.vgg.load_state_dict(load_state_dict(path))
        self.device = torch.device(device)
        self.to(self.device).eval().requires_grad_(False)
        mean = torch.tensor(_IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(_IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        self.register_buffer("_mean", mean, persistent=False)
        self.register_buffer("_std", std, persistent=False)
        self._projections: dict[tuple[int, int], torch.Tensor] = {}

    @torch.inference_mode()
    def preprocess(self, image: np.ndarray | torch.Tensor) -> torch.Tensor:
        """A frame as the network's input [1, 3, h, w] on the encoder's device.

        `image`: (H, W, 3) RGB, as a numpy array or tensor; tensors may also be channels-first [3, H, W] or
        [1, 3, H, W]. uint8 is 0-255, floats are taken as 0-1. The short side becomes `analysis_size` (aspect
        kept, antialiased bilinear), then ImageNet normalisation.
        """
        x = _to_nchw(image).to(self.device)  # moved as uint8 where it is: 4x less to copy than float
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        h, w = x.shape[-2:]
        scale = self.analysis_size / min(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        if size != (h, w):
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        return (x - self._mean) / self._std

    @torch.inference_mode()
    def features(self, image: np.ndarray | torch.Tensor, layer: str) -> torch.Tensor:
        """The feature map [1, C, h, w] of `layer` (see `LAYERS`) for `image`; runs only the modules it needs."""
        return self._run(self.preprocess(image), [layer])[layer]

    @torch.inference_mode()
    def feature_maps(self, image: np.ndarray | torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """The feature maps of several layers from one pass that stops at the deepest of them."""
        return self._run(self.preprocess(image), list(layers))

    @torch.inference_mode()
    def channel_means(
        self, image: np.ndarray | torch.Tensor, layers: str | dict[str, float], z_dim: int = 512
    ) -> torch.Tensor:
        """A fake z [z_dim]: the channel means of `layers`, mapped to `z_dim` (see `project`).

        `layers`: one layer name, or {name: weight} for the weighted sum of several layers' means (Equation 2
        of the paper), all taken from one pass through the network.
        """
        weights = {layers: 1.0} if isinstance(layers, str) else dict(layers)
        if not weights:
            raise VJError(f"no VGG16 layer given; choose from {', '.join(LAYERS)}")
        maps = self._run(self.preprocess(image), list(weights))
        z = torch.zeros(z_dim, device=self.device)
        for name, weight in weights.items():
            z += weight * self.project(maps[name].mean(dim=(2, 3))[0], z_dim)
        return z

    @torch.inference_mode()
    def project(self, means: torch.Tensor, z_dim: int = 512) -> torch.Tensor:
        """Channel means [..., C] as [..., z_dim]: unchanged when C == z_dim, else through a fixed projection.

        The projection is a Gaussian matrix [C, z_dim] scaled by 1/sqrt(C), seeded by (C, z_dim): it lets every
        layer drive a z (not only the 512-channel ones), gives the same z for the same picture in every run,
        and keeps each output's size about the root-mean-square of the input means.
        """
        channels = means.shape[-1]
        if channels == z_dim:
            return means
        return means @ self._projection(channels, z_dim).to(means.device, means.dtype)

    def _projection(self, channels: int, z_dim: int) -> torch.Tensor:
        key = (channels, z_dim)
        if key not in self._projections:
            generator = torch.Generator().manual_seed(channels * 100_003 + z_dim)
            matrix = torch.randn(channels, z_dim, generator=generator) / channels**0.5
            self._projections[key] = matrix.to(self.device)
        return self._projections[key]

    def _run(self, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """The outputs of `layers` from one pass that stops at the deepest of them."""
        wanted = {name: _layer_count(name) for name in layers}
        at_count: dict[int, torch.Tensor] = {}
        deepest = max(wanted.values())
        for index, module in enumerate(self.vgg.features[:deepest]):
            x = module(x)
            if index + 1 in wanted.values():
                at_count[index + 1] = x
        return {
            name: self.vgg.avgpool(at_count[count]) if name == "adavgpool" else at_count[count]
            for name, count in wanted.items()
        }


def open_encoder(
    weights: str, device: object, purpose: str = "the camera drives through untrained features"
) -> VGGEncoder:
    """The VGG16 encoder for `visual.weights`: auto (cached or downloaded once, else untrained),
    download (must succeed), none (untrained), or a path. VJENGINE_OFFLINE=1 makes auto skip the
    download.

    Falling back to untrained weights is said in one line (`purpose` says what that means here); an
    explicit "none" is what the user asked for and is not said at all."""
    if weights == "auto":
        if os.environ.get("VJENGINE_OFFLINE"):
            _say_untrained("not downloaded (VJENGINE_OFFLINE is set)", purpose)
            return VGGEncoder(None, device)
        try:
            return VGGEncoder("download", device)
        except VJError as exc:
            _say_untrained(f"unavailable ({exc})", purpose)
            return VGGEncoder(None, device)
    return VGGEncoder(None if weights == "none" else weights, device)


def _say_untrained(why: str, purpose: str) -> None:
    log.warning(
        "VGG16 weights %s: %s; --vgg-weights download (528 MB, once) or a path to %s, or none to say you mean it",
        why,
        purpose,
        _url_filename(TORCHVISION_VGG16_URL),
    )


def _empty_vgg16() -> VGG16:
    """A VGG16 with uninitialised weights, to be loaded or reset: skipping nn.Conv2d's own initialisation saves
    time and leaves the global RNG untouched."""
    with torch.device("meta"):
        vgg = VGG16()
    return vgg.to_empty(device="cpu")


def _layer_count(name: str) -> int:
    if name not in LAYERS:
        raise VJError(f"unknown VGG16 layer {name!r}; choose from {', '.join(LAYERS)}")
    return LAYERS[name]


def _to_nchw(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """`image` as a [1, 3, H, W] tensor on its own device and in its own dtype."""
    if isinstance(image, np.ndarray):
        # Frames are shared read-only arrays; torch warns about wrapping those, so copy (it is small).
        image = torch.from_numpy(image if image.flags.writeable else image.copy())
    if image.ndim == 3 and image.shape[-1] == 3:
        return image.permute(2, 0, 1).unsqueeze(0)
    if image.ndim == 3 and image.shape[0] == 3:
        return image.unsqueeze(0)
    if image.ndim == 4 and image.shape[:2] == (1, 3):
        return image
    raise VJError(f"VGG16 expects an (H, W, 3) RGB image, got shape {tuple(image.shape)}")


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The `features.*` tensors of a torchvision-format VGG16 state dict; `classifier.*` is ignored.

    Every key our `VGG16` has must be there with its shape, else a VJError naming the file and the first
    bad key.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise VJError(f"VGG16 weights {path} not found; pass torchvision's vgg16 .pth, or download") from None
    except Exception as error:
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise VJError(f"cannot read VGG16 weights {path}: {reason}") from None
    if not isinstance(state, dict):
        raise VJError(f"VGG16 weights {path} hold a {type(state).__name__}, not a torchvision state dict")
    expected = _empty_vgg16().state_dict()
    for key, tensor in expected.items():
        found = state.get(key)
        if not isinstance(found, torch.Tensor):
            raise VJError(f"VGG16 weights {path} lack {key}; is this torchvision's vgg16 (not vgg16_bn or vgg19)?")
        if found.shape != tensor.shape:
            raise VJError(f"VGG16 weights {path}: {key} has shape {tuple(found.shape)}, expected {tuple(tensor.shape)}")
    extra = sorted(k for k in state if k.startswith("features.") and k not in expected)
    if extra:
        raise VJError(f"VGG16 weights {path} have unexpected {extra[0]}; is this torchvision's vgg16?")
    return {key: state[key] for key in expected}


def download_weights(url: str = TORCHVISION_VGG16_URL) -> Path:
    """torchvision's VGG16 file from `url`, downloaded once into the cache and checked as torchvision does.

    The hex digits after the last '-' of the file name (`vgg16-397923af.pth`) must begin the file's sha256;
    a file that fails is deleted from the cache.
    """
    path = downloads.fetch(url)
    match = _HASH_PREFIX.search(_name_tail(url))
    if match is None or len(match[1]) < 8:
        return path  # no published prefix to check (as torchvision); fetch's recorded hash still guards it
    digest = _file_sha256(path)
    if not digest.startswith(match[1]):
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".sha256").unlink(missing_ok=True)
        raise VJError(
            f"download of {url} does not match the sha256 prefix in its name (expected {match[1]}…, "
            f"got {digest[: len(match[1])]}…) and was deleted; check the URL or download it yourself"
        )
    return path


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _url_filename(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])


def _name_tail(url: str) -> str:
    # From the last '-' on: "a-b-397923af.pth" -> "-397923af.pth", so the regex sees only the final part.
    name = _url_filename(url)
    return name[name.rfind("-") :] if "-" in name else ""
