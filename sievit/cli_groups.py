"""Parts of the `sievit` parser added once every command exists: `sievit --version`,
`sievit predict`, the grouped commands `sievit hls export|csim|synth` and
`sievit rtl cosim|synth` (the flat names stay as aliases), and help for every option with
its default shown (ArgumentDefaultsHelpFormatter)."""
from __future__ import annotations

import argparse

from sievit import __version__

# grouped command -> {sub-command: the flat command it runs}
GROUPS = {"hls": {"export": "export-hls", "csim": "csim", "synth": "synth"},
          "rtl": {"cosim": "cosim", "synth": "rtl-synth", "ip": "ip-package", "regmap": "regmap"}}
GROUP_HELP = {"hls": "Vitis HLS project: export, C-simulate (g++), synthesize (vitis_hls)",
              "rtl": "SystemVerilog RTL: co-simulate (cocotb), synthesize (Yosys), package the "
                     "AXI IP for Vivado (ip), regenerate its register map (regmap)"}

# help for options the command definitions leave without one
DEFAULT_HELP = {
    "--json": "print one JSON object on stdout (logs go to stderr)",
    "--out": "output directory",
    "--config": "config file (configs/*.yaml)",
    "--ckpt": "checkpoint directory (config.yaml + model.pt)",
    "--bundle": "integer bundle directory (written by sievit export)",
    "--seed": "random seed",
    "--device": "torch device",
    "--images": "number of test images (or 'all')",
    "--modes": "token-pruning modes: none = dense, both = dense and the bundle's mode",
    "--random": "seeded random weights instead of a checkpoint (with --config)",
    "--part": "FPGA part number for the Vitis HLS project",
    "--clock-mhz": "target clock of the Vitis HLS project in MHz",
    "--sim": "HDL simulator",
    "--split": "data split",
    "project": "HLS project directory (written by sievit export-hls)",
    "what": "what to run",
}


def cmd_predict(args: argparse.Namespace) -> dict:
    from sievit.paths import output_dir
    from sievit.predict import predict
    out = args.out if args.out is not None else output_dir() / "predict"
    return predict(args.ckpt, args.images, mode=args.mode, on=args.on, out=out,
                   sim=args.sim, hw_name=args.hw)


def _add_predict(sub) -> None:
    pr = sub.add_parser("predict", help="classify image files (PNG/JPEG): class, logits, kept "
                                        "tokens per stage, overlay PNGs")
    pr.add_argument("--ckpt", required=True,
                    help="checkpoint directory (config.yaml + model.pt) or bundle directory")
    pr.add_argument("images", nargs="+", metavar="IMAGE",
                    help="image files, converted to the model's input like its training data")
    pr.add_argument("--mode", choices=("none", "threshold", "topk", "reduce"), default=None,
                    help="token pruning: none = dense; default: the model's deployment mode")
    pr.add_argument("--on", choices=("golden", "hls", "rtl"), default="golden",
                    help="golden model, HLS C-simulation (g++) or RTL co-simulation (cocotb)")
    pr.add_argument("--out", default=None,
                    help="output directory of the overlay PNGs (and the HLS project with "
                         "--on hls); default: predict/ under --out-dir")
    pr.add_argument("--sim", choices=("verilator", "icarus"), default="verilator",
                    help="--on rtl: HDL simulator")
    pr.add_argument("--hw", default="fmnist", help="--on rtl: RTL parameter preset")
    pr.add_argument("--json", action="store_true", help=DEFAULT_HELP["--json"])
    pr.set_defaults(func=cmd_predict)


def _add_groups(sub) -> None:
    flat = dict(sub.choices)
    for group, members in GROUPS.items():
        gp = sub.add_parser(group, help=GROUP_HELP[group], description=GROUP_HELP[group])
        gsub = gp.add_subparsers(dest=f"{group}_cmd", required=True, metavar="COMMAND")
        for name, target in members.items():
            src = flat[target]
            # parents=: the same arguments, defaults and func as the flat command (its alias)
            child = gsub.add_parser(name, add_help=False, parents=[src],
                                    help=f"same as `sievit {target}`", description=src.description)
            child.set_defaults(cmd=target)  # summaries and exit codes as the flat command


def _fill_help(parser: argparse.ArgumentParser, seen: set[int]) -> None:
    """Give every option help text and show its default, recursively."""
    if id(parser) in seen:
        return
    seen.add(id(parser))
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _fill_help(child, seen)
            continue
        if not action.help:
            key = action.option_strings[-1] if action.option_strings else action.dest
            action.help = DEFAULT_HELP.get(key)


class _OutDir(argparse.Action):
    """--out-dir DIR: the output directory of builds and runs (sievit.paths.output_dir)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        import os
        from sievit.paths import OUT_ENV
        os.environ[OUT_ENV] = str(values)
        setattr(namespace, self.dest, values)


def add_user_commands(parser: argparse.ArgumentParser, sub) -> None:
    """--version, --out-dir, predict, the hls / rtl groups, and help with defaults everywhere."""
    from sievit.paths import DEFAULT_OUT, OUT_ENV
    parser.add_argument("--version", action="version", version=f"sievit {__version__}")
    parser.add_argument("--out-dir", action=_OutDir, default=DEFAULT_OUT, metavar="DIR",
                        help=f"where builds and runs write (simulator builds, synthesis work, "
                             f"predict's default output); also the {OUT_ENV} environment variable")
    _add_predict(sub)
    _add_groups(sub)
    _fill_help(parser, set())
