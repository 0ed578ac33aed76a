"""Config files and --set: every kind of mistake gets its own one-line error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vjengine.params import ParamError, default_store
from vjengine.params.modulation import DEFAULT_BINDINGS
from vjengine.settings import SETTINGS, SETTINGS_BY_NAME, Setting, port
from vjengine.settings.config import Config, ConfigError, config_from_dict, load_config, parse_set
from vjengine.settings.docs import config_toml, settings_markdown

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


def test_the_shipped_config_toml_is_written_from_the_declarations():
    assert (ROOT / "config.toml").read_text() == config_toml(), "run: vjengine settings --toml > config.toml"


def test_the_documented_config_sets_every_key_to_its_default(tmp_path, store):
    """config.toml documents every key (a commented-out example for those unset by default); loading it
    changes nothing, and uncommenting the examples is accepted."""
    documented = (ROOT / "config.toml").read_text()
    config = load_config(ROOT / "config.toml", store)
    for setting in SETTINGS:
        if setting.section is None:
            continue
        assert f"\n{setting.key} = " in documented or f"\n# {setting.key} = " in documented, setting.name
        assert getattr(config, setting.field) == setting.default, setting.name
    examples = re.sub(r"^# (\w+ = )", r"\1", documented, flags=re.MULTILINE)
    assert load_config(write(tmp_path, examples), store).camera_exposure == -6.0


def test_the_settings_table_in_the_docs_is_written_from_the_declarations():
    assert settings_markdown() in (ROOT / "docs" / "settings.md").read_text(), "run: vjengine settings --markdown"


def test_a_new_config_holds_every_declared_default_in_a_list_of_its_own():
    first, second = Config(), Config()
    for setting in SETTINGS:
        assert getattr(first, setting.field) == setting.default, setting.name
    first.outputs.append("none")
    assert second.outputs == SETTINGS_BY_NAME["engine.outputs"].default == ["preview"]


def test_a_float_setting_takes_a_whole_number_as_a_float(store):
    config = config_from_dict({"osc": {"rate": 10}}, store)
    assert config.osc_rate == 10.0 and isinstance(config.osc_rate, float)


def test_a_value_outside_the_choices_is_refused(store):
    with pytest.raises(
        ConfigError, match=r"engine.dtype = 'fp8' is not allowed; expected one of auto, fp32, fp16, bf16"
    ):
        config_from_dict({"engine": {"dtype": "fp8"}}, store)


def test_a_list_of_something_else_than_text_is_refused(store):
    with pytest.raises(ConfigError, match=r"osc.targets = \[7000\] is not allowed; expected a list of text"):
        config_from_dict({"osc": {"targets": [7000]}}, store)


def test_a_listening_host_that_is_not_this_machines_is_refused(store):
    with pytest.raises(ConfigError, match=r"osc.host = '192.0.2.1' is not an address of this machine"):
        config_from_dict({"osc": {"host": "192.0.2.1"}}, store)


def test_a_setting_added_to_the_table_is_a_key_a_flag_and_a_documented_line(monkeypatch, store):
    """What another engineer adding e.g. `--model` repeatable / `[models] bank` relies on: one entry."""
    import vjengine.settings
    import vjengine.settings.config
    from vjengine import cli
    from vjengine.settings import docs as settings_docs

    bank = Setting("models", "bank", list, [], "models to switch between live", flag="--bank-model", metavar="SPEC")
    keep = Setting("models", "keep", int, 2, "models kept loaded", check=port)
    monkeypatch.setattr(vjengine.settings, "SETTINGS", (*SETTINGS, bank, keep))
    monkeypatch.setitem(vjengine.settings.SECTIONS, "models", "A bank of models.")
    for module in (vjengine.settings.config, settings_docs):
        monkeypatch.setattr(module, "SETTINGS", vjengine.settings.SETTINGS)
    monkeypatch.setattr(vjengine.settings.config, "_SECTIONS", vjengine.settings.by_section())
    args = cli.build_parser().parse_args(["run", "--bank-model", "a.pkl", "--bank-model", "b.pkl"])
    assert cli.config_from_args(args, store).models_bank == ["a.pkl", "b.pkl"]
    assert config_from_dict({"models": {"keep": 3}}, store).models_keep == 3
    assert Config().models_keep == 2
    assert "\n[models]\n" in config_toml() and "\nkeep = 2\n" in config_toml()
    assert "| `models.bank` | `--bank-model SPEC` | `[]` |" in settings_markdown()


def test_a_flag_is_checked_as_its_config_key_and_said_as_typed(store):
    from vjengine import cli

    args = cli.build_parser().parse_args(["run", "--osc-port", "70000"])
    with pytest.raises(ConfigError, match=r"^--osc-port 70000 is not allowed; expected a port from 0 to 65535"):
        cli.config_from_args(args, store)
    args = cli.build_parser().parse_args(["run", "--no-status", "--osc-out", "a:1", "--osc-out", "b:2"])
    config = cli.config_from_args(args, store)
    assert config.status is False and config.osc_targets == ["a:1", "b:2"]
