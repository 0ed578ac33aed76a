"""Projecting images into W+ on the fixture generator, saving the result, and style mixing."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from conftest import FIXTURES

from vjengine.analysis.vgg import VGGEncoder
from vjengine.commands.pictures import render_images
from vjengine.commands.project import load_target, project_command, save_projection
from vjengine.errors import VJError
from vjengine.latent.projection import ProjectionResult, mix_styles, noise_regularisation, project
from vjengine.models import load_generator


@pytest.fixture(scope="module")
def G():
    return load_generator(FIXTURES / "sg2_64.pkl", "cpu")


@pytest.fixture(scope="module")
def encoder():
    return VGGEncoder(None, "cpu")


@pytest.fixture(scope="module")
def target(G):
    """One of the generator's own images: W+ can reach it exactly."""
    z = torch.from_numpy(np.random.RandomState(2).randn(1, G.z_dim)).float()
    return render_images(G, G.mapping(z, None))[0]


@pytest.fixture(scope="module")
def short_run(G, encoder, target):
    return project(G, target, steps=3, encoder=encoder, progress=False)


def test_projection_recovers_a_generated_image(G, encoder, target):
    result = project(G, target, steps=30, encoder=encoder, lr=0.1, progress=False)
    assert result.pixel_mse_after * 4 <= result.pixel_mse_before
    rendered = render_images(G, result.ws[None])[0]
    np.testing.assert_array_equal(rendered, result.image_after)  # the saved w+ alone reproduces the result


def test_projection_starts_from_w_avg_on_every_layer(G, short_run):
    start = G.mapping.w_avg.expand(G.num_ws, -1)[None]
    np.testing.assert_array_equal(short_run.image_before, render_images(G, start)[0])
    assert len(short_run.losses) == len(short_run.pixel_losses) == 3
    assert short_run.ws.shape == (G.num_ws, G.w_dim) and short_run.ws.device.type == "cpu"


def test_projection_refuses_a_target_of_the_wrong_size(G, encoder):
    with pytest.raises(VJError, match=r"\(64, 64, 3\) uint8 RGB"):
        project(G, np.zeros((32, 32, 3), np.uint8), steps=1, encoder=encoder)


def test_noise_optimisation_returns_the_maps_and_leaves_the_generator_as_it_was(G, encoder, target):
    before = {k: v.clone() for k, v in G.state_dict().items() if k.endswith("noise_const")}
    result = project(G, target, steps=2, encoder=encoder, noise_reg=1e3, progress=False)
    after = {k: v for k, v in G.state_dict().items() if k.endswith("noise_const")}
    assert sorted(f"synthesis.{name}.noise_const" for name in result.noise) == sorted(before)
    for key, value in before.items():
        assert torch.equal(after[key], value) and not after[key].requires_grad
    moved = [
        not torch.equal(result.noise[k.removeprefix("synthesis.").removesuffix(".noise_const")], before[k])
        for k in before
    ]
    assert any(moved)


def test_noise_regulariser_penalises_smooth_noise_more_than_white_noise():
    rng = torch.Generator().manual_seed(0)
    white = torch.randn(32, 32, generator=rng)
    smooth = torch.nn.functional.avg_pool2d(torch.randn(1, 1, 35, 35, generator=rng), 4, stride=1)[0, 0]
    smooth = (smooth - smooth.mean()) / smooth.std()
    assert noise_regularisation([smooth]) > 20 * noise_regularisation([white])


def test_save_projection_writes_latents_loss_curve_and_comparison(G, short_run, tmp_path):
    paths = save_projection(short_run, tmp_path / "face")
    assert {k: p.name for k, p in paths.items()} == {
        "latents": "face.npy",
        "loss": "face-loss.png",
        "compare": "face-compare.png",
    }
    ws = np.load(paths["latents"])
    assert ws.shape == (G.num_ws, G.w_dim) and ws.dtype == np.float32
    assert cv2.imread(str(paths["loss"])).shape == (360, 640, 3)
    assert cv2.imread(str(paths["compare"])).shape == (256, 3 * 256, 3)


