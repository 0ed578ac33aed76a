"""Config files and --set: every kind of mistake gets its own one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from vjengine.config import ConfigError, config_from_dict, config_keys, load_config, parse_set
from vjengine.params import ParamError, default_store
from vjengine.params.modulation import DEFAULT_BINDINGS

ROOT = Path(__file__).parent.parent


@pytest.fixture
def store():
    return default_store()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_the_documented_config_file_loads(store):
    config = load_config(ROOT / "config.toml", store)
    assert config.model == "random" and config.outputs == ["preview"] and config.source == "auto"
    assert config.params["truncation.psi"] == 0.7


def test_values_reach_the_config(tmp_path, store):
    path = write(tmp_path, '[engine]\nmodel = "m.pkl"\noutputs = ["none"]\n[source]\nspec = "pattern"\nfps = 25\n')
    config = load_config(path, store)
    assert (config.model, config.outputs, config.source, config.source_fps) == ("m.pkl", ["none"], "pattern", 25.0)


def test_params_as_nested_tables(tmp_path, store):
    config = load_config(write(tmp_path, "[params.truncation]\npsi = 0.4\n"), store)
    assert config.params == {"truncation.psi": 0.4}


def test_missing_file(tmp_path, store):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", store)


def test_invalid_toml_names_the_line(tmp_path, store):
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 2"):
        load_config(write(tmp_path, "[engine]\nmodel = \n"), store)


def test_unknown_section(store):
    with pytest.raises(ConfigError, match=r"unknown section \[engin\]; allowed sections: engine, source, visual"):
        config_from_dict({"engin": {}}, store)


def test_unknown_key_lists_the_allowed_ones(store):
    with pytest.raises(ConfigError, match=r"unknown key engine.modle; allowed in \[engine\]: model, device"):
        config_from_dict({"engine": {"modle": "x"}}, store)


def test_wrong_type_names_key_value_and_what_is_allowed(store):
    with pytest.raises(ConfigError, match=r"engine.outputs = 'preview' is not allowed; expected a list"):
        config_from_dict({"engine": {"outputs": "preview"}}, store)


def test_non_positive_size(store):
    with pytest.raises(ConfigError, match="source.width = 0 is not allowed"):
        config_from_dict({"source": {"width": 0}}, store)


def test_unknown_parameter_in_params(store):
    with pytest.raises(ConfigError, match=r"params: unknown parameter 'truncation.psy'"):
        config_from_dict({"params": {"truncation.psy": 1}}, store)


def test_bad_parameter_value_in_params(store):
    with pytest.raises(ConfigError, match=r"generator.noise: 'loud' is not allowed; expected one of const"):
        config_from_dict({"params": {"generator": {"noise": "loud"}}}, store)


def test_set_parses_values(store):
    assert parse_set(["truncation.psi=0.5", "latent.seed=3"], store) == {"truncation.psi": 0.5, "latent.seed": 3}


def test_set_without_equals(store):
    with pytest.raises(ConfigError, match="write NAME=VALUE"):
        parse_set(["truncation.psi"], store)


def test_set_with_unknown_name(store):
    with pytest.raises(ParamError, match="unknown parameter 'psi'"):
        parse_set(["psi=1"], store)


def test_set_with_bad_value(store):
    with pytest.raises(ParamError, match="render.paused: 'sometimes' is not allowed"):
        parse_set(["render.paused=sometimes"], store)


def test_set_out_of_range_is_refused_not_clamped(store):
    with pytest.raises(ParamError, match=r"truncation.psi: '5' is out of range; expected -1 .. 2"):
        parse_set(["truncation.psi=5"], store)


def test_out_of_range_in_params_is_refused(store):
    with pytest.raises(ConfigError, match=r"render.fps: -3 is out of range"):
        config_from_dict({"params": {"render": {"fps": -3}}}, store)


def test_control_sections_reach_the_config(tmp_path, store):
    text = (
        '[osc]\nport = 9100\ntargets = ["127.0.0.1:7000"]\nsignals = ["hand.*"]\n'
        '[oscquery]\nport = 0\n[midi]\nport = "nano"\n[presets]\nbank = "looks"\n'
    )
    config = load_config(write(tmp_path, text), store)
    assert (config.osc_port, config.osc_targets, config.osc_signals) == (9100, ["127.0.0.1:7000"], ["hand.*"])
    assert (config.oscquery_port, config.midi_port, config.presets) == (0, "nano", "looks")


def test_a_port_out_of_range_is_refused(tmp_path, store):
    with pytest.raises(ConfigError, match="osc.port = 70000"):
        load_config(write(tmp_path, "[osc]\nport = 70000\n"), store)


def test_the_documented_modulation_is_the_papers_default(store):
    assert load_config(ROOT / "config.toml", store).modulation == list(DEFAULT_BINDINGS)


def test_a_bad_binding_names_itself(tmp_path, store):
    with pytest.raises(ConfigError, match="modulation.*hand follows"):
        load_config(write(tmp_path, '[modulation]\nbindings = ["hand follows"]\n'), store)


def test_every_config_key_is_in_the_readme_and_the_documented_config():
    readme, documented = (ROOT / "README.md").read_text(), (ROOT / "config.toml").read_text()
    for key, _ in config_keys():
        name = key.rpartition(".")[2]
        assert name in readme and f"{name} =" in documented.replace("# ", ""), key
