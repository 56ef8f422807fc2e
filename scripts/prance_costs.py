"""Validation accuracy and block-MAC fraction of a PRANCE checkpoint per cost weight, and how
many distinct configurations (MAC counts) its actors pick across the images: shows whether
the actors read the cost weight and the image.

    .venv/bin/python scripts/prance_costs.py checkpoints/fmnist_prance [--device cuda]
"""
from __future__ import annotations

import argparse
import json

import torch

from sievit.data import load_split
from sievit.model.prance_train import block_macs
from sievit.quant.export import load_checkpoint
from sievit.quant.macs import dense_macs

COSTS = (0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ckpt")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args()
    model = load_checkpoint(args.ckpt).to(args.device).eval()
    val = load_split("val")
    x, y = torch.from_numpy(val.images).to(args.device), torch.from_numpy(val.labels).to(args.device)
    dense = dense_macs(model.cfg)
    res = {}
    with torch.no_grad():
        for cost in COSTS:
            correct, frac = [], []
            for i in range(0, len(y), 500):
                xb, yb = x[i:i + 500], y[i:i + 500]
                out = model(xb, prune="reduce", control={
                    "mode": "deterministic", "cost": torch.full((len(yb),), cost, dtype=torch.float64)})
                correct.append((out.logits.argmax(-1) == yb).cpu())
                frac.append((block_macs(out, model.cfg) / dense).cpu())
            c, f = torch.cat(correct).double(), torch.cat(frac)
            res[str(cost)] = {"val_acc": round(float(c.mean()), 4),
                              "block_mac_fraction": round(float(f.mean()), 3),
                              "configurations": len(set(f.tolist()))}
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
