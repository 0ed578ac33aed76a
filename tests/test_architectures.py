"""Our own constructors cover the architectures users train, beyond what the fixtures show."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import FIXTURES
from vjengine.models import build_generator, load_generator, save_generator
from vjengine.models.nvidia import read_snapshot


def small(arch: str, resolution: int, **kwargs) -> dict:
    """A narrow config so that big resolutions stay fast on a CPU."""
    base = {"img_resolution": resolution, "channel_base": 256 * resolution // 32, "channel_max": 32}
    base["mapping_kwargs"] = {"num_layers": 2}
    return {"arch": arch, "kwargs": {**base, **kwargs}}


def render(G: torch.nn.Module) -> torch.Tensor:
    c = torch.eye(G.c_dim)[:2] if G.c_dim else None
    return G(torch.randn(2, G.z_dim), c, truncation_psi=0.7)


@pytest.mark.parametrize("architecture", ["skip", "resnet", "orig"])
def test_stylegan2_architectures_render(architecture):
    G = build_generator(small("stylegan2", 64, architecture=architecture))
    img = render(G)
    assert img.shape == (2, 3, 64, 64) and torch.isfinite(img).all()


@pytest.mark.parametrize("resolution", [32, 128, 512, 1024])
def test_stylegan2_resolutions(resolution):
    G = build_generator(small("stylegan2", resolution))
    assert G.num_ws == 2 * (resolution.bit_length() - 1) - 2
    img = G.synthesis(G.mapping(torch.randn(1, G.z_dim), None))
    assert img.shape == (1, 3, resolution, resolution) and torch.isfinite(img).all()


@pytest.mark.parametrize("arch", ["stylegan2", "stylegan3"])
def test_conditional_generators_use_the_label(arch):
    G = build_generator(small(arch, 32, c_dim=5))
    z = torch.randn(1, G.z_dim)
    a = G.mapping(z, torch.eye(5)[:1])
    b = G.mapping(z, torch.eye(5)[1:2])
    assert G.c_dim == 5 and not torch.allclose(a, b)


def test_conditional_generator_without_label_is_a_clear_error():
    G = build_generator(small("stylegan2", 32, c_dim=3))
    with pytest.raises(ValueError, match="conditional"):
        G.mapping(torch.randn(1, G.z_dim), None)


@pytest.mark.parametrize("config", ["T", "R"])
@pytest.mark.parametrize("resolution", [32, 256])
def test_stylegan3_configs_render(config, resolution):
    extra = {"conv_kernel": 1, "use_radial_filters": True} if config == "R" else {}
    G = build_generator(small("stylegan3", resolution, **extra))
    img = render(G)
    assert img.shape == (2, 3, resolution, resolution) and torch.isfinite(img).all()


def test_stylegan3_r_has_radial_down_filters():
    G = build_generator(small("stylegan3", 32, conv_kernel=1, use_radial_filters=True))
    assert G.synthesis.L0_36_32.down_filter.ndim == 2
    assert G.synthesis.L0_36_32.weight.shape[-1] == 1


def test_stylegan3_1024_renders():
    kwargs = {"img_resolution": 1024, "channel_base": 2048, "channel_max": 4}
    G = build_generator({"arch": "stylegan3", "kwargs": kwargs})
    img = G.synthesis(G.mapping(torch.randn(1, G.z_dim), None))
    assert img.shape == (1, 3, 1024, 1024) and torch.isfinite(img).all()


@pytest.mark.parametrize("name", ["sg2_64", "sg3t_64"])
def test_state_dict_names_and_shapes_equal_nvidia(name):
    config, nvidia_state = read_snapshot((FIXTURES / f"{name}.pkl").read_bytes())
    ours = build_generator(config).state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in nvidia_state.items()}


def test_nvidia_handles_exist_where_users_expect_them():
    sg2, sg3 = load_generator("random:sg2-32"), load_generator("random:sg3t-32")
    assert sg2.synthesis.b4.const.shape[1:] == (4, 4)
    assert torch.equal(sg3.synthesis.input.transform, torch.eye(3))
    for G in (sg2, sg3):
        assert (G.z_dim, G.w_dim, G.c_dim, G.img_channels, G.img_resolution) == (512, 512, 0, 3, 32)


@pytest.mark.parametrize(
    "config",
    [
        small("stylegan2", 64, architecture="resnet", c_dim=3),
        small("stylegan3", 32, conv_kernel=1, use_radial_filters=True),
    ],
    ids=["sg2-resnet-conditional", "sg3-r"],
)
def test_state_dict_round_trips_through_convert(tmp_path, config):
    G = build_generator(config)
    path = save_generator(G, tmp_path / "g.safetensors")
    loaded = load_generator(path)
    assert loaded.config == G.config
    for key, value in G.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    ws = G.mapping(torch.randn(1, G.z_dim), torch.eye(G.c_dim)[:1] if G.c_dim else None)
    assert torch.equal(loaded.synthesis(ws), G.synthesis(ws))


@pytest.mark.slow  # the fixture models through the fp16 path, layer by layer: minutes on a small CPU
@pytest.mark.parametrize("name", ["sg2_64", "sg3t_64"])
def test_mixed_precision_path_stays_close_to_fp32(monkeypatch, name):
    """The layers that NVIDIA's num_fp16_res marks run in half precision on CUDA. No GPU here, so
    half precision is switched on for the CPU (PyTorch has CPU float16 kernels) to run the same code."""
    from vjengine.models import stylegan2_synthesis

    G = load_generator(FIXTURES / f"{name}.pkl")
    ws = G.mapping(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(1)), None, truncation_psi=0.7)
    full = G.synthesis(ws, force_fp32=True)
    monkeypatch.setattr(stylegan2_synthesis, "HALF_DEVICES", ("cuda", "cpu"))
    mixed = G.synthesis(ws)
    assert not torch.equal(mixed, full), "the marked layers ran in float16"
    assert mixed.dtype == torch.float32 and torch.isfinite(mixed).all()
    assert (mixed - full).abs().mean() < 0.01 * full.std()
    assert (mixed - full).abs().max() < 0.05 * full.std()
