"""MAC accounting per image from token counts: every multiply-accumulate of the linear
layers, attention products, selector MLPs and the package token's weighted sum."""
from __future__ import annotations

from collections.abc import Sequence


def block_macs(n: int, dim: int, mlp_dim: int) -> int:
    """One encoder block over n tokens: QKV, Q.K^T, A.V, projection, fc1, fc2."""
    return 3 * n * dim * dim + 2 * n * n * dim + n * dim * dim + 2 * n * dim * mlp_dim


def selector_macs(n: int, dim: int, heads: int, n_fused: int) -> int:
    """HeatViT selector on n tokens (n - 1 scored, CLS excluded) plus the package sum."""
    dh = dim // heads
    hid = dh // 2
    scored = n - 1
    per_head = scored * (dh * hid + dh * hid + hid * 2)
    return heads * per_head + (dim // 2) * heads + n_fused * dim + heads * scored


def model_macs(model_cfg: dict, tokens_per_block: Sequence[int],
               fused_per_stage: Sequence[int], tokens_before_stage: Sequence[int]) -> int:
    """Total MACs for one image given the token count entering every block."""
    m = model_cfg
    n_patch = (m["image_size"] // m["patch_size"]) ** 2
    pdim = m["patch_size"] ** 2 * m["in_chans"]
    total = n_patch * pdim * m["dim"]
    for n in tokens_per_block:
        total += block_macs(n, m["dim"], m["mlp_dim"])
    for n, fused in zip(tokens_before_stage, fused_per_stage):
        total += selector_macs(n, m["dim"], m["heads"], fused)
    total += m["dim"] * m["num_classes"]
    return total


def expected_tokens(cfg: dict, ratios: Sequence[float]) -> tuple[list[int], list[int], list[int]]:
    """Token count entering each block when stage s keeps ratios[s] of the original patches
    (cumulative), plus the package token; fused counts and counts before each stage."""
    m, r = cfg["model"], cfg["reduction"]
    n_patch = (m["image_size"] // m["patch_size"]) ** 2
    tokens, fused, before = [], [], []
    n = n_patch + 1
    stage = 0
    for b in range(m["depth"]):
        if stage < len(r["blocks"]) and r["blocks"][stage] == b:
            kept = round(ratios[stage] * n_patch)
            before.append(n)
            prev_patches = n - 1 - (1 if stage > 0 else 0)
            fused.append(prev_patches - kept + (1 if stage > 0 else 0))
            n = 1 + kept + 1
            stage += 1
        tokens.append(n)
    return tokens, fused, before


def dense_macs(cfg: dict) -> int:
    m = cfg["model"]
    n = (m["image_size"] // m["patch_size"]) ** 2 + 1
    return model_macs(m, [n] * m["depth"], [], [])


def keep_ratios_for_budget(cfg: dict) -> list[float]:
    """Keep ratios r^1, r^2, ... (cumulative, of the original patches) with r chosen by
    bisection so that the expected MACs meet reduction.mac_budget of the dense MACs."""
    r = cfg["reduction"]
    stages = len(r["blocks"])
    target = r["mac_budget"] * dense_macs(cfg)

    def macs(base: float) -> int:
        ratios = [base ** (s + 1) for s in range(stages)]
        tokens, fused, before = expected_tokens(cfg, ratios)
        return model_macs(cfg["model"], tokens, fused, before)

    lo, hi = 0.0, 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if macs(mid) > target:
            hi = mid
        else:
            lo = mid
    return [round(lo ** (s + 1), 4) for s in range(stages)]


def attention_macs(n, dim: int, heads: int, heads_active=None):
    """QKV, Q.K^T, A.V and projection over n tokens with `heads_active` of `heads` heads
    (a pruned head skips its Q/K/V rows and its projection columns)."""
    ha = heads if heads_active is None else heads_active
    w = (dim // heads) * ha
    return 3 * n * dim * w + 2 * n * n * w + n * w * dim


def mlp_macs(n, dim: int, mlp_dim: int):
    return 2 * n * dim * mlp_dim


def tome_macs(n, n_a, n_b, dh: int, dim: int, merged, dsts):
    """ToMe matching and merge: key norms, A x B similarities of unit keys, size-weighted
    sums of every merged token and its target."""
    return n * dh + n_a * n_b * dh + (merged + dsts) * dim


def ppt_score_macs(n, dim: int, m):
    """PPT: |v|^2 per token, attention x norm and the squares of the variance test."""
    return n * dim + 2 * m
