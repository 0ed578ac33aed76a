"""load_generator: every kind of spec a VJ may type, and what they get back."""

from __future__ import annotations

import argparse
import logging

import pytest
import torch

from vjengine.errors import ModelError, VJError
from vjengine.models import build_generator, load_generator, save_generator


def test_random_is_a_256px_stylegan2_by_default():
    G = load_generator("random")
    assert (G.config["arch"], G.img_resolution, G.untrained, G.source) == ("stylegan2", 256, True, "random")


@pytest.mark.parametrize(
    ("spec", "arch", "size"), [("random:sg3t-32", "stylegan3", 32), ("random:sg2-64", "stylegan2", 64)]
)
def test_random_specs_choose_architecture_and_size(spec, arch, size):
    G = load_generator(spec)
    assert (G.config["arch"], G.img_resolution) == (arch, size)


def test_random_generator_is_the_same_every_time():
    a, b = load_generator("random:sg2-32"), load_generator("random:sg2-32")
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())


def test_random_generator_says_it_is_untrained(caplog):
    with caplog.at_level(logging.WARNING):
        load_generator("random:sg2-32")
    assert "UNTRAINED" in caplog.text


def test_random_generator_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    load_generator("random:sg2-32")
    assert torch.equal(torch.rand(1), expected)


def test_random_generator_truncation_pulls_toward_the_mean():
    G = load_generator("random:sg2-32")
    z = torch.randn(8, G.z_dim)
    far = (G.mapping(z, None) - G.mapping.w_avg).norm(dim=-1).mean()
    near = (G.mapping(z, None, truncation_psi=0.5) - G.mapping.w_avg).norm(dim=-1).mean()
    assert float(near) == pytest.approx(float(far) * 0.5, rel=1e-4)


def test_unknown_random_architecture():
    with pytest.raises(ModelError, match="unknown random architecture 'sg9'"):
        load_generator("random:sg9-256")


def test_model_is_ready_for_inference():
    G = load_generator("random:sg2-32")
    assert not G.training and not any(p.requires_grad for p in G.parameters())


def test_unavailable_device_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(VJError, match="no CUDA GPU"):
        load_generator("random:sg2-32", "cuda")


def test_unknown_device_is_a_clear_error():
    with pytest.raises(VJError, match="unknown device 'gpu0'"):
        load_generator("random:sg2-32", "gpu0")


def test_safetensors_without_our_config_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(ModelError, match="without a vjengine generator config"):
        load_generator(path)


def test_damaged_safetensors_is_one_line(tmp_path):
    path = save_generator(load_generator("random:sg2-32"), tmp_path / "g.safetensors")
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(ModelError, match="damaged .safetensors"):
        load_generator(path)


# rosinality's stylegan2-pytorch names, written out from its Generator's module tree.
def rosinality_state(G: torch.nn.Module) -> dict[str, torch.Tensor]:
    sd, syn = {}, G.synthesis
    for i in range(G.mapping.num_layers):
        sd[f"style.{i + 1}.weight"] = G.mapping.state_dict()[f"fc{i}.weight"]
        sd[f"style.{i + 1}.bias"] = G.mapping.state_dict()[f"fc{i}.bias"]
    sd["input.input"] = syn.b4.const[None]

    def conv(dst, layer, noise_index):
        sd[f"{dst}.conv.weight"] = layer.weight[None]
        sd[f"{dst}.conv.modulation.weight"] = layer.affine.weight
        sd[f"{dst}.conv.modulation.bias"] = layer.affine.bias
        sd[f"{dst}.noise.weight"] = layer.noise_strength.reshape(1)
        sd[f"{dst}.activate.bias"] = layer.bias
        sd[f"noises.noise_{noise_index}"] = layer.noise_const[None, None]

    def torgb(dst, layer):
        sd[f"{dst}.conv.weight"] = layer.weight[None]
        sd[f"{dst}.conv.modulation.weight"] = layer.affine.weight
        sd[f"{dst}.conv.modulation.bias"] = layer.affine.bias
        sd[f"{dst}.bias"] = layer.bias.reshape(1, -1, 1, 1)

    conv("conv1", syn.b4.conv1, 0)
    torgb("to_rgb1", syn.b4.torgb)
    for i, block in enumerate(syn.blocks()[1:]):
        conv(f"convs.{2 * i}", block.conv0, 2 * i + 1)
        conv(f"convs.{2 * i + 1}", block.conv1, 2 * i + 2)
        torgb(f"to_rgbs.{i}", block.torgb)
    return sd


def test_rosinality_checkpoint_loads_with_widths_from_its_shapes(tmp_path):
    config = {"img_resolution": 64, "channel_base": 2048, "channel_max": 64, "conv_clamp": None}
    G = build_generator({"arch": "stylegan2", "kwargs": {**config, "mapping_kwargs": {"num_layers": 3}}})
    torch.nn.init.normal_(G.mapping.w_avg)
    path = tmp_path / "550000.pt"
    args = argparse.Namespace(size=64, channel_multiplier=1)
    torch.save({"g_ema": rosinality_state(G), "latent_avg": G.mapping.w_avg, "args": args}, path)
    loaded = load_generator(path)
    assert loaded.synthesis.b64.conv1.weight.shape[0] == 32
    ws = loaded.mapping(torch.randn(2, 512), None, truncation_psi=0.5)
    assert torch.allclose(loaded.synthesis(ws), G.synthesis(ws), atol=1e-5)
    assert torch.equal(loaded.mapping.w_avg, G.mapping.w_avg)


def test_pytorch_checkpoint_of_something_else_is_refused(tmp_path):
    path = tmp_path / "classifier.pt"
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, path)
    with pytest.raises(ModelError, match="not a known generator"):
        load_generator(path)


def test_pytorch_checkpoint_needing_code_is_refused(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(ModelError, match="never runs from a model file"):
        load_generator(path)


def test_loading_on_the_cpu_leaves_the_process_allocator_alone_and_the_application_tunes_it(monkeypatch):
    import vjengine.device

    tuned = []
    monkeypatch.setattr(vjengine.device, "tune_cpu_allocator", lambda: tuned.append(True))
    load_generator("random:sg2-32", "cpu")
    assert tuned == []  # a library call changes no process-wide setting
    vjengine.device.prepare_process(torch.device("cpu"))
    assert tuned == [True]
