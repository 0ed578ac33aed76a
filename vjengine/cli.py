"""The `vjengine` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vjengine import __version__
from vjengine.device import DEVICE_CHOICES, DTYPES
from vjengine.errors import VJError

if TYPE_CHECKING:  # the run's modules load only when it runs: `vjengine --help` stays quick
    from vjengine.params import ParamStore
    from vjengine.settings.config import Config

log = logging.getLogger("vjengine")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vjengine", description="Headless StyleGAN render engine for VJ rigs, controllable over OSC and MIDI."
    )
    parser.add_argument("--version", action="version", version=f"vjengine {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(commands)
    _add_params(commands)
    _add_settings(commands)
    render = commands.add_parser("render", help="render a recording (run --record) again, offline")
    render.add_argument("recording", help="the .npz written by 'vjengine run --record'")
    render.add_argument("--output", action="append", required=True, metavar="SPEC", help="file:PATH; repeatable")
    render.add_argument("--model", help="model spec (default: the one recorded)")
    render.add_argument("--fps", type=float, help="frame rate: resample the recorded latents (default: as recorded)")
    render.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    render.add_argument("--dtype", default="fp32", choices=DTYPES, help="default fp32: full quality")
    render.set_defaults(func=_render)
    _add_directions(commands)
    _add_project(commands)
    devices = commands.add_parser("devices", help="list cameras, compute devices, MIDI ports and output backends")
    devices.set_defaults(func=_devices)
    models = commands.add_parser("models", help="list the model zoo (NVIDIA's pretrained models), cached or not")
    models.set_defaults(func=_models)

    convert = commands.add_parser("convert", help="write any supported model as a safe, fast-loading .safetensors file")
    convert.add_argument("input", help="NVIDIA .pkl, rosinality .pt, .safetensors, zoo name, URL or random[:ARCH-RES]")
    convert.add_argument("output", help="the .safetensors file to write (never the input)")
    convert.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    convert.set_defaults(func=_convert)

    bench = commands.add_parser("bench", help="measure speed: the whole loop headless (default) or the generator alone")
    _add_bench_options(bench)
    bench.add_argument("--source", default="pattern", help="frame source for the loop (default pattern)")
    bench.add_argument("--hands", metavar="BUNDLE", help="also run MediaPipe's hand tracker (a hand_landmarker.task)")
    bench.add_argument("--audio", metavar="SPEC", help="also analyse this audio input (as run --audio), e.g. file:PATH")
    bench.set_defaults(func=_bench_loop)
    targets = bench.add_subparsers(dest="target", metavar="TARGET")
    generator = targets.add_parser("generator", help="time G.synthesis alone: ms per frame, median of N")
    _add_bench_options(generator)
    generator.add_argument("--batch", type=int, default=1, help="images per frame (default 1)")
    generator.add_argument(
        "--compile", action="store_true", help="also time the compiled synthesis (compile time reported apart)"
    )
    generator.add_argument(
        "--direct", action="store_true", help="also time eager frames with direct convolutions (no Winograd on a CPU)"
    )
    generator.set_defaults(func=_bench_generator)
    encoder = targets.add_parser("encoder", help="time the camera's VGG16 analysis per frame")
    encoder.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    encoder.add_argument("--size", type=int, action="append", help="analysis size(s) in px (default 224 and 360)")
    encoder.add_argument("--layer", default="conv4_1", help="VGG16 layer (default conv4_1)")
    encoder.add_argument(
        "--vgg-weights", default="none", help="none (default: speed does not depend on them) or a path"
    )
    encoder.add_argument("--frames", type=int, default=10, help="analyses to time (default 10)")
    encoder.add_argument("--json", action="store_true", help="print one JSON object")
    encoder.set_defaults(func=_bench_encoder)
    audio = targets.add_parser("audio", help="time the music's analysis: share of a core, onset latency")
    audio.add_argument("--file", metavar="PATH", help="a sound file (default: a generated 120 bpm click track)")
    audio.add_argument("--seconds", type=float, default=60.0, help="seconds of audio to analyse (default 60)")
    audio.add_argument("--json", action="store_true", help="print one JSON object")
    audio.set_defaults(func=_bench_audio)
    _add_soak(targets)
    return parser


def _add_soak(targets: argparse._SubParsersAction) -> None:
    soak = targets.add_parser(
        "soak", help="run the engine for minutes under OSC load, preview viewers and a recording; memory flat?"
    )
    soak.add_argument("--minutes", type=float, default=5.0, help="minutes of rendering under load (default 5)")
    soak.add_argument("--model", default="random:sg2-64", help="model spec (default random:sg2-64)")
    soak.add_argument("--rate", type=float, default=200.0, help="OSC messages a second, 1 in 10 bad (default 200)")
    soak.add_argument("--clients", type=int, default=3, help="preview viewers coming and going (default 3)")
    soak.add_argument("--config", metavar="FILE", help="the engine's config (default: nothing downloaded)")
    soak.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    soak.add_argument("--log", metavar="FILE", help="keep the engine's log here")
    soak.add_argument("--json", action="store_true", help="print one JSON object")
    soak.set_defaults(func=_bench_soak)


def _bench_soak(args: argparse.Namespace) -> int:
    from vjengine.commands.soak import soak

    report = soak(args.minutes, args.model, args.rate, args.clients, args.config, args.device, args.log)
    print(json.dumps(report.as_dict()) if args.json else report.summary())
    return 0 if report.verdict == "pass" else 1


def _add_bench_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="random", help="model spec (default: random = random:sg2-256)")
    parser.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    parser.add_argument("--dtype", default="auto", choices=DTYPES, help="auto: NVIDIA's mixed fp16 on CUDA, else fp32")
    parser.add_argument("--frames", type=int, default=20, help="frames to time (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed frames first (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _add_run(commands: argparse._SubParsersAction) -> None:
    from vjengine.settings import SETTINGS, SETTINGS_BY_NAME
    from vjengine.settings.docs import cli_help

    run = commands.add_parser("run", help="render: source -> generator -> outputs, controllable live")
    run.add_argument("--config", metavar="FILE", help="a TOML config file (see config.toml; vjengine settings --toml)")
    run.add_argument("--frames", type=int, metavar="N", help="render N frames, then exit 0")
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="set a parameter; repeatable")
    run.add_argument("--fps", type=float, help="target frame rate (the render.fps parameter)")
    size = f"{SETTINGS_BY_NAME['source.width'].default}x{SETTINGS_BY_NAME['source.height'].default}"
    run.add_argument(
        "--size",
        metavar="WxH",
        help=f"camera capture size, e.g. 1280x720; default {size} [config source.width, source.height]",
    )
    for setting in SETTINGS:  # each setting's flag, from its one declaration
        if setting.flag is None:
            continue
        options: dict = {"help": cli_help(setting), "dest": setting.field, "default": None}
        if setting.kind is bool:
            options.update(action="store_const", const=not setting.default)
        else:
            options.update(metavar=setting.metavar, type=setting.kind if setting.kind is not list else str)
            if setting.kind is list:
                options["action"] = "append"
        run.add_argument(setting.flag, **options)
    run.set_defaults(func=_run)


def _add_directions(commands: argparse._SubParsersAction) -> None:
    directions = commands.add_parser(
        "directions", help="list a model's latent directions (SeFa, GANSpace) with previews"
    )
    directions.add_argument("model", help="model spec: a .pkl/.pt/.safetensors, a zoo name, a URL or random[:ARCH-RES]")
    directions.add_argument("--method", default="sefa", choices=("sefa", "ganspace"), help="default sefa (closed form)")
    directions.add_argument("-k", type=int, default=8, help="directions to list and preview (default 8)")
    directions.add_argument("--layers", default="all", help="w rows: coarse, middle, fine, all (default) or a-b")
    directions.add_argument("--out", default="directions", metavar="DIR", help="folder for preview PNGs")
    directions.add_argument("--steps", type=int, default=7, help="images per preview strip (default 7)")
    directions.add_argument("--strength", type=float, default=3.0, help="previews go from -S to +S (default 3)")
    directions.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    directions.set_defaults(func=_directions)


def _add_project(commands: argparse._SubParsersAction) -> None:
    project = commands.add_parser("project", help="embed a photo into a model's W+, for presets and latent.anchor")
    project.add_argument("image", help="the photo (.jpg, .png, ...); its centre square is resized to the model")
    project.add_argument("--model", default="random", help="model spec (default: random = random:sg2-256)")
    project.add_argument("--steps", type=int, default=500, help="optimisation steps (default 500)")
    project.add_argument("--lr", type=float, default=0.1, help="Adam learning rate (default 0.1)")
    project.add_argument(
        "--noise-reg", type=float, default=0.0, help="also fit StyleGAN2's noise maps, regularised (e.g. 1e5)"
    )
    project.add_argument(
        "--out",
        metavar="DIR",
        help="the folder for PHOTO.npy, PHOTO-loss.png and PHOTO-compare.png (default: the current folder)",
    )
    project.add_argument("--vgg-weights", default="auto", help="auto (default), download, none, or a vgg16 .pth")
    project.add_argument("--preset", type=int, metavar="SLOT", help="also store the result in this preset slot")
    project.add_argument("--bank", default="presets", metavar="DIR", help="preset bank folder (default ./presets)")
    project.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    project.set_defaults(func=_project)


def _directions(args: argparse.Namespace) -> int:
    from vjengine.commands.directions import directions_command

    return directions_command(
        args.model, args.method, args.k, args.out, args.layers, args.device, args.steps, args.strength
    )


def _project(args: argparse.Namespace) -> int:
    from vjengine.commands.project import project_command

    return project_command(
        args.image,
        args.model,
        args.steps,
        args.out,
        args.device,
        args.lr,
        args.noise_reg,
        args.vgg_weights,
        args.bank,
        args.preset,
    )


def _add_params(commands: argparse._SubParsersAction) -> None:
    params = commands.add_parser("params", help="list every parameter with its OSC address, range and default")
    form = params.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="machine-readable")
    form.add_argument(
        "--markdown", action="store_true", help="the table in docs/parameters.md (with --actions: docs/osc.md's)"
    )
    params.add_argument("--actions", action="store_true", help="the actions (OSC addresses that act once) instead")
    params.set_defaults(func=_params)


def _add_settings(commands: argparse._SubParsersAction) -> None:
    settings = commands.add_parser("settings", help="list every setting of run with its config key, flag and default")
    form = settings.add_mutually_exclusive_group()
    form.add_argument("--markdown", action="store_true", help="the table in docs/settings.md")
    form.add_argument("--toml", action="store_true", help="a config file documenting every key (config.toml)")
    settings.set_defaults(func=_settings)


def _settings(args: argparse.Namespace) -> int:
    from vjengine.settings.docs import config_toml, settings_markdown, settings_text

    print(settings_markdown() if args.markdown else config_toml().rstrip("\n") if args.toml else settings_text())
    return 0


def _convert(args: argparse.Namespace) -> int:
    from vjengine.files import atomic_save
    from vjengine.models import load_generator, save_generator

    out = _convert_output(args.input, args.output, args.force)  # before loading: that can take a minute
    generator = load_generator(args.input, "cpu")
    atomic_save(out, lambda temporary: save_generator(generator, temporary))
    kwargs = generator.config["kwargs"]
    print(f"wrote {out} ({generator.config['arch']}, {kwargs.get('img_resolution')} px)")
    return 0


def _convert_output(source: str, output: str, force: bool) -> Path:
    """The file `convert` may write: a .safetensors that is not the input, replaced only with --force."""
    from vjengine.files import check_new_file

    out = Path(output).expanduser()
    if out.suffix.lower() != ".safetensors":
        raise VJError(
            f"convert: {output} is not a .safetensors file; convert writes only those, e.g. {out.stem}.safetensors"
        )
    model = Path(source).expanduser()
    # The same file by any name (relative, through a link): refused even with --force, it would lose the input.
    if out.exists() and model.exists() and os.path.samefile(out, model):
        raise VJError(f"convert: {output} is the input {source}; write to another file, e.g. {out.stem}-2.safetensors")
    check_new_file(out, f"convert: {output}", force=force)
    return out


def _run(args: argparse.Namespace) -> int:
    from vjengine.params import default_store
    from vjengine.settings.config import parse_set
    from vjengine.show import run

    store = default_store()
    config = config_from_args(args, store)
    if config.learn:  # before the model loads, and even when MIDI cannot start
        from vjengine.control.midi import learnable

        try:
            learnable(store, config.learn)
        except VJError as exc:
            raise VJError(f"--learn {config.learn}: {exc}") from None
    if args.frames is not None and args.frames < 1:
        raise VJError(f"--frames {args.frames}: give a positive number of frames")
    values = dict(config.params)
    if args.fps is not None:
        values["render.fps"] = store.param("render.fps").check(args.fps)
    values.update(parse_set(args.set, store))
    store.set_many(values, source="config", immediate=True)
    return run(config, store, args.frames)


def config_from_args(args: argparse.Namespace, store: ParamStore) -> Config:
    """The config file's settings (if --config), each overridden by its flag when given."""
    from vjengine.settings import SETTINGS
    from vjengine.settings.config import Config, load_config

    config = load_config(args.config, store) if args.config else Config()
    for setting in SETTINGS:  # argparse leaves the flags not given None
        value = getattr(args, setting.field, None)
        if setting.flag is not None and value is not None:
            shown = " ".join(value) if isinstance(value, list) else value
            config.set(setting, value, f"{setting.flag} {shown}")
    if args.size:
        config.source_width, config.source_height = _parse_size(args.size)
    return config


