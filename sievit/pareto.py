"""`sievit bench pareto`: every method at its budgets on the Fashion-MNIST test set (int8
golden model): top-1, MACs, tokens per stage -> docs/pareto.md, docs/pareto.png, JSON."""
from __future__ import annotations

import time
from pathlib import Path

from sievit import fanout
from sievit.errors import SievitError

# the checkpoints the table uses; `--retrain` rebuilds each by replaying the `sievit train`
# command recorded in its metrics.json (recorded_train_args)
CHECKPOINTS = {
    "heatvit": "checkpoints/fmnist_heatvit_kd",
    "evit": "checkpoints/fmnist_evit",
    "tome": "checkpoints/fmnist_tome",
    "ppt": "checkpoints/fmnist_ppt",
    "cpvit": "checkpoints/fmnist_cpvit",
    "cait": "checkpoints/fmnist_cait",
    "prance": "checkpoints/fmnist_prance",
}
BACKBONE = "checkpoints/fmnist_heatvit"
HEATVIT_B40 = "checkpoints/fmnist_heatvit_b40"
# checkpoints a method's recorded command starts from, rebuilt before it (HeatViT's finetune
# resumes from the 40 % checkpoint); the shared backbone itself is not retrained
PREREQUISITES = {"heatvit": [HEATVIT_B40]}
# options of a recorded command that belong to the run, not to the recipe
_RUN_OPTIONS = {"--out": 1, "--device": 1, "--json": 0}
LABELS = {"heatvit": "HeatViT", "evit": "EViT", "tome": "ToMe", "ppt": "PPT", "cpvit": "CP-ViT",
          "cait": "CAIT", "prance": "PRANCE", "dense": "dense int8"}

def _bundle(ckpt: str):
    """The checkpoint's bundle, exported once per process (a Dask worker keeps it too)."""
    from sievit.quant.evaluate import load_golden_and_model
    return load_golden_and_model(ckpt)[0].b


def _evaluate(job: tuple) -> dict:
    """One (method, budget) point on the first n test images."""
    method, ckpt, budget, n = job
    from sievit.data import first_test_images
    from sievit.quant.budgets import with_budget
    from sievit.quant.bundle import Bundle
    from sievit.quant.evaluate import golden_metrics
    from sievit.quant.golden import Golden
    b = _bundle(ckpt)
    if budget is None:
        cfg, mode = b.config, "none"
    else:
        cfg = with_budget(b.config, budget)
        mode = cfg["reduction"]["mode"]
    m = golden_metrics(Golden(Bundle(cfg, b.fracs, b.arrays, b.meta)), first_test_images(n), mode)
    return {"method": method, "checkpoint": ckpt, "budget": budget, "mode": mode, "top1": m["acc"],
            "macs": m["macs"], "tokens_per_stage": m["tokens_per_stage"]}


def recorded_train_args(ckpt: str | Path) -> list[str]:
    """The `sievit train` arguments that made a checkpoint (its metrics.json `command`), less
    the run's own --out, --device and --json, with --config pointing at the checkpoint's
    resolved config.yaml (the config file named in the command may have changed since)."""
    import json
    import shlex
    ckpt = Path(ckpt)
    metrics = ckpt / "metrics.json"
    if not metrics.is_file():
        raise SievitError(f"{ckpt}: no metrics.json, so no recorded command to retrain it with")
    command = json.loads(metrics.read_text()).get("command")
    argv = shlex.split(command) if isinstance(command, str) else []
    if argv[:2] != ["sievit", "train"]:
        raise SievitError(f"{metrics} records no `sievit train` command (command: {command!r})")
    args, rest = [], iter(argv[2:])
    for a in rest:
        if a in _RUN_OPTIONS:
            for _ in range(_RUN_OPTIONS[a]):
                next(rest, None)
        elif a == "--config":
            next(rest, None)
            args += ["--config", str(ckpt / "config.yaml")]
        else:
            args.append(a)
    return args


