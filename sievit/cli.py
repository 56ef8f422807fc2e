"""The `sievit` command line: one entry point for training, export, evaluation, verification
and benchmarks. Logs go to stderr; with --json one JSON object goes to stdout."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import warnings
from pathlib import Path

from sievit.errors import SievitError


def _images_arg(value: str) -> int | None:
    if value == "all":
        return None
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--images must be a positive integer or 'all', got {value!r}")
    if n <= 0:
        raise argparse.ArgumentTypeError(f"--images must be positive, got {n}")
    return n


def cmd_train(args: argparse.Namespace) -> dict:
    from sievit.config import load_config
    from sievit.model.train import train
    cfg = load_config(args.config)
    command = "sievit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return train(cfg, Path(args.out), args.epochs, args.seed, args.device,
                 max_steps=args.max_steps, command=command)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sievit", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train a checkpoint from a config")
    t.add_argument("--config", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--epochs", type=int, help="epochs for every stage (overrides the config)")
    t.add_argument("--seed", type=int)
    t.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    t.add_argument("--max-steps", type=int, help="cap the steps of every stage (smoke runs)")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_train)
    return p


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except SievitError as exc:
        print(f"sievit: error: {exc}", file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