def _render(args: argparse.Namespace) -> int:
    from vjengine.commands.render import render_recording

    frames = render_recording(args.recording, args.output, args.model, args.fps, args.device, args.dtype)
    print(f"rendered {frames} frames to {', '.join(args.output)}")
    return 0


def _parse_size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or not int(width) or not int(height):
        raise VJError(f"--size {text!r}: write WIDTHxHEIGHT, e.g. 1280x720")
    return int(width), int(height)


def _params(args: argparse.Namespace) -> int:
    from vjengine.control.actions import actions_json, actions_markdown, actions_table
    from vjengine.params import REGISTRY
    from vjengine.params.docs import params_json, params_markdown, params_table

    if args.actions and args.json:
        print(json.dumps(actions_json(), indent=2))
    elif args.actions:
        print(actions_markdown() if args.markdown else actions_table())
    elif args.json:
        print(params_json(REGISTRY))
    elif args.markdown:
        print(params_markdown(REGISTRY))
    else:
        print(params_table(REGISTRY))
        print("\n[actions: OSC addresses that act once]")
        print(actions_table())
    return 0


def _devices(args: argparse.Namespace) -> int:
    from vjengine.commands.devices import describe_devices

    print(describe_devices())
    return 0


def _models(args: argparse.Namespace) -> int:
    from vjengine.downloads import cached_path
    from vjengine.models.zoo import ZOO

    width = max(map(len, ZOO))
    for name, entry in ZOO.items():
        cached = "cached    " if cached_path(entry.url).exists() else "download  "
        print(f"{name:<{width}}  {cached}{entry.description}")
    print("use one with --model NAME; it is downloaded once into the cache (random: the built-in untrained one)")
    return 0


