"""Token budgets of the reduction methods: derived per-stage counts (resolved once from the
config, read by the model and the golden model alike) and the per-image keep counts."""
from __future__ import annotations

import math

import numpy as np

from sievit.errors import SievitError

# the knob `sievit bench pareto` sweeps per method (HeatViT sweeps top-k token lists)
KNOB = {"evit": "keep_rate", "tome": "r", "ppt": "r", "cpvit": "keep"}


def resolve(cfg: dict) -> None:
    """Range checks of the method's keys and its derived counts (in place)."""
    m, r = cfg["model"], cfg["reduction"]
    method = r["method"]
    n_patch = (m["image_size"] // m["patch_size"]) ** 2
    if method == "evit" and not 0.0 <= r["keep_rate"] <= 1.0:
        raise SievitError(f"reduction.keep_rate must be in [0, 1], got {r['keep_rate']}")
    if method in ("tome", "ppt") and r["r"] < 0:
        raise SievitError(f"reduction.r must be >= 0, got {r['r']}")
    if method == "ppt" and r["tau"] < 0:
        raise SievitError(f"reduction.tau must be >= 0, got {r['tau']}")
    if method == "cpvit":
        if not 0.0 <= r["keep"] <= 1.0:
            raise SievitError(f"reduction.keep must be in [0, 1], got {r['keep']}")
        if not 0 <= r["heads_pruned"] < m["heads"]:
            raise SievitError(f"reduction.heads_pruned must be in 0..{m['heads'] - 1}, "
                              f"got {r['heads_pruned']}")
        if not 0 <= r["head_block"] <= m["depth"]:
            raise SievitError(f"reduction.head_block must be in 0..{m['depth']}, got {r['head_block']}")
        rng = r["layer_range"]
        if rng and (len(rng) != len(r["blocks"]) or any(not isinstance(v, (int, float)) or v <= 0
                                                         for v in rng)):
            raise SievitError("reduction.layer_range needs one positive attention range per "
                              f"pruning block, got {rng}")
        r["keep_tokens"] = cpvit_keep_tokens(r["keep"], rng or [1.0] * len(r["blocks"]), n_patch)


def cpvit_keep_tokens(keep: float, ranges: list[float], n_patch: int) -> list[int]:
    """Patches kept after each CP-ViT stage. The final keep fraction `keep` is spent over the
    stages in proportion to each layer's attention range: a stage whose attention reaches far
    (global) prunes more, a local one less; kept fraction after stage s = keep^(W_s) with W_s
    the cumulative share of the range."""
    total = float(sum(ranges))
    out, acc = [], 0.0
    for rg in ranges:
        acc += rg / total
        out.append(int(round(n_patch * keep ** acc)) if keep > 0 else 0)
    return out


def evit_keep_count(keep_rate: float, m: np.ndarray) -> np.ndarray:
    """EViT keeps ceil(kappa * M) of the M candidate tokens."""
    k = np.array([math.ceil(keep_rate * int(v) - 1e-9) for v in np.ravel(m)], dtype=np.int64)
    return np.clip(k.reshape(np.shape(m)), 0, m)


def with_budget(cfg: dict, budget) -> dict:
    """A copy of a resolved config with the method's knob set to `budget`."""
    from sievit.config import validate
    cfg = {**cfg, "reduction": dict(cfg["reduction"])}
    method = cfg["reduction"]["method"]
    if method == "heatvit":
        if budget == "threshold":
            cfg["reduction"]["mode"] = "threshold"
        else:
            cfg["reduction"].update(mode="topk", topk_tokens=list(budget))
    else:
        cfg["reduction"][KNOB[method]] = budget
    return validate(cfg)