def retrain(methods: list[str], device: str) -> None:
    """Rebuild the checkpoints the table uses (replacing them), each by replaying the train
    command it records, in a child `python -m sievit.cli` (no import of the CLI here)."""
    import shutil
    import subprocess
    import sys
    for method in methods:
        for ckpt in [*PREREQUISITES.get(method, []), CHECKPOINTS[method]]:
            out = Path(ckpt)
            args = recorded_train_args(out)
            tmp = out.with_name(out.name + ".retrain")
            shutil.rmtree(tmp, ignore_errors=True)
            code = subprocess.run([sys.executable, "-m", "sievit.cli", "train", *args,
                                   "--out", str(tmp), "--device", device]).returncode
            if code:
                shutil.rmtree(tmp, ignore_errors=True)
                raise SievitError(f"retraining {method} ({ckpt}) failed (exit {code})")
            shutil.rmtree(out, ignore_errors=True)
            tmp.rename(out)


def pareto(methods: list[str], n_images: int | None, where: fanout.Where | int,
           out_dir: Path, rtl_images: int = 0, reuse_golden: Path | None = None) -> dict:
    """Evaluate every method's budgets (plus the dense int8 backbone) and write the table,
    the plot and the JSON under out_dir. Each (method, budget) point is one chunk on `where`
    (a Where, or a number of local worker processes). `rtl_images` > 0: also co-simulate the
    RTL methods' points on that many images (sievit/pareto_rtl.py); `reuse_golden`: the
    golden columns from an earlier run's JSON instead of a new evaluation."""
    from sievit.pareto_rtl import add_rtl_columns, reuse_golden_rows
    if isinstance(where, int):
        where = fanout.Where(jobs=where)
    n = n_images or 10000
    work = pareto_work(methods, n)  # bad methods / checkpoints fail before any cluster starts
    start = time.time()
    golden_run = None
    if reuse_golden is not None:
        rows, golden_run = reuse_golden_rows(reuse_golden, work, n)
        rows = merge_rows(rows)
    else:
        with fanout.open_pool(where) as pool:  # Dask workers: one BLAS thread each
            rows = pareto_rows(work, pool)
    rtl = add_rtl_columns(rows, rtl_images, where) if rtl_images else None
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(rows, out_dir / "pareto.md", n, rtl)
    plot_pareto(rows, out_dir / "pareto.png", n, rtl)
    pictures = [str(plot_method(m, out_dir)) for m in methods]
    out = {"images": n, "jobs": where.jobs, "scheduler": where.scheduler,
           "golden_run": golden_run, "rtl": rtl,
           "wall_s": round(time.time() - start, 1), "rows": rows,
           "table": str(out_dir / "pareto.md"), "plot": str(out_dir / "pareto.png"),
           "pictures": pictures}
    if rtl:  # a mismatching RTL point fails the command (exit 1, JSON still printed)
        out["mismatches"] = rtl["mismatches"]
    return out


def pareto_work(methods: list[str], n: int) -> list[tuple]:
    """The (method, checkpoint, budget, images) points of the table, dense first."""
    from sievit.config import load_config
    unknown = sorted(set(methods) - set(CHECKPOINTS))
    if unknown:
        raise SievitError(f"unknown method(s) {', '.join(unknown)} (one of {', '.join(CHECKPOINTS)})")
    work = [("dense", BACKBONE, None, n)]
    for method in methods:
        ckpt = CHECKPOINTS[method]
        if not (Path(ckpt) / "config.yaml").is_file():
            raise SievitError(f"{ckpt} is missing: run `sievit bench pareto --retrain`")
        budgets = load_config(Path(ckpt) / "config.yaml")["reduction"].get("pareto")
        if not budgets:
            raise SievitError(f"{ckpt}/config.yaml lists no reduction.pareto budgets")
        work += [(method, ckpt, b, n) for b in budgets]
    return work


def pareto_rows(work: list[tuple], pool: fanout.Pool) -> list[dict]:
    """The table's rows: every point of `work` evaluated as one chunk on `pool`, merged."""
    return merge_rows(pool.map(_evaluate, [(job,) for job in work], "pareto"))


def merge_rows(rows: list[dict]) -> list[dict]:
    """The table's rows (dense first, in work order) with each point's MAC reduction and
    top-1 change against the dense row."""
    dense = rows[0]
    for row in rows:
        row["mac_reduction"] = round(1 - row["macs"] / dense["macs"], 4)
        row["top1_delta_pp"] = round(100 * (row["top1"] - dense["top1"]), 2)
    return rows