def _about_model(args: argparse.Namespace, message: str) -> str:
    """A model error as the user reads it: naming the model they gave (a reader's error may not) and, for a
    misspelt zoo name, the names it may mean."""
    spec = _model_spec(args)
    if spec and spec not in message and Path(spec).name not in message:
        message = f"model {spec}: {message}"
    return message + _zoo_hint(args)


def _model_spec(args: argparse.Namespace) -> str | None:
    spec = getattr(args, "model", None) or getattr(args, "input", None)
    if isinstance(spec, str):
        return spec
    bank = getattr(args, "models_bank", None)  # run's --model, repeatable: the one model, when one is given
    if isinstance(bank, list) and len(bank) == 1:
        from vjengine.engine.bank import parse_entry

        return parse_entry(bank[0]).spec
    return None


def _zoo_hint(args: argparse.Namespace) -> str:
    """For a model spec that is neither a file nor a zoo name but close to one: the zoo names it may mean."""
    import difflib

    from vjengine.models.zoo import ZOO

    spec = _model_spec(args)
    if spec is None or spec in ZOO or Path(spec).expanduser().exists():
        return ""
    close = difflib.get_close_matches(spec, ZOO, n=2, cutoff=0.75)
    return f"; did you mean {' or '.join(close)}? (vjengine models lists them)" if close else ""


