"""`sievit bench pareto`: every method at its budgets on the Fashion-MNIST test set (int8
golden model): top-1, MACs, tokens per stage -> docs/pareto.md, docs/pareto.png, JSON."""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from tqdm import tqdm

from sievit.errors import SievitError

# the checkpoints the table uses; `--retrain` rebuilds them with these commands' arguments
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
# train arguments per method; HeatViT first rebuilds the 40 % checkpoint its finetune starts from
PREREQUISITES = {
    "heatvit": [(HEATVIT_B40, ["--config", "configs/fmnist_heatvit_b40.yaml", "--resume", BACKBONE,
                               "--train-backbone", "--epochs", "6", "--max-steps", "600"])],
}
RETRAIN = {
    "heatvit": ["--config", "configs/fmnist_heatvit_kd.yaml", "--resume", HEATVIT_B40,
                "--train-backbone"],
    "evit": ["--config", "configs/fmnist_evit.yaml", "--init", BACKBONE],
    "tome": ["--config", "configs/fmnist_tome.yaml", "--init", BACKBONE],
    "ppt": ["--config", "configs/fmnist_ppt.yaml", "--init", BACKBONE],
    "cpvit": ["--config", "configs/fmnist_cpvit.yaml", "--init", BACKBONE],
    "cait": ["--config", "configs/fmnist_cait.yaml", "--init", BACKBONE],
    "prance": ["--config", "configs/fmnist_prance.yaml", "--init", BACKBONE],
}
LABELS = {"heatvit": "HeatViT", "evit": "EViT", "tome": "ToMe", "ppt": "PPT", "cpvit": "CP-ViT",
          "cait": "CAIT", "prance": "PRANCE", "dense": "dense int8"}

_BUNDLES: dict = {}


def _bundle(ckpt: str):
    if ckpt not in _BUNDLES:
        from sievit.quant.export import export_checkpoint
        _BUNDLES[ckpt] = export_checkpoint(ckpt)
    return _BUNDLES[ckpt]


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


def retrain(methods: list[str], device: str) -> None:
    """Rebuild the checkpoints the table uses (replacing them)."""
    import shutil
    from sievit.cli import main
    for method in methods:
        for ckpt, args in [*PREREQUISITES.get(method, []), (CHECKPOINTS[method], RETRAIN[method])]:
            out = Path(ckpt)
            tmp = out.with_name(out.name + ".retrain")
            shutil.rmtree(tmp, ignore_errors=True)
            code = main(["train", *args, "--out", str(tmp), "--device", device])
            if code:
                raise SievitError(f"retraining {method} ({ckpt}) failed (exit {code})")
            shutil.rmtree(out, ignore_errors=True)
            tmp.rename(out)


def pareto(methods: list[str], n_images: int | None, jobs: int, out_dir: Path) -> dict:
    """Evaluate every method's budgets (plus the dense int8 backbone) and write the table,
    the plot and the JSON under out_dir."""
    from sievit.config import load_config
    unknown = sorted(set(methods) - set(CHECKPOINTS))
    if unknown:
        raise SievitError(f"unknown method(s) {', '.join(unknown)} (one of {', '.join(CHECKPOINTS)})")
    n = n_images or 10000
    work = [("dense", BACKBONE, None, n)]
    for method in methods:
        ckpt = CHECKPOINTS[method]
        if not (Path(ckpt) / "config.yaml").is_file():
            raise SievitError(f"{ckpt} is missing: run `sievit bench pareto --retrain`")
        budgets = load_config(Path(ckpt) / "config.yaml")["reduction"].get("pareto")
        if not budgets:
            raise SievitError(f"{ckpt}/config.yaml lists no reduction.pareto budgets")
        work += [(method, ckpt, b, n) for b in budgets]
    start = time.time()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one BLAS thread per worker process
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        rows = list(tqdm(pool.map(_evaluate, work), total=len(work), desc="pareto",
                         file=sys.stderr))
    dense = rows[0]
    for row in rows:
        row["mac_reduction"] = round(1 - row["macs"] / dense["macs"], 4)
        row["top1_delta_pp"] = round(100 * (row["top1"] - dense["top1"]), 2)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(rows, out_dir / "pareto.md", n)
    plot_pareto(rows, out_dir / "pareto.png", n)
    pictures = [str(plot_method(m, out_dir)) for m in methods]
    return {"images": n, "jobs": jobs, "wall_s": round(time.time() - start, 1), "rows": rows,
            "table": str(out_dir / "pareto.md"), "plot": str(out_dir / "pareto.png"),
            "pictures": pictures}


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


def write_table(rows: list[dict], path: Path, n: int) -> None:
    from sievit.quant.budgets import KNOB
    lines = ["| method | budget | top-1 (%) | Δ vs dense (pp) | MACs / image (M) | fewer MACs | "
             "tokens after each stage |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        knob = KNOB.get(row["method"], "")
        budget = _budget_text(row)
        if knob and row["budget"] is not None:
            budget = f"{knob} = {budget}"
        tok = ", ".join(f"{t:.1f}" for t in row["tokens_per_stage"]) or "-"
        lines.append(f"| {LABELS[row['method']]} | {budget} | {100 * row['top1']:.2f} | "
                     f"{row['top1_delta_pp']:+.2f} | {row['macs'] / 1e6:.2f} | "
                     f"{100 * row['mac_reduction']:.1f} % | {tok} |")
    header = (f"Generated by `sievit bench pareto` on the first {n} Fashion-MNIST test images "
              "(int8 golden model; MACs count everything each method adds).\n\n")
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(header + "\n".join(lines) + "\n")
    tmp.replace(path)


def plot_pareto(rows: list[dict], path: Path, n: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    dense = rows[0]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.scatter([dense["macs"] / 1e6], [100 * dense["top1"]], marker="*", s=160, c="k",
               label=LABELS["dense"], zorder=3)
    ax.axhline(100 * dense["top1"] - 0.5, color="gray", ls=":", lw=1)
    ax.axvline(0.45 * dense["macs"] / 1e6, color="gray", ls="--", lw=1)
    ax.text(0.45 * dense["macs"] / 1e6, ax.get_ylim()[0], " 55 % fewer MACs", fontsize=7,
            va="bottom", color="gray")
    for method in dict.fromkeys(r["method"] for r in rows[1:]):
        pts = sorted((r["macs"] / 1e6, 100 * r["top1"], _budget_text(r))
                     for r in rows if r["method"] == method)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=4, label=LABELS[method])
        for x, y, t in pts:
            ax.annotate(t.replace("top-k ", ""), (x, y), fontsize=6, xytext=(3, 2),
                        textcoords="offset points")
    ax.set_xlabel("MACs per image (millions)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title(f"Fashion-MNIST test ({n} images), int8 golden model; dotted: dense − 0.5 pp",
                 fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
