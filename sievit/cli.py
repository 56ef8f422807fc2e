"""The `sievit` command line: one entry point for training, export, evaluation, verification
and benchmarks. Logs go to stderr; with --json one JSON object goes to stdout."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import warnings
from pathlib import Path

from sievit import cli_args as A
from sievit.errors import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK, SievitError
from sievit.summary import failed_checks, summary

_images_arg = A.images()                      # N >= 1 or 'all' (None)
_images_or_zero = A.images(allow_zero=True)   # N >= 0 or 'all'


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
    from sievit.data import config_test_images
    from sievit.fanout import open_pool, where_from
    from sievit.quant.evaluate import evaluate, load_golden_and_model
    with open_pool(where_from(args)) as pool:  # an unreachable --scheduler fails first
        golden, _ = load_golden_and_model(args.ckpt)
        split = config_test_images(golden.b.config, args.images)  # the model's data set and shape
        mode = golden.b.config["reduction"]["mode"]
        modes = [mode, "threshold" if mode == "topk" else "topk"]
        res = evaluate(args.ckpt, split, ["none", *modes], pool)
    dense, pruned, other_mode = res["modes"]["none"], res["modes"][mode], modes[1]
    other = res["modes"][other_mode]
    out = {"images": len(split.labels), "float_acc": res["float_acc"],
            "int_dense_acc": dense["acc"], "int_pruned_acc": pruned["acc"],
            "macs_dense": dense["macs"], "macs_pruned": pruned["macs"],
            "mac_reduction": round(1 - pruned["macs"] / dense["macs"], 4),
            "prune_mode": mode, "tokens_per_stage": pruned["tokens_per_stage"],
            "other_mode": {"prune_mode": other_mode, "int_pruned_acc": other["acc"],
                           "macs_pruned": other["macs"],
                           "mac_reduction": round(1 - other["macs"] / dense["macs"], 4),
                           "tokens_per_stage": other["tokens_per_stage"]},
            # saturations per tensor of the golden model, per mode
            "saturation": {m: res["modes"][m]["saturation"] for m in ["none", *modes]}}
    if args.min_acc is not None:  # an accuracy floor is a check: exit 1 below it
        out["min_acc"] = args.min_acc
        out["checks_failed"] = [f"{k} {out[k]:.4f} < --min-acc {args.min_acc}"
                                for k in ("int_dense_acc", "int_pruned_acc") if out[k] < args.min_acc]
    return out


def cmd_verify(args: argparse.Namespace) -> dict:
    from sievit.data import config_test_images
    from sievit.fanout import open_pool, where_from
    from sievit.quant.evaluate import load_golden_and_model, verify
    with open_pool(where_from(args)) as pool:
        golden, _ = load_golden_and_model(args.ckpt)
        modes = ["none", golden.b.config["reduction"]["mode"]] if args.modes == "both" else [args.modes]
        return verify(args.ckpt, config_test_images(golden.b.config, args.images), modes, pool)


def cmd_bench(args: argparse.Namespace) -> dict:
    import time
    if args.what == "pareto":
        from sievit.pareto import CHECKPOINTS, pareto, retrain
        methods = args.methods or list(CHECKPOINTS)
        if args.retrain:
            retrain(methods, args.device)
        from sievit.fanout import where_from
        return pareto(methods, args.images, where_from(args), Path(args.out),
                      rtl_images=args.rtl_images,
                      reuse_golden=Path(args.reuse_golden) if args.reuse_golden else None)
    if args.what == "fuzz":
        from sievit.fuzz import fuzz
        return fuzz(args.draws, args.seed, rtl=args.rtl, images=args.images or 2)
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
    import tempfile
    from sievit.atomic import move_files
    from sievit.config import require_heatvit
    from sievit.data import first_test_images, load_split
    from sievit.quant.budgets import with_budget
    from sievit.quant.bundle import load_bundle
    from sievit.quant.golden import Golden
    from sievit.quant.plots import plot_kept_tokens, plot_tradeoff, tradeoff
    golden = Golden(load_bundle(args.bundle))
    require_heatvit(golden.b.config, "sievit plot's token pictures and top-k budgets")
    for tk in args.budgets:  # every budget fits the bundle before any work
        try:
            with_budget(golden.b.config, tk)
        except SievitError as exc:
            raise SievitError(f"--budgets {','.join(map(str, tk))} does not fit the bundle: {exc}") from None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SievitError(f"--out {out} exists and is not a directory")
    mode = golden.b.config["reduction"]["mode"]
    names = ("kept_tokens.png", "tradeoff.png")
    with tempfile.TemporaryDirectory(prefix="sievit_plot_") as tmp:  # nothing left on failure
        plot_kept_tokens(golden, first_test_images(16), mode, Path(tmp) / names[0])
        split = load_split(args.split)
        rows = tradeoff(golden, split, args.budgets)
        plot_tradeoff(rows, Path(tmp) / names[1],
                      f"golden int8 model, Fashion-MNIST {args.split} split ({len(split.labels)} images)")
        move_files([Path(tmp) / n for n in names], out)
    return {"split": args.split, "rows": rows, "pngs": [str(out / n) for n in names]}


def cmd_export_hls(args: argparse.Namespace) -> dict:
    from sievit.hls.project import export_hls
    out = export_hls(Path(args.bundle), Path(args.out), lanes=args.lanes, part=args.part,
                     clock_mhz=args.clock_mhz, force=args.force, tb_images=args.tb_images,
                     budget=args.budget)
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
    from sievit.fanout import where_from
    out = csim(prj, images, args.engines, modes, cases_per_engine=args.cases,
               where=where_from(args))
    if args.hls4ml:
        from sievit.hls.crosscheck import crosscheck_head
        out["hls4ml_head"] = crosscheck_head(Path(args.hls4ml), prj, args.cases)
        out["mismatches"] += out["hls4ml_head"]["mismatches"]
    for mode, r in out.get("modes", {}).items():
        d = r.get("first_difference")
        if d:
            print(f"[csim] {mode}: first difference at image {d['image']}, {d['output']}"
                  f"[{d['element']}]: HLS {d['hls']}, golden {d['golden']} "
                  f"(made in or before: {d['upstream_engines']})", file=sys.stderr)
    for engine, d in out.get("engine_run", {}).get("engine_differences", {}).items():
        at = f", element {d['element']}: HLS {d['hls']}, golden {d['golden']}" if "element" in d else ""
        print(f"[csim] engine {engine}: first mismatch at case {d['case']}{at}", file=sys.stderr)
    return out


def cmd_synth(args: argparse.Namespace) -> dict:
    from sievit.hls import synth as S
    if args.report:
        return S.parse_report(Path(args.report))
    if args.estimate:
        return S.estimate_project(Path(args.project))
    return S.synth(Path(args.project), args.engine, args.flow,
                   Path(args.work_dir) if args.work_dir else None)


def cmd_cosim(args: argparse.Namespace) -> dict:
    from sievit.fanout import where_from
    from sievit.paths import output_dir
    from sievit.rtl.cosim import cosim
    modes = None if args.modes == "both" else [args.modes]
    n = None if args.images == "all" else args.images
    budget = None
    if args.budget is not None:
        from sievit.quant.budgets import parse_budget
        from sievit.quant.bundle import load_bundle
        budget = parse_budget(load_bundle(Path(args.bundle)).config, args.budget)
    out = cosim(Path(args.bundle), n, sim=args.sim, modes=modes, hw_name=args.hw,
                watchdog_cycles=args.watchdog_cycles, stall_pct=args.stall,
                latency=args.mem_latency, where=where_from(args), budget=budget,
                waves=None if args.waves is None else Path(args.waves) if args.waves
                else output_dir() / "cosim_waves")
    print(f"[cosim] {out['images']} images, {out['mismatches']} mismatches, "
          f"{out['cycles_per_image']:.0f} cycles/image, MAC utilization "
          f"{100 * out['mac_utilization']:.1f} %", file=sys.stderr)
    from sievit.rtl.cosim import describe_difference
    from sievit.rtl.localize import describe_descriptor
    for mode, r in out["modes"].items():
        if r.get("first_difference"):
            print(describe_difference(mode, r["first_difference"]), file=sys.stderr)
        if r.get("first_differing_engine"):
            print(f"{describe_descriptor(r['first_differing_engine'])} ({mode}, image "
                  f"{r['first_difference']['image']})", file=sys.stderr)
    for mode, path in out.get("waves", {}).items():
        print(f"[cosim] waveform of image 0 ({mode}): {path}", file=sys.stderr)
    return out


def cmd_rtl_synth(args: argparse.Namespace) -> dict:
    from sievit.rtl.yosys import cached_report, synth
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
    t.add_argument("--epochs", type=A.int_in("--epochs", 1, 10_000), help="epochs for every stage (overrides the config)")
    t.add_argument("--seed", type=A.int_in("--seed", 0, 2**32 - 1))
    t.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    t.add_argument("--max-steps", type=A.int_in("--max-steps", 1), help="cap the steps of every stage (smoke runs)")
    t.add_argument("--init-float", help="float.pt of an earlier run: skip the float stage")
    t.add_argument("--batch-size", type=A.int_in("--batch-size", 1, 65_536), help="override train.batch_size")
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
    e.add_argument("--seed", type=A.int_in("--seed", 0, 2**32 - 1), default=0)
    e.add_argument("--out", required=True)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_export)

    v = sub.add_parser("eval", help="float / int8 dense / int8 pruned accuracy and MACs")
    v.add_argument("--ckpt", required=True)
    v.add_argument("--images", type=_images_arg, default=None)
    v.add_argument("--min-acc", type=A.float_in("--min-acc", 0.0, 1.0),
                   help="accuracy floor (0..1) of the int8 dense and pruned golden model: exit 1 below")
    A.fanout_options(v)
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_eval)

    g = sub.add_parser("verify", help="golden model == Brevitas integer eval path")
    g.add_argument("what", choices=("golden",))
    g.add_argument("--ckpt", required=True)
    g.add_argument("--images", type=_images_arg, default=None)
    g.add_argument("--modes", choices=("both", "none", "threshold", "topk", "reduce"), default="both")
    A.fanout_options(g)
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=cmd_verify)

    b = sub.add_parser("bench", help="benchmarks")
    b.add_argument("what", choices=("golden", "pareto", "fuzz"))
    b.add_argument("--bundle", help="golden: the bundle to time")
    b.add_argument("--images", type=_images_arg, default=None,
                   help="golden: 2000 by default; pareto: the whole test set by default")
    b.add_argument("--methods", nargs="*", help="pareto: methods (default: all)")
    A.fanout_options(b, jobs=2, what="pareto: ")
    b.add_argument("--out", default="docs", help="pareto: folder of pareto.md / pareto.png")
    b.add_argument("--retrain", action="store_true", help="pareto: rebuild the checkpoints first")
    b.add_argument("--rtl-images", type=A.int_in("--rtl-images", 0, 10000),
                   default=0, help="pareto: also co-simulate the RTL methods' points (dense, "
                                   "HeatViT, EViT, CP-ViT) on this many test images (0: no RTL)")
    b.add_argument("--reuse-golden", metavar="JSON", default=None,
                   help="pareto: take the golden columns from an earlier `bench pareto --json` "
                        "output of the same points instead of evaluating them again")
    b.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="pareto --retrain")
    b.add_argument("--batch", type=A.int_in("--batch", 1, 10_000), default=250,
                   help="golden: images per golden-model call")
    b.add_argument("--draws", type=A.int_in("--draws", 1, 10_000), default=40,
                   help="fuzz: random model shapes to draw")
    b.add_argument("--seed", type=A.int_in("--seed", 0, 2**32 - 1), default=0,
                   help="fuzz: seed of the shape draw")
    b.add_argument("--rtl", type=A.int_in("--rtl", 0, 100), default=0,
                   help="fuzz: of the draws the fmnist RTL preset holds, co-simulate this many")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench)

    pl = sub.add_parser("plot", help="PNGs: kept tokens per stage, accuracy vs MACs")
    pl.add_argument("--bundle", required=True)
    pl.add_argument("--out", required=True)
    pl.add_argument("--split", choices=("val", "test"), default="val")
    pl.add_argument("--budgets", nargs="*", type=A.budget,
                    default=[[27, 18], [25, 16], [25, 13], [23, 15]],
                    help="top-k token budgets per stage, e.g. 25,13")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=cmd_plot)

    xh = sub.add_parser("export-hls", help="write a Vitis HLS project from a bundle")
    xh.add_argument("--bundle", required=True)
    xh.add_argument("--out", required=True)
    xh.add_argument("--lanes", type=A.lanes, default=8, help="parallel MACs per linear engine")
    xh.add_argument("--part", type=A.part, default="xczu9eg-ffvb1156-2-e")
    xh.add_argument("--clock-mhz", type=A.float_in("--clock-mhz", 1.0, 1000.0), default=300.0)
    xh.add_argument("--force", action="store_true",
                    help="replace an existing project written by export-hls (never another directory)")
    xh.add_argument("--tb-images", type=A.int_in("--tb-images", 1, 10_000), default=10,
                    help="test images whose golden vectors go into tb_data/ for Vitis csim")
    xh.add_argument("--budget", default=None,
                    help="a reduction method's knob to deploy instead of the bundle's (EViT "
                         "keep_rate, ToMe / PPT r, CP-ViT keep; e.g. a reduction.pareto budget)")
    xh.add_argument("--json", action="store_true")
    xh.set_defaults(func=cmd_export_hls)

    cs = sub.add_parser("csim", help="C-simulate an HLS project with g++, bit for bit vs golden")
    cs.add_argument("project")
    cs.add_argument("--images", type=_images_or_zero, default=100)
    cs.add_argument("--engines", action="store_true", help="also test every engine alone")
    cs.add_argument("--cases", type=A.int_in("--cases", 1, 100_000), default=1000, help="engine cases per engine")
    cs.add_argument("--modes", choices=("both", "none", "threshold", "topk", "reduce"), default="both")
    cs.add_argument("--hls4ml", metavar="CKPT",
                    help="cross-check the linear engine against hls4ml's C-simulation of the "
                         "checkpoint's classifier head (Brevitas -> QONNX -> hls4ml)")
    A.fanout_options(cs, local="in this process, the testbench on every core")
    cs.add_argument("--json", action="store_true")
    cs.set_defaults(func=cmd_csim)

    co = sub.add_parser("cosim", help="co-simulate the whole-model RTL (cocotb) bit for bit "
                                      "against the golden model")
    co.add_argument("--bundle", required=True)
    co.add_argument("--images", type=_images_arg, default=4)
    co.add_argument("--sim", choices=("verilator", "icarus"), default="verilator")
    co.add_argument("--modes", choices=("both", "none", "threshold", "topk", "reduce"), default="both",
                    help="both = dense and the bundle's deployment mode")
    co.add_argument("--budget", default=None,
                    help="a reduction method's knob to run instead of the bundle's (EViT "
                         "keep_rate, CP-ViT keep; e.g. a reduction.pareto budget)")
    co.add_argument("--hw", choices=("fmnist", "deit_tiny", "zcu102"), default="fmnist", help="RTL parameter preset (rtl/program.py PRESETS): fmnist (128 MACs/cycle), deit_tiny (512), zcu102 (2048)")
    A.fanout_options(co)
    co.add_argument("--watchdog-cycles", type=A.int_in("--watchdog-cycles", 1000, 10**12),
                    default=50_000_000,
                    help="fail when no image finishes within this many cycles")
    co.add_argument("--stall", type=A.int_in("--stall", 0, 90), default=0,
                    help="percent of cycles each stream / memory handshake is stalled")
    co.add_argument("--mem-latency", type=A.int_in("--mem-latency", 0, 1024), default=None,
                    help="cycles from a memory request to its first word (default: the "
                         "--hw preset's, 64)")
    co.add_argument("--waves", nargs="?", const="", default=None, metavar="DIR",
                    help="trace the first image on a separate Verilator build with FST "
                         "tracing and write DIR/<mode>.fst (DIR default: cosim_waves/ in the "
                         "output directory)")
    co.add_argument("--json", action="store_true")
    co.set_defaults(func=cmd_cosim)

    ys = sub.add_parser("rtl-synth", help="Yosys synth_xilinx of the whole-model RTL top: "
                                          "LUT/FF/DSP/BRAM")
    ys.add_argument("--family", default="xcup", help="synth_xilinx -family (xcup, xc7, ...)")
    ys.add_argument("--timeout", type=A.int_in("--timeout", 1, 7 * 24 * 3600), default=3600, help="seconds before giving up")
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
    sy.add_argument("--flow", choices=("tcl", "vitis"), default="tcl",
                    help="tcl: vitis_hls -f build_prj.tcl; vitis: v++ -c --mode hls --config hls_config*.cfg")
    sy.add_argument("--work-dir", help="where Vitis builds (default: PRJ/hls_prj or PRJ/vitis_<top>)")
    sy.add_argument("--report", metavar="FILE", help="only parse an existing csynth.xml / csynth.rpt")
    sy.add_argument("--estimate", action="store_true",
                    help="print the analytic latency estimate (loop trip counts x II; no Vitis)")
    sy.add_argument("--json", action="store_true")
    sy.set_defaults(func=cmd_synth)
    from sievit.rtl.ip_package import add_parsers as add_ip_parsers  # ip-package, regmap
    add_ip_parsers(sub)
    from sievit.cli_groups import add_user_commands  # --version, predict, hls/rtl groups, help
    add_user_commands(p, sub)
    return p


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    """One error line on stderr (and, with --json, an error object on stdout)."""
    print(f"sievit: error: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "exit_code": code}, indent=2))
    return code


def main(argv: list[str] | None = None) -> int:
    """Run one command. Exit status: 0 every check passed, 1 a check failed (the JSON and
    summary are still printed), 2 usage error or bad input, 3 a required tool is missing."""
    warnings.filterwarnings("ignore")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except SievitError as exc:
        return _fail(args, str(exc), exc.code)
    except OSError as exc:  # unreadable / unwritable paths, a full disk
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        return _fail(args, f"cannot access{where}: {exc.strerror or exc}", EXIT_BAD_INPUT)
    lines = summary(args.cmd, result)
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2))
        print("\n".join(lines), file=sys.stderr)
    else:
        print("\n".join(lines))
    return EXIT_CHECK_FAILED if failed_checks(result) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
