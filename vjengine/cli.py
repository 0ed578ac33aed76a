"""The `vjengine` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from vjengine import __version__
from vjengine.device import DEVICE_CHOICES
from vjengine.errors import VJError

log = logging.getLogger("vjengine")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vjengine", description="Headless StyleGAN render engine for VJ rigs, controllable over OSC and MIDI."
    )
    parser.add_argument("--version", action="version", version=f"vjengine {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    convert = commands.add_parser("convert", help="write any supported model as a safe, fast-loading .safetensors file")
    convert.add_argument("input", help="NVIDIA .pkl, rosinality .pt, .safetensors, zoo name, URL or random[:ARCH-RES]")
    convert.add_argument("output", help="the .safetensors file to write")
    convert.set_defaults(func=_convert)

    bench = commands.add_parser("bench", help="measure rendering speed")
    targets = bench.add_subparsers(dest="target", required=True, metavar="TARGET")
    generator = targets.add_parser("generator", help="time G.synthesis alone: ms per frame, median of N")
    generator.add_argument("--model", default="random", help="model spec (default: random = random:sg2-256)")
    generator.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    generator.add_argument(
        "--dtype",
        default="auto",
        choices=("auto", "fp32", "fp16", "bf16"),
        help="auto: NVIDIA's mixed fp16 on CUDA, fp32 elsewhere",
    )
    generator.add_argument("--frames", type=int, default=20, help="frames to time (default 20)")
    generator.add_argument("--warmup", type=int, default=3, help="untimed frames first (default 3)")
    generator.add_argument("--batch", type=int, default=1, help="images per frame (default 1)")
    generator.add_argument("--json", action="store_true", help="print one JSON object")
    generator.set_defaults(func=_bench_generator)
    return parser


def _convert(args: argparse.Namespace) -> int:
    from vjengine.models import load_generator, save_generator

    generator = load_generator(args.input, "cpu")
    path = save_generator(generator, args.output)
    kwargs = generator.config["kwargs"]
    print(f"wrote {path} ({generator.config['arch']}, {kwargs.get('img_resolution')} px)")
    return 0


def _bench_generator(args: argparse.Namespace) -> int:
    from vjengine.bench import bench_generator

    result = bench_generator(args.model, args.device, args.dtype, args.frames, args.warmup, args.batch)
    print(json.dumps(result.as_dict()) if args.json else result.summary())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user mistakes print one line on stderr and exit with status 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args)
    except VJError as exc:
        print(f"vjengine: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
