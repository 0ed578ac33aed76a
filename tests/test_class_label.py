"""`latent.class` chooses what a conditional model renders; unconditional models ignore it."""

from __future__ import annotations

import torch

from vjengine.latent import LatentComposer
from vjengine.models import build_generator
from vjengine.params import default_store


def composer_for(c_dim: int) -> tuple[LatentComposer, object]:
    torch.manual_seed(0)
    config = {"img_resolution": 16, "channel_base": 256, "channel_max": 16, "mapping_kwargs": {"num_layers": 2}}
    G = build_generator({"arch": "stylegan2", "kwargs": {**config, "c_dim": c_dim}}).eval()
    return LatentComposer(G, torch.device("cpu")), default_store()


def ws_for(composer: LatentComposer, store, label: int) -> torch.Tensor:
    store.set("latent.class", label, immediate=True)
    return composer.compose(store.snapshot(0.0), {}, 0.0)


def test_a_conditional_model_renders_the_class_asked_for():
    composer, store = composer_for(c_dim=4)
    first, third = ws_for(composer, store, 0), ws_for(composer, store, 2)
    psi = store.get("truncation.psi")
    expected = composer.G.mapping(composer.anchor(0)[:1], torch.eye(4)[2:3], truncation_psi=psi)
    assert not torch.allclose(first, third)
    assert torch.allclose(third, expected)


def test_a_class_above_the_last_renders_the_last():
    composer, store = composer_for(c_dim=4)
    assert torch.equal(ws_for(composer, store, 999), ws_for(composer, store, 3))


def test_an_unconditional_model_ignores_the_class():
    composer, store = composer_for(c_dim=0)
    assert torch.equal(ws_for(composer, store, 5), ws_for(composer, store, 0))