def plot_method(method: str, out_dir: Path) -> Path:
    """docs/methods/<method>.png: what each stage keeps / merges on six test images, at the
    checkpoint's own budget."""
    from sievit.data import first_test_images
    from sievit.quant.budgets import KNOB
    from sievit.quant.golden import Golden
    from sievit.quant.plots import plot_reduction
    b = _bundle(CHECKPOINTS[method])
    r = b.config["reduction"]
    path = out_dir / "methods" / f"{method}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    knob = "mode " + r["mode"] if method == "heatvit" else f"{KNOB[method]} = {r[KNOB[method]]}"
    plot_reduction(Golden(b), first_test_images(6), r["mode"], path,
                   f"{LABELS[method]} ({knob}): kept as itself / merged (colour per token) / "
                   "dropped (black) / fused (blue)")
    return path


def _budget_text(row: dict) -> str:
    b = row["budget"]
    if b is None:
        return "-"
    if isinstance(b, list):
        return "top-k " + "/".join(map(str, b))
    return str(b)


def _rtl_cells(row: dict) -> str:
    r = row.get("rtl")
    if r is None:
        return " - | - | - |"
    ratio = r.get("cycle_over_mac_saving")
    return (f" {r['cycles'] / 1e3:.1f} | {100 * r['mac_utilization']:.1f} | "
            f"{'-' if ratio is None else f'{ratio:.2f}'} |")


def write_table(rows: list[dict], path: Path, n: int, rtl: dict | None = None) -> None:
    from sievit.quant.budgets import KNOB
    lines = ["| method | budget | top-1 (%) | Δ vs dense (pp) | MACs / image (M) | fewer MACs | "
             "tokens after each stage |" + (" RTL k cycles / image | MAC util. (%) | "
                                            "cycle ÷ MAC saving |" if rtl else ""),
             "|---|---|---|---|---|---|---|" + ("---|---|---|" if rtl else "")]
    for row in rows:
        knob = KNOB.get(row["method"], "")
        budget = _budget_text(row)
        if knob and row["budget"] is not None:
            budget = f"{knob} = {budget}"
        tok = ", ".join(f"{t:.1f}" for t in row["tokens_per_stage"]) or "-"
        lines.append(f"| {LABELS[row['method']]} | {budget} | {100 * row['top1']:.2f} | "
                     f"{row['top1_delta_pp']:+.2f} | {row['macs'] / 1e6:.2f} | "
                     f"{100 * row['mac_reduction']:.1f} % | {tok} |" + (_rtl_cells(row) if rtl else ""))
    header = (f"Generated by `sievit bench pareto` on the first {n} Fashion-MNIST test images "
              "(int8 golden model; MACs count everything each method adds).")
    if rtl:
        header += (f" RTL columns: `sievit cosim` (Verilator, preset `{rtl['hw']}`, "
                   f"128 MACs/cycle) of the first {rtl['images']} test images at each point, "
                   f"{rtl['mismatches']} mismatching images over {rtl['points']} points; "
                   "MAC utilization = golden MACs / (cycles × 128); the last column is the "
                   "cycle saving over the MAC saving, both against the dense row.")
    header += "\n\n"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(header + "\n".join(lines) + "\n")
    tmp.replace(path)


# label offsets tried in order (points from the marker), nearest first
_OFFSETS = [(4, 2), (4, -8), (-4, 2), (-4, -8), (0, 6), (0, -11), (8, 8), (8, -14), (-8, 8),
            (-8, -14), (14, 0), (-14, 0), (0, 14), (0, -18), (16, 12), (16, -18), (-16, 12),
            (-16, -18), (24, 4), (-24, 4), (0, 22), (0, -26), (26, 18), (-26, 18), (26, -24),
            (-26, -24)]


