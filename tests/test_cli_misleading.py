"""Mistakes that used to pass silently, or be blamed on the wrong thing, met where the user meets them:
one line that names the mistake, status 2 before the show; refused and said once live."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, wait_for
from tests.test_cli_mistakes import one_line_error, vjengine
from vjengine.analysis.signals import check_signal
from vjengine.params import ParamError, default_store
from vjengine.params.modulation import Modulation

RUN = ["run", "--source", "pattern", "--frames", "2", "--osc-port", "0", "--oscquery-port", "0", "--no-status"]


def test_a_binding_to_a_misspelt_signal_in_the_config_stops_the_start(tmp_path):
    config = tmp_path / "show.toml"
    config.write_text('[modulation]\nbindings = ["corruption.gain += hand.distnce"]\n')
    error = one_line_error(vjengine(*RUN, "--config", str(config), "--model", "missing.pkl"))
    assert "unknown signal 'hand.distnce'; did you mean hand.distance" in error


def test_vj_bind_refuses_a_misspelt_signal_and_says_bound_on_success(caplog):
    from vjengine.control.actions import Actions, Targets

    store = default_store()
    modulation = Modulation(store, (), check_signal)
    actions = Actions(Targets(store, modulation=modulation))
    with caplog.at_level(logging.INFO, logger="vjengine"):
        assert not actions.invoke("/vj/bind", ["corruption.gain += hand.distnce"], source="osc")
        assert "unknown signal 'hand.distnce'" in caplog.text
        assert actions.invoke("/vj/bind", ["corruption.gain += hand.distance * 1.5"], source="osc")
    assert "bound corruption.gain += hand.distance * 1.5" in caplog.text
    assert [b.signal for b in modulation.bindings] == ["hand.distance"]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("latent.anchor=/nope.npy", "latent.anchor: /nope.npy does not exist"),
        ("direction.file=/nope.npy", "direction.file: direction file /nope.npy does not exist"),
        ("visual.layout=grid:0x0", "visual.layout: unknown layout 'grid:0x0'"),
        ("visual.layers=conv9_9", "visual.layers: unknown VGG16 layer 'conv9_9'"),
        ("direction.layers=3-99", "direction.layers: bad layer range '3-99'"),
        ("preset.style=huge", "preset.style: bad layer range 'huge'"),
        ("visual.assign=coarse,zzz", "visual.assign: bad layer range 'zzz'"),
    ],
    ids=lambda value: value.partition("=")[0] if "=" in value else "",
)
def test_a_bad_text_parameter_stops_the_start_before_any_output_opens(tmp_path, setting, message):
    out = tmp_path / "out.mp4"
    result = vjengine(*RUN, "--model", "random:sg2-32", "--output", f"file:{out}", "--set", setting)
    assert message in one_line_error(result)
    assert not out.exists()


def test_a_bad_text_value_live_is_refused_and_never_reported_as_current():
    from vjengine.analysis.visual import TEXT_CHECKS

    store = default_store()
    heard = []
    store.add_listener(lambda name, value, source: heard.append((name, value)))  # as OSCQuery and OSC out listen
    store.add_check("visual.layout", TEXT_CHECKS["visual.layout"])
    store.set("visual.layout", "thirds", source="osc")
    with pytest.raises(ParamError, match="visual.layout: unknown layout 'grid:0x0'"):
        store.set("visual.layout", "grid:0x0", source="osc")
    assert store.get("visual.layout") == "thirds"
    assert heard == [("visual.layout", "thirds")]


def test_a_preset_holding_a_bad_text_value_recalls_the_rest(tmp_path):
    from vjengine.analysis.visual import TEXT_CHECKS
    from vjengine.latent.presets import apply_params

    store = default_store()
    store.add_check("visual.layout", TEXT_CHECKS["visual.layout"])
    apply_params(store, {"visual.layout": "grid:0x0", "visual.mix": 0.25}, "preset 3")
    assert (store.get("visual.layout"), store.get("visual.mix")) == ("left/right", 0.25)


def test_learn_of_an_unknown_parameter_names_it_before_the_model_loads():
    error = one_line_error(vjengine(*RUN, "--model", "missing.pkl", "--midi", "nano", "--learn", "nosuch.param"))
    assert "--learn nosuch.param: unknown parameter 'nosuch.param'" in error


def test_vj_learn_without_midi_says_midi_is_off_not_no_such_parameter(caplog):
    from vjengine.control.actions import Actions, Targets

    actions = Actions(Targets(default_store()))
    with caplog.at_level(logging.WARNING, logger="vjengine"):
        actions.invoke("/vj/learn", ["visual.mix"], source="osc")
        actions.invoke("/vj/learn", ["visual.mixx"], source="osc")
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2, said
    assert "MIDI learn of visual.mix: MIDI is off; start with --midi NAME" in said[0]
    assert "unknown parameter 'visual.mixx'" in said[1]


@pytest.fixture
def recorded(tmp_path):
    """A set recorded in a folder of its own, with the model named by a relative path."""
    import shutil

    show = tmp_path / "show"
    show.mkdir()
    shutil.copy(FIXTURES / "sg2_64.pkl", show / "model.pkl")
    result = vjengine(*RUN, "--model", "model.pkl", "--output", "none", "--record", "set.npz", cwd=show)
    assert result.returncode == 0, result.stderr
    return show


def test_a_recording_renders_from_another_folder(recorded, tmp_path):
    result = vjengine("render", str(recorded / "set.npz"), "--output", "file:again.mp4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "again.mp4").stat().st_size > 0


def test_a_recorded_model_that_is_gone_is_named_as_the_recorded_one(recorded, tmp_path):
    (recorded / "model.pkl").unlink()
    error = one_line_error(vjengine("render", str(recorded / "set.npz"), "--output", "none", cwd=tmp_path))
    assert "the recorded model: model" in error and "--model SPEC renders with another" in error


def test_bench_hands_with_a_bundle_that_is_not_there_is_an_error_before_timing():
    error = one_line_error(vjengine("bench", "--hands", "/nope.task", "--model", "missing.pkl"))
    assert "bench --hands /nope.task: no such file" in error


def test_project_whose_preset_cannot_be_written_fails_and_says_where_the_latents_are(tmp_path):
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "face.png"), np.full((40, 40, 3), 128, np.uint8))
    (tmp_path / "bank" / "003-face.npy").mkdir(parents=True)  # passes the check before work, fails the write
    args = ["project", "face.png", "--model", "random:sg2-32", "--vgg-weights", "none", "--steps", "1"]
    error = one_line_error(vjengine(*args, "--preset", "3", "--bank", "bank", cwd=tmp_path))
    assert "project --bank bank: preset 3: writing bank failed" in error and "the latents are in face.npy" in error
    assert "kept for this session" not in error


def _project_once(tmp_path, *args: str):
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "face.png"), np.full((40, 40, 3), 128, np.uint8))
    result = vjengine("project", "face.png", "--model", "random:sg2-32", "--steps", "1", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return result


def test_vgg_weights_none_is_what_the_user_asked_for_and_not_warned_about(tmp_path):
    assert "VGG16" not in _project_once(tmp_path, "--vgg-weights", "none").stderr


def test_untrained_vgg_offline_is_said_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("VJENGINE_OFFLINE", "1")
    lines = [line for line in _project_once(tmp_path).stderr.splitlines() if "VGG16" in line]
    assert len(lines) == 1 and "VJENGINE_OFFLINE" in lines[0] and "projection" in lines[0]


def test_an_osc_host_that_is_not_this_machine_is_named_as_the_host(tmp_path):
    config = tmp_path / "show.toml"
    config.write_text('[osc]\nhost = "192.0.2.1"\n')  # TEST-NET-1: documentation only, never a local address
    error = one_line_error(vjengine(*RUN, "--config", str(config), "--model", "missing.pkl"))
    assert "osc.host = '192.0.2.1' is not an address of this machine" in error and "port" not in error


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--steps", "0"], "--steps 0: give at least 2 images"), (["--strength", "-3"], "--strength -3: give a positive")],
    ids=["steps", "strength"],
)
def test_directions_preview_options_out_of_range_are_refused_before_the_model_loads(tmp_path, args, message):
    assert message in one_line_error(vjengine("directions", "missing.pkl", *args, cwd=tmp_path))


@pytest.mark.slow  # SeFa and a preview strip on a model
def test_directions_beyond_the_parameters_are_not_labelled_as_parameters(tmp_path):
    result = vjengine("directions", "random:sg2-32", "-k", "10", "--steps", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table = [line.split() for line in result.stdout.splitlines() if line.startswith(("direction.", "(#"))]
    labels = [row[0] for row in table if len(row) == 3]  # label, eigenvalue, share
    assert labels == [f"direction.{k}" for k in range(8)] + ["(#8)", "(#9)"]
    assert "(#8 and later have no parameter: direction.0-7 play the first 8)" in result.stdout


def test_the_docs_name_preset_files_as_the_bank_writes_them(tmp_path):
    import numpy as np

    from vjengine.latent.presets import Preset, PresetBank

    PresetBank(tmp_path).store(Preset(3, np.zeros((8, 4), np.float32), {}, "sunset"))
    presets_page = (Path(__file__).parent.parent / "docs" / "presets.md").read_text()
    assert "003-sunset.npy" in {p.name for p in tmp_path.iterdir()}
    assert "`003-NAME.npy`" in presets_page


def test_datagrams_that_are_not_osc_are_dropped_without_a_line_as_the_docs_say(caplog):
    import socket

    from pythonosc.udp_client import SimpleUDPClient

    from vjengine.control.osc import OSCReceiver

    store = default_store()
    receiver = OSCReceiver(store, port=0)
    receiver.start()
    try:
        with caplog.at_level(logging.DEBUG, logger="vjengine"), socket.socket(type=socket.SOCK_DGRAM) as sock:
            sock.sendto(b"\x00not osc at all", ("127.0.0.1", receiver.port))
            SimpleUDPClient("127.0.0.1", receiver.port).send_message("/vj/latent/seed", 7)
            assert wait_for(lambda: store.get("latent.seed") == 7)
    finally:
        receiver.close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    osc_page = (Path(__file__).parent.parent / "docs" / "osc.md").read_text()
    assert "Datagrams that are not OSC at all are dropped without a\nline (`--verbose` logs them)" in osc_page


def test_offline_a_zoo_model_not_in_the_cache_is_an_error_without_a_download(tmp_path, monkeypatch):
    monkeypatch.setenv("VJENGINE_OFFLINE", "1")
    monkeypatch.setenv("VJENGINE_CACHE", str(tmp_path / "cache"))
    error = one_line_error(vjengine(*RUN, "--model", "stylegan3-t-ffhqu-256", "--output", "none"))
    assert "is not in the cache and VJENGINE_OFFLINE is set" in error
    assert not (tmp_path / "cache" / "models").exists()  # not even a .part was started


def test_models_lists_the_zoo_and_a_misspelt_name_gets_suggestions():
    listing = vjengine("models")
    assert listing.returncode == 0 and "stylegan2-ffhq-1024" in listing.stdout
    error = one_line_error(vjengine(*RUN, "--model", "stylegan2-ffhq-1024x1024", "--output", "none"))
    assert "did you mean stylegan2-ffhq-1024" in error and "vjengine models" in error


def test_outputs_are_named_by_the_preview_port_chosen_not_preview_0():
    result = vjengine(*RUN, "--model", "random:sg2-32", "--output", "preview:0")
    assert result.returncode == 0, result.stderr
    assert "preview:0" not in result.stderr and "outputs: preview:" in result.stderr


def test_the_output_and_the_overlay_on_one_preview_port_are_refused_at_start():
    error = one_line_error(
        vjengine(*RUN, "--model", "missing.pkl", "--output", "preview:8085", "--overlay", "preview:8085")
    )
    assert "two outputs use preview port 8085" in error


def test_a_preset_bank_that_is_a_file_is_refused_at_start(tmp_path):
    (tmp_path / "bank").write_text("")
    error = one_line_error(vjengine(*RUN, "--model", "missing.pkl", "--presets", str(tmp_path / "bank")))
    assert "is a file; give --presets (or [presets] bank) a folder" in error


def test_render_to_a_live_output_is_refused():
    error = one_line_error(vjengine("render", "set.npz", "--output", "preview"))
    assert "render --output preview: render writes files" in error


def test_a_video_source_that_is_a_folder_is_called_a_folder(tmp_path):
    error = one_line_error(
        vjengine(*RUN, "--model", "random:sg2-32", "--output", "none", "--source", f"video:{tmp_path}")
    )
    assert f"video:{tmp_path} is a folder; give a video file" in error


@pytest.mark.parametrize("where", ["--output=file:taken/out.mp4", "--record=taken/set.npz"], ids=["output", "record"])
def test_a_file_where_a_folder_should_be_is_called_a_file_not_file_exists(tmp_path, where):
    (tmp_path / "taken").write_text("")
    flag, _, value = where.partition("=")
    args = [*RUN, "--model", "random:sg2-32", flag, value] + (["--output", "none"] if flag == "--record" else [])
    error = one_line_error(vjengine(*args, cwd=tmp_path))
    assert "taken is a file, not a folder" in error and "File exists" not in error


def test_a_truncated_model_file_is_named_in_its_error(tmp_path):

    (tmp_path / "cut.pkl").write_bytes((FIXTURES / "sg2_64.pkl").read_bytes()[:5000])
    error = one_line_error(vjengine(*RUN, "--model", "cut.pkl", "--output", "none", cwd=tmp_path))
    assert "cut.pkl" in error and "truncated" in error


def test_a_folder_an_output_path_creates_is_said(tmp_path):
    result = vjengine(*RUN, "--model", "random:sg2-32", "--output", "file:typo/dir/out.mp4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "created the folder typo/dir for file:typo/dir/out.mp4" in result.stderr