def test_loss_curve_draws_the_losses(short_run, tmp_path):
    flat = ProjectionResult(**{**short_run.__dict__, "losses": [], "pixel_losses": []})
    drawn = cv2.imread(str(save_projection(short_run, tmp_path / "a")["loss"]))
    empty = cv2.imread(str(save_projection(flat, tmp_path / "b")["loss"]))
    blue = (drawn[:, :, 0] > 150) & (drawn[:, :, 2] < 100)  # BGR: the total-loss line
    assert blue.sum() > 100 and not ((empty[:, :, 0] > 150) & (empty[:, :, 2] < 100)).any()


def test_mix_styles_takes_coarse_rows_from_one_and_fine_rows_from_the_other():
    a, b = torch.zeros(10, 4), torch.ones(10, 4)
    mixed = mix_styles(a, b, split_layer=4)
    assert mixed[:4].sum() == 0 and torch.equal(mixed[4:], b[4:])
    np.testing.assert_array_equal(mix_styles(a.numpy(), b.numpy(), 4), mixed.numpy())


def test_mix_styles_rejects_mismatched_latents():
    with pytest.raises(VJError, match="same shape"):
        mix_styles(torch.zeros(10, 4), torch.zeros(8, 4), 4)
    with pytest.raises(VJError, match="outside 0..10"):
        mix_styles(torch.zeros(10, 4), torch.zeros(10, 4), 11)


def test_load_target_crops_the_centre_square_and_resizes(tmp_path):
    image = np.zeros((60, 100, 3), np.uint8)
    image[:, :20] = (0, 0, 255)  # red (BGR) outside the centre square
    image[:, 20:80] = (255, 0, 0)  # blue inside it
    path = tmp_path / "wide.png"
    cv2.imwrite(str(path), image)
    target = load_target(path, 32)
    assert target.shape == (32, 32, 3)
    assert (target[..., 2] > 250).all() and (target[..., 0] < 5).all()  # all blue, now RGB


@pytest.mark.parametrize(("make", "message"), [(None, "does not exist"), (b"not an image", "cannot read")])
def test_project_command_rejects_bad_images_in_one_line(tmp_path, make, message):
    path = tmp_path / "photo.png"
    if make is not None:
        path.write_bytes(make)
    with pytest.raises(VJError, match=message) as error:
        project_command(path, str(FIXTURES / "sg2_64.pkl"), steps=1, device="cpu")
    assert "\n" not in str(error.value)


def test_project_command_writes_results_and_stores_a_preset(G, target, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), cv2.cvtColor(target, cv2.COLOR_RGB2BGR))
    bank, out = tmp_path / "bank", tmp_path / "looks"
    status = project_command(
        photo, str(FIXTURES / "sg2_64.pkl"), steps=2, out=out, device="cpu", bank=bank, slot=5, progress=False
    )
    assert status == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "pixel MSE" in line and f"wrote photo.npy, photo-loss.png, photo-compare.png in {out}" in line
    assert line.endswith(f"; stored as preset 5 (photo) in {bank}")
    assert np.load(out / "photo.npy").shape == (G.num_ws, G.w_dim)
    assert (out / "photo-loss.png").exists() and (out / "photo-compare.png").exists()
    index = json.loads((bank / "presets.json").read_text())
    assert [(p["slot"], p["name"]) for p in index["presets"]] == [(5, "photo")]


def test_project_writes_to_the_current_folder_not_beside_a_read_only_photo(target, tmp_path, monkeypatch, capsys):
    """A sample folder may be read-only or shared: the results go where the user runs the command."""
    samples, work = tmp_path / "samples", tmp_path / "work"
    samples.mkdir()
    work.mkdir()
    cv2.imwrite(str(samples / "face.png"), cv2.cvtColor(target, cv2.COLOR_RGB2BGR))
    samples.chmod(0o555)
    monkeypatch.chdir(work)
    try:
        assert project_command(samples / "face.png", "random:sg2-32", steps=1, device="cpu", progress=False) == 0
    finally:
        samples.chmod(0o755)
    assert sorted(p.name for p in work.iterdir()) == ["face-compare.png", "face-loss.png", "face.npy"]
    assert sorted(p.name for p in samples.iterdir()) == ["face.png"]
    assert capsys.readouterr().out.strip().endswith(f"in {work.resolve()}")