def _place_labels(ax, labels: list[tuple[float, float, str]], fontsize: float = 6) -> None:
    """Annotate each (x, y, text) at the first offset whose box overlaps no other label, no
    marker and no legend, inside the axes; far offsets get a thin leader line."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    to_px = fig.dpi / 72.0
    markers = [ax.transData.transform((x, y)) for x, y, _ in labels]
    taken = [ax.get_legend().get_window_extent(renderer)] if ax.get_legend() else []
    frame = ax.get_window_extent(renderer)

    def clear(box, own: int) -> bool:
        if box.x0 < frame.x0 or box.x1 > frame.x1 or box.y0 < frame.y0 or box.y1 > frame.y1:
            return False
        if any(box.overlaps(t) for t in taken):
            return False
        r = 3 * to_px  # a marker's radius
        return not any(box.x0 - r < mx < box.x1 + r and box.y0 - r < my < box.y1 + r
                       for k, (mx, my) in enumerate(markers) if k != own)

    for k, (x, y, text) in enumerate(labels):
        best = None
        for dx, dy in _OFFSETS:
            ann = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points",
                              fontsize=fontsize, ha="left" if dx >= 0 else "right",
                              va="bottom" if dy >= 0 else "top")
            box = ann.get_window_extent(renderer)
            if clear(box, k):
                best = (ann, box, dx, dy)
                break
            ann.remove()
        if best is None:  # nowhere free: the nearest spot
            dx, dy = _OFFSETS[0]
            ann = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points",
                              fontsize=fontsize)
            best = (ann, ann.get_window_extent(renderer), dx, dy)
        ann, box, dx, dy = best
        if abs(dx) + abs(dy) > 14:  # a leader line from the marker to the label's corner
            mx, my = markers[k]
            ex, ey = ax.transData.inverted().transform((mx + 0.8 * dx * to_px,
                                                        my + 0.8 * dy * to_px))
            ax.plot([x, ex], [y, ey], lw=0.5, color="0.45", zorder=1)
        taken.append(box)


def plot_pareto(rows: list[dict], path: Path, n: int, rtl: dict | None = None) -> None:
    """docs/pareto.png: top-1 against MACs per method, each point labelled with its budget
    (labels placed where they overlap nothing); with RTL columns, beside it top-1 against
    the RTL's cycles per image for the methods it runs."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    dense = rows[0]
    if rtl:
        fig, (ax, ax_c) = plt.subplots(1, 2, figsize=(12.8, 4.8))
    else:
        fig, ax = plt.subplots(figsize=(7.2, 4.8))
    ax.scatter([dense["macs"] / 1e6], [100 * dense["top1"]], marker="*", s=160, c="k",
               label=LABELS["dense"], zorder=3)
    ax.axhline(100 * dense["top1"] - 0.5, color="gray", ls=":", lw=1)
    cut = 0.45 * dense["macs"] / 1e6
    ax.axvline(cut, color="gray", ls="--", lw=1)
    ax.text(cut, 0.02, "55 % fewer MACs ", fontsize=7, rotation=90, ha="right", va="bottom",
            color="gray", transform=ax.get_xaxis_transform())
    labels = []
    for method in dict.fromkeys(r["method"] for r in rows[1:]):
        pts = sorted((r["macs"] / 1e6, 100 * r["top1"], _budget_text(r))
                     for r in rows if r["method"] == method)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=4, label=LABELS[method])
        labels += [(x, y, t.replace("top-k ", "")) for x, y, t in pts]
    ax.set_xlabel("MACs per image (millions)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title(f"Fashion-MNIST test ({n} images), int8 golden model; dotted: dense − 0.5 pp",
                 fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    labels_c = []
    if rtl:
        colors = {line.get_label(): line.get_color() for line in ax.get_lines()}
        d = dense["rtl"]
        ax_c.scatter([d["cycles"] / 1e3], [100 * dense["top1"]], marker="*", s=160, c="k",
                     label=LABELS["dense"], zorder=3)
        ax_c.axhline(100 * dense["top1"] - 0.5, color="gray", ls=":", lw=1)
        for method in dict.fromkeys(r["method"] for r in rows[1:] if "rtl" in r):
            pts = sorted((r["rtl"]["cycles"] / 1e3, 100 * r["top1"], _budget_text(r))
                         for r in rows if r["method"] == method)
            ax_c.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=4,
                      label=LABELS[method], color=colors.get(LABELS[method]))
            labels_c += [(x, y, t.replace("top-k ", "")) for x, y, t in pts]
        ax_c.set_xlabel("RTL cycles per image (thousands), Verilator cosim")
        ax_c.set_ylabel("top-1 (%)")
        ax_c.set_title(f"the same points on the RTL ({rtl['hw']} preset, 128 MACs/cycle): mean "
                       f"of {rtl['images']} test images, {rtl['mismatches']} mismatches", fontsize=8)
        ax_c.grid(alpha=0.3)
        ax_c.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    _place_labels(ax, labels)
    if rtl:
        _place_labels(ax_c, labels_c)
    fig.savefig(path, dpi=130)
    plt.close(fig)
