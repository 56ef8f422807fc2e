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


def _images_or_zero(value: str) -> int | str:
    if value == "all":
        return "all"
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--images must be a non-negative integer or 'all', got {value!r}")
    if n < 0:
        raise argparse.ArgumentTypeError(f"--images must be non-negative, got {n}")
    return n


def cmd_train(args: argparse.Namespace) -> dict:
    from sievit.config import load_config
    from sievit.model.train import train
    cfg = load_config(args.config)
    if args.batch_size is not None and "train" in cfg:
        cfg["train"]["batch_size"] = args.batch_size
    command = "sievit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if cfg["reduction"]["method"] != "heatvit":
        from sievit.model.method_train import prepare
        if not args.init:
            raise SievitError(f"{cfg['reduction']['method']} builds on a trained dense backbone: "
                              "pass --init CHECKPOINT (e.g. checkpoints/fmnist_heatvit)")
        return prepare(cfg, Path(args.init), Path(args.out), args.device, args.epochs,
                       args.max_steps, command)
    return train(cfg, Path(args.out), args.epochs, args.seed, args.device,
                 max_steps=args.max_steps, command=command,
                 init_float=Path(args.init_float) if args.init_float else None,
                 resume=Path(args.resume) if args.resume else None,
                 train_backbone=args.train_backbone)


def _golden_and_model(args: argparse.Namespace):
    from sievit.quant.export import export_checkpoint, load_checkpoint
    from sievit.quant.golden import Golden
    model = load_checkpoint(args.ckpt)
    return Golden(export_checkpoint(args.ckpt, model)), model


def cmd_export(args: argparse.Namespace) -> dict:
    from sievit.config import load_config
    from sievit.quant.bundle import save_bundle
    from sievit.quant.export import export_checkpoint, export_random
    if bool(args.ckpt) == bool(args.config):
        raise SievitError("export needs exactly one of --ckpt PATH or --config FILE --random")
    if args.config and not args.random:
        raise SievitError("--config exports only with --random (seeded random weights)")
    if Path(args.out).exists():
        raise SievitError(f"output directory {args.out} exists (use a new path)")
    bundle = export_checkpoint(args.ckpt) if args.ckpt else export_random(load_config(args.config), args.seed)
    save_bundle(bundle, Path(args.out))
    print(f"[export] wrote {args.out}", file=sys.stderr)
    return {"out": args.out, "arrays": len(bundle.arrays), "fracs": len(bundle.fracs)}


def cmd_eval(args: argparse.Namespace) -> dict:
    from sievit.data import first_test_images
    from sievit.quant.evaluate import float_accuracy, golden_metrics
    from sievit.quant.export import export_checkpoint, load_checkpoint
    from sievit.quant.golden import Golden
    split = first_test_images(args.images)
    golden = Golden(export_checkpoint(args.ckpt))
    fmodel = load_checkpoint(args.ckpt, quant=False, which="float.pt")
    dense = golden_metrics(golden, split, "none")
    mode = golden.b.config["reduction"]["mode"]
    pruned = golden_metrics(golden, split, mode)
    other_mode = "threshold" if mode == "topk" else "topk"
    other = golden_metrics(golden, split, other_mode)
    return {"images": len(split.labels), "float_acc": float_accuracy(fmodel, split),
            "int_dense_acc": dense["acc"], "int_pruned_acc": pruned["acc"],
            "macs_dense": dense["macs"], "macs_pruned": pruned["macs"],
            "mac_reduction": round(1 - pruned["macs"] / dense["macs"], 4),
            "prune_mode": mode, "tokens_per_stage": pruned["tokens_per_stage"],
            "other_mode": {"prune_mode": other_mode, "int_pruned_acc": other["acc"],
                           "macs_pruned": other["macs"],
                           "mac_reduction": round(1 - other["macs"] / dense["macs"], 4),
                           "tokens_per_stage": other["tokens_per_stage"]}}


