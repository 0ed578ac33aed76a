"""MIDI controller maps: loading, checking (one-line errors), value conversion, saving."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from vjengine.control.mapping import (
    Control,
    ControllerMap,
    MappingError,
    apply_curve,
    builtin_map_for_port,
    builtin_maps,
    combine,
    invert_curve,
    load_map,
    parse_map,
    resolve_map,
    save_map,
)
from vjengine.params import REGISTRY

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

PARAMS = {p.name: p for p in REGISTRY}


def write_map(tmp_path: Path, text: str, name: str = "map.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def one_binding(text: str):
    """The binding a [[binding]] table's TOML text describes."""
    return parse_map({"binding": [tomllib.loads(text)]}, PARAMS).bindings[0]


@pytest.mark.parametrize("name", ["generic", "nanokontrol2", "midimix", "launchcontrol_xl", "apc40_mk2"])
def test_builtin_maps_load_against_the_registry(name):
    controller_map = load_map(resolve_map(name), PARAMS)
    assert controller_map.bindings
    assert name in builtin_maps()


def test_factory_maps_name_their_port_except_the_generic_one():
    assert load_map(resolve_map("nanokontrol2"), PARAMS).port == "nanoKONTROL2"
    assert load_map(resolve_map("generic"), PARAMS).port is None


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ("nano", "nanokontrol2"),  # part of the factory port name
        ("nanoKONTROL2 SLIDER/KNOB", "nanokontrol2"),  # the port's full name holds the factory one
        ("midi mix", "midimix"),
        ("Launch Control XL:Launch Control XL MIDI 1", "launchcontrol_xl"),
        ("APC40", "apc40_mk2"),
        ("MPK mini", "generic"),
    ],
)
def test_a_port_name_alone_chooses_its_factory_map(port, expected):
    assert builtin_map_for_port(port) == expected


