"""Pick the deployed HeatViT checkpoint on validation (never on test) and write the evidence.

Each candidate is exported to its integer bundle and run by the golden model on the 5000
validation images (the fixed split of Fashion-MNIST's training set, `sievit.data`) in the
deployed decision modes: dense, threshold and top-k at one common token budget (the hardware's
fixed-budget mode, so every candidate spends the same MACs there). The deployed checkpoint is
the best validation accuracy at that budget. Writes docs/deployed.json.

    python scripts/pick_deployed.py [--images N] [--out docs/deployed.json]
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

from sievit.data import config_split
from sievit.quant.evaluate import golden_metrics
from sievit.quant.export import export_checkpoint
from sievit.quant.golden import Golden

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = ("fmnist_heatvit", "fmnist_heatvit_b40", "fmnist_heatvit_kd")
BUDGET = [22, 11]  # tokens after each stage (CLS + patches + package) in top-k mode


def evaluate(name: str, n: int | None) -> dict:
    """Validation accuracy and MACs of one candidate: dense, threshold, top-k at BUDGET."""
    bundle = export_checkpoint(ROOT / "checkpoints" / name)
    bundle.config = copy.deepcopy(bundle.config)
    bundle.config["reduction"]["topk_tokens"] = list(BUDGET)
    golden = Golden(bundle)
    split = config_split(bundle.config, "val", n)
    res = {m: golden_metrics(golden, split, m) for m in ("none", "threshold", "topk")}
    dense = res["none"]["macs"]
    return {"images": len(split.labels),
            "val_acc": {m: round(r["acc"], 4) for m, r in res.items()},
            "mac_reduction": {m: round(1 - r["macs"] / dense, 4) for m, r in res.items()},
            "tokens_per_stage": {m: r["tokens_per_stage"] for m, r in res.items() if m != "none"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=None, help="validation images (default: all 5000)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "deployed.json"), help="output JSON")
    args = ap.parse_args()
    start = time.time()
    rows = {name: evaluate(name, args.images) for name in CANDIDATES}
    best = max(rows, key=lambda k: (rows[k]["val_acc"]["topk"], k))
    out = {"criterion": f"best validation accuracy at top-k {BUDGET[0]}/{BUDGET[1]} "
                        "(equal MACs for every candidate)",
           "split": "val", "topk_tokens": BUDGET, "deployed": best, "candidates": rows,
           "command": "python scripts/pick_deployed.py", "wall_s": round(time.time() - start, 1)}
    tmp = Path(args.out).with_suffix(".tmp")  # whole file or none
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    tmp.replace(args.out)
    print(json.dumps({"deployed": best, **{k: v["val_acc"] for k, v in rows.items()}}))


if __name__ == "__main__":
    main()
