"""The synthesis network compiles whole (no graph breaks), and the compiled frame follows every
per-frame manipulation without recompiling."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import FIXTURES
from vjengine.models import build_generator, load_generator
from vjengine.models.compiled import CompiledSynthesis
from vjengine.models.manipulation import Manipulator

pytestmark = pytest.mark.slow  # torch.compile builds C++ kernels: minutes on a small CPU


def narrow(arch: str, resolution: int, **kwargs) -> torch.nn.Module:
    config = {"img_resolution": resolution, "channel_base": 512, "channel_max": 16, "mapping_kwargs": {"num_layers": 2}}
    return build_generator({"arch": arch, "kwargs": {**config, **kwargs}})


def first_ws(G: torch.nn.Module, batch: int = 1) -> torch.Tensor:
    z = torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(3))
    return G.mapping(z, None, truncation_psi=0.7)


@pytest.mark.parametrize(
    "arch, options",
    [
        ("stylegan2", {"architecture": "skip"}),
        ("stylegan2", {"architecture": "resnet"}),
        ("stylegan2", {"architecture": "orig"}),
        ("stylegan3", {}),
        ("stylegan3", {"conv_kernel": 1, "use_radial_filters": True}),
    ],
    ids=["sg2-skip", "sg2-resnet", "sg2-orig", "sg3-t", "sg3-r"],
)
def test_synthesis_traces_as_one_graph(arch, options):
    G = narrow(arch, 32, **options)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(G.synthesis)(first_ws(G), torch.tensor([1.0, 0.0]))
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


@pytest.fixture(scope="module", params=["sg2_64", "sg3t_64"])
def compiled(request):
    """NVIDIA's fixture generator and its compiled synthesis, compiled once for the module."""
    torch._dynamo.reset()
    G = load_generator(FIXTURES / f"{request.param}.pkl")
    synthesis = CompiledSynthesis(G, torch.device("cpu"))
    with torch.no_grad():
        synthesis(first_ws(G))
    return G, synthesis


@torch.no_grad()
def test_compiled_frame_matches_eager(compiled):
    G, synthesis = compiled
    ws = first_ws(G)
    eager = G.synthesis(ws, noise_mode="const")
    # Fused kernels sum in another order: equal to rounding, as the equivalence tests measure it.
    assert (synthesis(ws, "const") - eager).abs().max() < 1e-3 * eager.abs().max()
    assert synthesis.compile_seconds > 0


@torch.no_grad()
def test_manipulation_reaches_the_compiled_frame_without_recompiling(compiled):
    G, synthesis = compiled
    ws = first_ws(G)
    manipulator = Manipulator(G)
    settings = {"corruption.gain": 0.8, "corruption.seed": 5, "corruption.mode": "noise"}
    settings.update({"transform.rotate": 30.0, "transform.x": 0.1, "transform.y": -0.05, "transform.scale": 1.2})
    with torch._dynamo.config.patch(error_on_recompile=True):
        before = synthesis(ws, "const").clone()
        manipulator.apply(settings, phase=0.25)
        after = synthesis(ws, "const")
    eager = G.synthesis(ws, noise_mode="const")
    assert (after - before).abs().max() > 0.05 * before.abs().max(), "the manipulation changed the picture"
    assert (after - eager).abs().max() < 1e-3 * eager.abs().max()


@torch.no_grad()
def test_noise_mode_switches_without_recompiling(compiled):
    G, synthesis = compiled
    ws = first_ws(G)
    for mode in ("none", "random", "const"):
        eager = G.synthesis(ws, noise_mode=mode)
        with torch._dynamo.config.patch(error_on_recompile=True):
            frame = synthesis(ws, mode)
        if mode != "random":  # fresh noise differs from draw to draw
            assert (frame - eager).abs().max() < 1e-3 * eager.abs().max(), mode
    if G.arch == "stylegan2":
        with torch._dynamo.config.patch(error_on_recompile=True):
            assert not torch.equal(synthesis(ws, "random"), synthesis(ws, "random"))