def _bench_loop(args: argparse.Namespace) -> int:
    from vjengine.commands.bench import bench_loop

    result = bench_loop(
        args.model, args.source, args.device, args.dtype, args.frames, args.warmup, args.hands, args.audio
    )
    print(json.dumps(result.as_dict()) if args.json else result.summary())
    return 0


def _bench_encoder(args: argparse.Namespace) -> int:
    from vjengine.commands.bench import bench_encoder

    rows = [
        bench_encoder(size, args.layer, args.device, args.vgg_weights, args.frames) for size in args.size or (224, 360)
    ]
    if args.json:
        print(json.dumps(rows))
    for row in [] if args.json else rows:
        print(
            f"VGG16 to {row['layer']} at {row['size']} px on {row['device']}: median {row['median_ms']:.1f} ms/analysis"
        )
    return 0


def _bench_audio(args: argparse.Namespace) -> int:
    from vjengine.audio.bench import bench_audio, summary

    result = bench_audio(args.file, args.seconds)
    print(json.dumps(result) if args.json else summary(result))
    return 0


def _bench_generator(args: argparse.Namespace) -> int:
    from vjengine.commands.bench import bench_generator

    result = bench_generator(
        args.model,
        args.device,
        args.dtype,
        args.frames,
        args.warmup,
        args.batch,
        compile=args.compile,
        direct=args.direct,
    )
    print(json.dumps(result.as_dict()) if args.json else result.summary())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user mistakes print one line on stderr and exit with status 2."""
    args = build_parser().parse_args(argv)
    if not args.verbose:  # before logging binds sys.stderr: our lines then bypass the filter
        from vjengine.nativelog import quiet_native_logs

        quiet_native_logs()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args)
    except VJError as exc:
        from vjengine.errors import ModelError

        message = _about_model(args, str(exc)) if isinstance(exc, ModelError) else str(exc)
        print(f"vjengine: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