def cmd_verify(args: argparse.Namespace) -> dict:
    from sievit.data import first_test_images
    from sievit.quant.evaluate import verify
    golden, model = _golden_and_model(args)
    modes = ["none", golden.b.config["reduction"]["mode"]] if args.modes == "both" else [args.modes]
    return verify(model, golden, first_test_images(args.images), modes)


def cmd_bench(args: argparse.Namespace) -> dict:
    import time
    if args.what == "pareto":
        from sievit.pareto import CHECKPOINTS, pareto, retrain
        methods = args.methods or list(CHECKPOINTS)
        if args.retrain:
            retrain(methods, args.device)
        return pareto(methods, args.images, args.jobs, Path(args.out))
    if not args.bundle:
        raise SievitError("bench golden needs --bundle DIR")
    from sievit.data import first_test_images
    from sievit.quant.bundle import load_bundle
    from sievit.quant.golden import Golden
    golden = Golden(load_bundle(args.bundle))
    split = first_test_images(args.images or 2000)
    out = {"images": len(split.labels), "batch": args.batch}
    for mode in ("none", golden.b.config["reduction"]["mode"]):
        start = time.perf_counter()
        for i in range(0, len(split.labels), args.batch):
            golden.run(split.images[i:i + args.batch], mode)
        dt = time.perf_counter() - start
        out[f"{mode}_images_per_s"] = round(len(split.labels) / dt, 1)
    return out


def cmd_plot(args: argparse.Namespace) -> dict:
    from sievit.data import first_test_images, load_split
    from sievit.quant.bundle import load_bundle
    from sievit.quant.golden import Golden
    from sievit.quant.plots import plot_kept_tokens, plot_tradeoff, tradeoff
    golden = Golden(load_bundle(args.bundle))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mode = golden.b.config["reduction"]["mode"]
    plot_kept_tokens(golden, first_test_images(16), mode, out / "kept_tokens.png")
    budgets = [[int(t) for t in b.split(",")] for b in args.budgets]
    split = load_split(args.split)
    rows = tradeoff(golden, split, budgets)
    plot_tradeoff(rows, out / "tradeoff.png",
                  f"golden int8 model, Fashion-MNIST {args.split} split ({len(split.labels)} images)")
    return {"split": args.split, "rows": rows, "pngs": [str(out / "kept_tokens.png"),
                                                        str(out / "tradeoff.png")]}


def cmd_export_hls(args: argparse.Namespace) -> dict:
    from sievit.hls.project import export_hls
    out = export_hls(Path(args.bundle), Path(args.out), lanes=args.lanes, part=args.part,
                     clock_mhz=args.clock_mhz, force=args.force, tb_images=args.tb_images)
    print(f"[export-hls] wrote {args.out}", file=sys.stderr)
    return out


def cmd_csim(args: argparse.Namespace) -> dict:
    from sievit.hls.csim import csim
    from sievit.quant.bundle import load_bundle
    prj = Path(args.project)
    if args.modes == "both":
        from sievit.hls.csim import check_project
        check_project(prj)
        modes = ["none", load_bundle(prj / "bundle").config["reduction"]["mode"]]
    else:
        modes = [args.modes]
    images = None if args.images == "all" else args.images
    out = csim(prj, images, args.engines, modes, cases_per_engine=args.cases)
    if args.hls4ml:
        from sievit.hls.crosscheck import crosscheck_head
        out["hls4ml_head"] = crosscheck_head(Path(args.hls4ml), prj, args.cases)
        out["mismatches"] += out["hls4ml_head"]["mismatches"]
    return out


def cmd_synth(args: argparse.Namespace) -> dict:
    from sievit.hls.synth import synth
    return synth(Path(args.project), args.engine)