def test_unknown_map_name_lists_the_builtin_ones():
    with pytest.raises(MappingError, match="built in: .*nanokontrol2"):
        resolve_map("nanokontrol9")


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        (
            'param = "truncation.psy"\ntype = "cc"\nnumber = 1',
            "binding 1 (truncation.psy): unknown parameter; did you mean",
        ),
        ('param = "visual.mix"\ntype = "sysex"\nnumber = 1', "type is 'sysex'; expected one of cc, cc14"),
        ('param = "visual.mix"\ntype = "cc"\nnumber = 1\nchannel = 17', "channel = 17; MIDI channels are 1..16"),
        ('param = "visual.mix"\ntype = "cc"\nnumber = 1\nchanel = 2', "unknown key 'chanel'"),
        ('param = "visual.mix"\ntype = "cc"\nnumber = 128', "number = 128; expected a whole number 0..127"),
        ('param = "visual.mix"\ntype = "cc14"\nnumber = 40', "number = 40; expected a whole number 0..31"),
        ('param = "visual.mix"\ntype = "cc"', "needs number"),
        ('param = "visual.mix"\ntype = "note"\nnumber = 1\nmode = "relative"', "relative encoders send plain CCs"),
        ('param = "visual.mix"\ntype = "cc"\nnumber = 1\nmax = 3.0', "max = 3 is outside visual.mix's range 0 .. 1"),
        ('param = "visual.mix"\ntype = "cc"\nnumber = 1\nmin = 0.5\nmax = 0.5', "min and max are both 0.5"),
        ('param = "generator.noise"\ntype = "note"\nnumber = 1\nmode = "trigger"', "trigger needs value"),
        ('param = "generator.noise"\ntype = "note"\nnumber = 1\nmode = "trigger"\nvalue = "loud"', "value: generator"),
        ('param = "visual.layout"\ntype = "cc"\nnumber = 1', "a text parameter cannot follow a fader"),
        ('param = "visual.mix"\ntype = "pitchbend"\nnumber = 3', "pitchbend has no number"),
        ('param = "visual.mix"\ntype = "cc"\nnumber = 1\nencoding = "twos"', "encoding only applies"),
        ('param = "visual.mix"\ntype = "cc"\nnumber = 1\nfeedback = "yes"', "feedback = 'yes'; expected true or false"),
        ('param = "visual.mix"\ntype = "cc"\nnumber = 1\ncurve = "cubic"', "curve is 'cubic'; expected one of linear"),
        ('param = "visual.mix"\ntype = "pitchbend"\nmode = "toggle"', "mode toggle needs a button"),
        ('param = "visual.mix"\ntype = "cc"\nnumber = 1\nbits = 7', "bits only applies"),
    ],
)
def test_bad_binding_gives_one_line_naming_file_and_binding(tmp_path, binding, message):
    path = write_map(tmp_path, '[controller]\nname = "x"\n\n[[binding]]\n' + binding + "\n")
    with pytest.raises(MappingError) as error:
        load_map(path, PARAMS)
    text = str(error.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: binding 1") or text.startswith(f"{path}:")
    assert message in text


def test_invalid_toml_names_the_file_and_line(tmp_path):
    path = write_map(tmp_path, "[controller\nname = 1\n")
    with pytest.raises(MappingError, match=rf"{path.name}: not valid TOML .*line 1"):
        load_map(path, PARAMS)


def test_unknown_controller_key_is_named(tmp_path):
    path = write_map(tmp_path, '[controller]\nprot = "nano"\n')
    with pytest.raises(MappingError, match="unknown \\[controller\\] key 'prot'"):
        load_map(path, PARAMS)


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(MappingError, match="cannot read the MIDI map"):
        load_map(tmp_path / "nothing.toml", PARAMS)


def test_range_defaults_to_the_parameter_range():
    binding = one_binding('param = "transform.rotate"\ntype = "cc"\nnumber = 1')
    assert (binding.low, binding.high) == (-180.0, 180.0)
    assert binding.to_value(binding.position(127)) == 180.0
    assert binding.to_value(binding.position(0)) == -180.0


def test_range_and_inversion_per_binding():
    binding = one_binding('param = "truncation.psi"\ntype = "cc"\nnumber = 1\nmin = 1.5\nmax = 0.0')
    assert binding.to_value(0.0) == 1.5
    assert binding.to_value(1.0) == 0.0
    assert binding.to_position(0.75) == pytest.approx(0.5)


@pytest.mark.parametrize("curve", ["linear", "exp", "log"])
def test_curves_map_the_ends_to_the_ends_and_invert(curve):
    assert apply_curve(curve, 0.0) == pytest.approx(0.0)
    assert apply_curve(curve, 1.0) == pytest.approx(1.0)
    for x in (0.1, 0.37, 0.8):
        assert invert_curve(curve, apply_curve(curve, x)) == pytest.approx(x)


def test_exp_curve_gives_fine_control_at_the_low_end():
    binding = one_binding('param = "latent.drift"\ntype = "cc"\nnumber = 1\nmax = 30.0\ncurve = "exp"')
    assert binding.to_value(0.5) < 0.2 * 30.0
    assert binding.to_position(binding.to_value(0.3)) == pytest.approx(0.3)


def test_fourteen_bit_and_nrpn_resolution():
    cc14 = one_binding('param = "visual.mix"\ntype = "cc14"\nnumber = 1')
    nrpn7 = one_binding('param = "visual.mix"\ntype = "nrpn"\nnumber = 300\nbits = 7')
    assert cc14.resolution == 16383
    assert cc14.position(16383) == 1.0
    assert nrpn7.position(127 << 7) == 1.0


def test_enum_follows_a_knob_through_its_choices():
    binding = one_binding('param = "generator.noise"\ntype = "cc"\nnumber = 1')
    assert [binding.to_value(x) for x in (0.0, 0.5, 1.0)] == ["const", "random", "none"]


def test_note_on_enum_steps_and_wraps():
    binding = one_binding('param = "generator.noise"\ntype = "note"\nnumber = 1')
    assert binding.mode == "step"
    assert binding.on_press("random") == "none"
    assert binding.on_press("none") == "const"


def test_step_on_whole_numbers_wraps_inside_the_range():
    binding = one_binding('param = "latent.seed"\ntype = "note"\nnumber = 1\nmode = "step"\nstep = -1')
    assert binding.on_press(5) == 4
    assert binding.on_press(0) == 2**31 - 1


def test_toggle_flips_a_bool_and_swaps_a_number_between_its_ends():
    flag = one_binding('param = "visual.enabled"\ntype = "note"\nnumber = 1')
    mix = one_binding('param = "visual.mix"\ntype = "cc"\nnumber = 1\nmode = "toggle"')
    assert flag.on_press(True) is False
    assert mix.on_press(0.2) == 1.0
    assert mix.on_press(1.0) == 0.0


def test_relative_step_is_in_the_parameters_units_and_clamped():
    binding = one_binding('param = "transform.rotate"\ntype = "cc"\nnumber = 1\nmode = "relative"\nstep = 2.5')
    assert binding.nudge(0.0, 3) == 7.5
    assert binding.nudge(179.0, 1) == 180.0


def test_relative_moves_whole_numbers_at_least_one_unit():
    binding = one_binding('param = "truncation.cutoff"\ntype = "cc"\nnumber = 1\nmode = "relative"\nstep = 0.1')
    assert binding.nudge(4, 1) == 5
    assert binding.nudge(4, -1) == 3


def test_button_feedback_uses_on_and_off_values():
    binding = one_binding(
        'param = "generator.noise"\ntype = "note"\nnumber = 1\nmode = "trigger"\nvalue = "random"\non_value = 60\n'
        "off_value = 12"
    )
    assert binding.to_raw("random") == 60
    assert binding.to_raw("const") == 12


def test_later_maps_replace_earlier_bindings_of_the_same_control():
    factory = parse_map({"binding": [{"param": "visual.mix", "type": "cc", "number": 7}]}, PARAMS)
    user = parse_map({"binding": [{"param": "corruption.gain", "type": "cc", "number": 7}]}, PARAMS)
    bindings = combine([factory, user])
    assert [(b.control, b.param.name) for b in bindings] == [(Control("cc", 0, 7), "corruption.gain")]


def test_saved_map_loads_back_the_same(tmp_path):
    original = load_map(resolve_map("nanokontrol2"), PARAMS)
    path = tmp_path / "user" / "copy.toml"
    save_map(ControllerMap(name="copy", port="nano", bindings=original.bindings), path)
    again = load_map(path, PARAMS)
    assert again.bindings == original.bindings
    assert (again.name, again.port) == ("copy", "nano")
