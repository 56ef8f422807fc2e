"""Token budgets of the reduction methods: derived per-stage counts (resolved once from the
config, read by the model and the golden model alike) and the per-image keep counts."""
from __future__ import annotations

import math

import numpy as np

from sievit.errors import SievitError
from sievit.quant.channels import COST_SCALE

# the knob `sievit bench pareto` sweeps per method (HeatViT sweeps top-k token lists)
KNOB = {"evit": "keep_rate", "tome": "r", "ppt": "r", "cpvit": "keep", "cait": "mac_target",
        "prance": "cost_weight"}
PRANCE_COST_MAX = 127 / COST_SCALE  # the largest cost weight whose int8 cost code is exact


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
    if method == "cait":
        _resolve_cait(cfg)
    if method == "prance":
        _resolve_prance(cfg)


def _int_list(r: dict, key: str, lo: int, hi: int, length: int | None = None) -> list[int]:
    vals = r[key]
    if (length is not None and len(vals) != length) or any(
            not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi for v in vals):
        size = f"{length} " if length is not None else ""
        raise SievitError(f"reduction.{key} must be a list of {size}integers in {lo}..{hi}, got {vals}")
    return vals


def cait_windows(cfg: dict) -> list[tuple[int, int]]:
    """ATME neighbourhoods (rows, cols) per merge stage; each stage's windows must tile the
    previous stage's (so every window always holds its anchor)."""
    m, r = cfg["model"], cfg["reduction"]
    grid = m["image_size"] // m["patch_size"]
    out = []
    for w in r["windows"]:
        if (not isinstance(w, list) or len(w) != 2 or any(not isinstance(v, int) or not 1 <= v <= grid
                                                          for v in w)):
            raise SievitError(f"reduction.windows must be [rows, cols] pairs in 1..{grid}, got {r['windows']}")
        if out and (w[0] % out[-1][0] or w[1] % out[-1][1]):
            raise SievitError(f"reduction.windows: {w} is not a multiple of the previous window "
                              f"{list(out[-1])} (windows must nest)")
        out.append((w[0], w[1]))
    if len(out) != len(r["blocks"]):
        raise SievitError("reduction.windows needs one [rows, cols] window per merge block")
    return out


def cait_tokens(cfg: dict) -> list[int]:
    """Tokens (CLS included) entering each block's MLP under ATME: top-r merges are exact
    because every window keeps its anchor, so a stage has live - windows candidates."""
    m, r = cfg["model"], cfg["reduction"]
    grid = m["image_size"] // m["patch_size"]
    wins = cait_windows(cfg)
    live, out, stage = grid * grid, [], 0
    for i in range(m["depth"]):
        if stage < len(r["blocks"]) and r["blocks"][stage] == i:
            wr, wc = wins[stage]
            members = live - (-(-grid // wr)) * (-(-grid // wc))
            if r["merge_r"][stage] > members:
                raise SievitError(f"reduction.merge_r[{stage}] = {r['merge_r'][stage]} exceeds the "
                                  f"{members} tokens that can merge at that stage")
            live -= r["merge_r"][stage]
            stage += 1
        out.append(live + 1)
    return out


def channel_counts(keep: float, dh: int, mlp_dim: int) -> list[int]:
    """CDCP channels kept per group (QK per head, V per head, MLP hidden), at least one."""
    return [max(1, int(math.floor(keep * w + 0.5))) for w in (dh, dh, mlp_dim)]


def _resolve_cait(cfg: dict) -> None:
    from sievit.quant.macs import cait_macs, dense_macs
    m, r = cfg["model"], cfg["reduction"]
    _int_list(r, "merge_r", 0, 10 ** 6, len(r["blocks"]))
    _int_list(r, "gate_blocks", 0, m["depth"] - 1)
    if sorted(set(r["gate_blocks"])) != r["gate_blocks"]:
        raise SievitError(f"reduction.gate_blocks must be increasing, got {r['gate_blocks']}")
    if r["gate_hidden"] <= 0:
        raise SievitError(f"reduction.gate_hidden must be positive, got {r['gate_hidden']}")
    cait_tokens(cfg)
    target = r["mac_target"]
    if not 0.0 < target <= 1.0:
        raise SievitError(f"reduction.mac_target must be in (0, 1], got {target}")
    dense, dh = dense_macs(cfg), m["dim"] // m["heads"]
    if not r["gate_blocks"]:    # no gates: every channel stays, the target has no say
        r["channel_keep"], r["channel_counts"] = 1.0, channel_counts(1.0, dh, m["mlp_dim"])
        return

    def frac(keep: float) -> float:
        return cait_macs(cfg, channel_counts(keep, dh, m["mlp_dim"])) / dense

    if frac(0.0) > target:
        raise SievitError(f"reduction.mac_target {target} is below what these merges reach with one "
                          f"channel per group ({frac(0.0):.3f})")
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if frac(mid) <= target else (lo, mid)
    r["channel_counts"] = channel_counts(lo, dh, m["mlp_dim"])
    r["channel_keep"] = round(lo, 6)     # shown only; the counts come from the exact value


def prance_actions(cfg: dict) -> list[int]:
    """Choices per actor output: MLP width, embedding width, token keep ratio."""
    r = cfg["reduction"]
    return [len(r["mlp_widths"]), len(r["embed_widths"]), len(r["token_keeps"])]


def _resolve_prance(cfg: dict) -> None:
    m, r = cfg["model"], cfg["reduction"]
    for key, hi in (("mlp_widths", m["mlp_dim"]), ("embed_widths", m["dim"])):
        vals = _int_list(r, key, 1, hi)
        if not vals or sorted(set(vals)) != vals or vals[-1] != hi:
            raise SievitError(f"reduction.{key} must increase and end at the full width {hi}, got {vals}")
    keeps = r["token_keeps"]
    if (not keeps or any(not isinstance(v, (int, float)) or not 0 < v <= 1 for v in keeps)
            or sorted(set(keeps)) != keeps):
        raise SievitError(f"reduction.token_keeps must be increasing ratios in (0, 1], got {keeps}")
    if r["token_action"] not in ("prune", "merge"):
        raise SievitError(f"reduction.token_action must be prune or merge, got {r['token_action']!r}")
    if r["actor_hidden"] <= 0:
        raise SievitError(f"reduction.actor_hidden must be positive, got {r['actor_hidden']}")
    if not 0.0 <= r["cost_weight"] <= PRANCE_COST_MAX:
        raise SievitError(f"reduction.cost_weight must be in [0, {PRANCE_COST_MAX:.4g}], got {r['cost_weight']}")


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


def parse_budget(config: dict, text: str):
    """A reduction method's budget from the command line: its knob's value (EViT keep_rate,
    ToMe / PPT r, CP-ViT keep, CAIT mac_target, PRANCE cost_weight), typed like the knob in
    the config."""
    method = config["reduction"]["method"]
    if method not in KNOB:
        raise SievitError(f"--budget sets a method's knob (EViT, ToMe, PPT, CP-ViT, CAIT, "
                          f"PRANCE); this bundle's method is {method}")
    knob = KNOB[method]
    try:
        return int(text) if isinstance(config["reduction"][knob], int) else float(text)
    except ValueError:
        raise SievitError(f"--budget {text!r} is not a valid reduction.{knob} for {method}") from None


def with_budget_bundle(bundle, budget):
    """The bundle with its method's knob set to `budget` (the weights are the same)."""
    from dataclasses import replace
    return replace(bundle, config=with_budget(bundle.config, budget))