def cmd_cosim(args: argparse.Namespace) -> dict:
    from sievit.cosim import cosim
    modes = None if args.modes == "both" else [args.modes]
    n = None if args.images == "all" else args.images
    out = cosim(Path(args.bundle), n, sim=args.sim, modes=modes, hw_name=args.hw,
                watchdog_cycles=args.watchdog_cycles, stall_pct=args.stall,
                latency=args.mem_latency, jobs=args.jobs)
    print(f"[cosim] {out['images']} images, {out['mismatches']} mismatches, "
          f"{out['cycles_per_image']:.0f} cycles/image, MAC utilization "
          f"{100 * out['mac_utilization']:.1f} %", file=sys.stderr)
    if out["mismatches"]:
        raise SievitError(f"RTL differs from the golden model on {out['mismatches']} image runs: "
                          + json.dumps({m: r["first_mismatching_images"]
                                        for m, r in out["modes"].items()}), code=1)
    return out


def cmd_rtl_synth(args: argparse.Namespace) -> dict:
    from sievit.yosys import cached_report, synth
    if args.cached:
        out = cached_report(Path(args.cached))
        where = f"report {args.cached}, sources unchanged since its {out['wall_s']} s run"
    else:
        out = synth(family=args.family, timeout_s=args.timeout, before_luts=args.before_luts)
        where = f"{out['wall_s']} s"
    logic = (f"before LUT mapping: {out['gates']} generic gates ({out['mux2']} 2-input muxes)"
             if args.before_luts and not args.cached else f"{out['lut']} LUT")
    print(f"[rtl-synth] sievit_top: {logic}, {out['ff']} FF, {out['dsp']} DSP, {out['bram']} BRAM, "
          f"{out['lutram']} LUTRAM ({where})", file=sys.stderr)
    return out


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
    t.add_argument("--init-float", help="float.pt of an earlier run: skip the float stage")
    t.add_argument("--batch-size", type=int, help="override train.batch_size")
    t.add_argument("--init", help="reduction methods: the checkpoint whose dense backbone they use")
    t.add_argument("--resume", help="a finished run: continue its selectors, backbone frozen")
    t.add_argument("--train-backbone", action="store_true",
                   help="with --resume: finetune the whole model with the selectors active")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("export", help="checkpoint (or random weights) -> integer bundle")
    e.add_argument("--ckpt")
    e.add_argument("--config")
    e.add_argument("--random", action="store_true")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", required=True)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_export)

    v = sub.add_parser("eval", help="float / int8 dense / int8 pruned accuracy and MACs")
    v.add_argument("--ckpt", required=True)
    v.add_argument("--images", type=_images_arg, default=None)
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_eval)

    g = sub.add_parser("verify", help="golden model == Brevitas integer eval path")
    g.add_argument("what", choices=("golden",))
    g.add_argument("--ckpt", required=True)
    g.add_argument("--images", type=_images_arg, default=None)
    g.add_argument("--modes", choices=("both", "none", "threshold", "topk", "reduce"), default="both")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=cmd_verify)

    b = sub.add_parser("bench", help="benchmarks")
    b.add_argument("what", choices=("golden", "pareto"))
    b.add_argument("--bundle", help="golden: the bundle to time")
    b.add_argument("--images", type=_images_arg, default=None,
                   help="golden: 2000 by default; pareto: the whole test set by default")
    b.add_argument("--methods", nargs="*", help="pareto: methods (default: all)")
    b.add_argument("--jobs", type=int, default=2, help="pareto: worker processes")
    b.add_argument("--out", default="docs", help="pareto: folder of pareto.md / pareto.png")
    b.add_argument("--retrain", action="store_true", help="pareto: rebuild the checkpoints first")
    b.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="pareto --retrain")
    b.add_argument("--batch", type=int, default=250)
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench)

    pl = sub.add_parser("plot", help="PNGs: kept tokens per stage, accuracy vs MACs")
    pl.add_argument("--bundle", required=True)
    pl.add_argument("--out", required=True)
    pl.add_argument("--split", choices=("val", "test"), default="val")
    pl.add_argument("--budgets", nargs="*", default=["27,18", "25,16", "25,13", "23,15"],
                    help="top-k token budgets per stage, e.g. 25,13")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=cmd_plot)

    xh = sub.add_parser("export-hls", help="write a Vitis HLS project from a bundle")
    xh.add_argument("--bundle", required=True)
    xh.add_argument("--out", required=True)
    xh.add_argument("--lanes", type=int, default=8, help="parallel MACs per linear engine")
    xh.add_argument("--part", default="xczu9eg-ffvb1156-2-e")
    xh.add_argument("--clock-mhz", type=float, default=300.0)
    xh.add_argument("--force", action="store_true", help="replace an existing project")
    xh.add_argument("--tb-images", type=int, default=10,
                    help="test images whose golden vectors go into tb_data/ for Vitis csim")
    xh.add_argument("--json", action="store_true")
    xh.set_defaults(func=cmd_export_hls)

    cs = sub.add_parser("csim", help="C-simulate an HLS project with g++, bit for bit vs golden")
    cs.add_argument("project")
    cs.add_argument("--images", type=_images_or_zero, default=100)
    cs.add_argument("--engines", action="store_true", help="also test every engine alone")
    cs.add_argument("--cases", type=int, default=1000, help="engine cases per engine")
    cs.add_argument("--modes", choices=("both", "none", "threshold", "topk"), default="both")
    cs.add_argument("--hls4ml", metavar="CKPT",
                    help="cross-check the linear engine against hls4ml's C-simulation of the "
                         "checkpoint's classifier head (Brevitas -> QONNX -> hls4ml)")
    cs.add_argument("--json", action="store_true")
    cs.set_defaults(func=cmd_csim)

    co = sub.add_parser("cosim", help="co-simulate the whole-model RTL (cocotb) bit for bit "
                                      "against the golden model")
    co.add_argument("--bundle", required=True)
    co.add_argument("--images", type=_images_arg, default=4)
    co.add_argument("--sim", choices=("verilator", "icarus"), default="verilator")
    co.add_argument("--modes", choices=("both", "none", "threshold", "topk"), default="both",
                    help="both = dense and the bundle's deployment mode")
    co.add_argument("--hw", default="fmnist", help="RTL parameter preset: fmnist | deit_tiny")
    co.add_argument("--jobs", type=int, default=1, help="simulator processes, images split")
    co.add_argument("--watchdog-cycles", type=int, default=50_000_000,
                    help="fail when no image finishes within this many cycles")
    co.add_argument("--stall", type=int, default=0,
                    help="percent of cycles each stream / memory handshake is stalled")
    co.add_argument("--mem-latency", type=int, default=0,
                    help="cycles from a memory request to its first word")
    co.add_argument("--json", action="store_true")
    co.set_defaults(func=cmd_cosim)

    ys = sub.add_parser("rtl-synth", help="Yosys synth_xilinx of the whole-model RTL top: "
                                          "LUT/FF/DSP/BRAM")
    ys.add_argument("--family", default="xcup", help="synth_xilinx -family (xcup, xc7, ...)")
    ys.add_argument("--timeout", type=int, default=3600, help="seconds before giving up")
    ys.add_argument("--cached", metavar="REPORT",
                    help="print a report of an earlier `rtl-synth --json` run; an error unless "
                         "it was made from the current RTL sources")
    ys.add_argument("--before-luts", action="store_true",
                    help="stop before LUT mapping (ABC9); count the generic gates left for it")
    ys.add_argument("--json", action="store_true")
    ys.set_defaults(func=cmd_rtl_synth)

    sy = sub.add_parser("synth", help="run Vitis HLS on a project and report latency/resources")
    sy.add_argument("project")
    sy.add_argument("--engine", help="synthesize one engine's stand-alone top")
    sy.add_argument("--json", action="store_true")
    sy.set_defaults(func=cmd_synth)
    return p


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except SievitError as exc:
        print(f"sievit: error: {exc}", file=sys.stderr)
        return exc.code
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
