"""The VGG16 encoder: layers, resizing, one-pass weighted sums, torchvision weights from a file or a download."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from vjengine.analysis.vgg import LAYERS, VGGEncoder
from vjengine.errors import VJError

SIZE = 64  # small analysis size: the whole file runs in seconds on a CPU


@pytest.fixture(scope="module")
def encoder() -> VGGEncoder:
    return VGGEncoder(None, analysis_size=SIZE)


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def save_torchvision_file(encoder: VGGEncoder, path: Path) -> Path:
    """`encoder`'s weights as torchvision writes them: `features.*` plus a classifier we must ignore."""
    state = {f"features.{key}": value for key, value in encoder.vgg.features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 3)
    torch.save(state, path)
    return path


@pytest.mark.parametrize("layer", ["conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3", "adavgpool"])
def test_512_channel_layers_give_a_z(encoder, image, layer):
    assert encoder.channel_means(image, layer).shape == (512,)


@pytest.mark.parametrize("layer", ["conv1_1", "conv3_1"])
def test_narrower_layers_are_projected_to_z_dim(encoder, image, layer):
    z = encoder.channel_means(image, layer)
    assert z.shape == (512,)
    assert torch.equal(z, encoder.channel_means(image, layer))  # the projection is fixed


def test_features_of_a_layer(encoder, image):
    # 48x64 -> short side 64 -> 64x85; conv3_1 sits after two 2x2 pools.
    assert encoder.features(image, "conv3_1").shape == (1, 256, 16, 21)


def test_unknown_layer_lists_the_names(encoder, image):
    with pytest.raises(VJError, match="conv4_1.*adavgpool"):
        encoder.features(image, "conv6_1")


def test_only_the_needed_modules_run(encoder, image):
    calls: list[int] = []
    hooks = [
        module.register_forward_hook(lambda *_, i=i: calls.append(i)) for i, module in enumerate(encoder.vgg.features)
    ]
    try:
        encoder.features(image, "conv2_2")
    finally:
        for hook in hooks:
            hook.remove()
    assert calls == list(range(LAYERS["conv2_2"])) == list(range(9))


def test_resize_keeps_the_aspect_ratio(encoder):
    frame = np.zeros((100, 200, 3), dtype=np.uint8)  # 200 wide, 100 high
    assert encoder.preprocess(frame).shape == (1, 3, SIZE, 2 * SIZE)


def test_weighted_layers_equal_the_weighted_sum_of_single_layers(encoder, image):
    weights = {"conv3_1": 0.25, "conv4_1": 1.0, "conv5_3": -0.5}
    combined = encoder.channel_means(image, weights)
    separate = sum(w * encoder.channel_means(image, layer) for layer, w in weights.items())
    torch.testing.assert_close(combined, separate)


def test_untrained_encoder_is_deterministic(image):
    first = VGGEncoder(None, analysis_size=SIZE)
    assert first.pretrained is False
    second = VGGEncoder(None, analysis_size=SIZE)
    assert torch.equal(first.channel_means(image, "conv4_1"), second.channel_means(image, "conv4_1"))


def test_random_weights_leave_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    VGGEncoder(None, analysis_size=SIZE)
    assert torch.equal(torch.rand(3), expected)


def test_loads_a_torchvision_state_dict(tmp_path, image):
    source = VGGEncoder(None, analysis_size=SIZE)
    with torch.no_grad():
        source.vgg.features[0].weight.mul_(2.0)  # differ from the default random weights
    path = save_torchvision_file(source, tmp_path / "vgg16.pth")
    loaded = VGGEncoder(path, analysis_size=SIZE)
    assert loaded.pretrained is True
    assert torch.equal(loaded.features(image, "conv5_3"), source.features(image, "conv5_3"))


@pytest.mark.parametrize("damage", ["missing", "misshaped"])
def test_a_bad_state_dict_is_one_line_naming_the_key(tmp_path, encoder, damage):
    path = save_torchvision_file(encoder, tmp_path / "vgg16.pth")
    state = torch.load(path, weights_only=True)
    if damage == "missing":
        del state["features.10.weight"]
    else:
        state["features.10.weight"] = torch.zeros(256, 128, 1, 1)
    torch.save(state, path)
    with pytest.raises(VJError, match="features.10.weight") as error:
        VGGEncoder(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


@pytest.fixture
def served(tmp_path, encoder):
    """A local HTTP server with one real state dict under its true-hash name and under a wrong-hash name."""
    root = tmp_path / "www"
    root.mkdir()
    data = save_torchvision_file(encoder, tmp_path / "vgg16.pth").read_bytes()
    good = f"vgg16-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    (root / good).write_bytes(data)
    (root / "vgg16-00000000.pth").write_bytes(data)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield f"{base}/{good}", f"{base}/vgg16-00000000.pth"
    server.shutdown()
    server.server_close()


def test_download_loads_torchvisions_file(served, monkeypatch, tmp_path, encoder, image):
    monkeypatch.setenv("VJENGINE_CACHE", str(tmp_path / "cache"))
    good_url, _ = served
    downloaded = VGGEncoder("download", analysis_size=SIZE, url=good_url)
    assert downloaded.pretrained is True
    assert torch.equal(downloaded.channel_means(image, "conv4_1"), encoder.channel_means(image, "conv4_1"))


def test_download_with_a_wrong_hash_prefix_is_refused_and_deleted(served, monkeypatch, tmp_path):
    monkeypatch.setenv("VJENGINE_CACHE", str(tmp_path / "cache"))
    _, bad_url = served
    with pytest.raises(VJError, match="sha256"):
        VGGEncoder("download", url=bad_url)
    assert list((tmp_path / "cache" / "models").iterdir()) == []
