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


def masked_attention_macs(n, e, w_qk, w_v):
    """Attention with channel masks: QKV rows w_qk (Q), w_qk (K), w_v (V) over e input
    columns, Q.K^T over w_qk, A.V over w_v, projection w_v -> e outputs (dim-wide residual;
    a dense block has e = w_qk = w_v = dim)."""
    return n * e * (2 * w_qk + w_v) + n * n * (w_qk + w_v) + n * w_v * e


def masked_mlp_macs(n, e, m):
    """fc1 (e inputs -> m hidden) and fc2 (m -> e)."""
    return 2 * n * e * m


def gate_macs(n, dim: int, hidden: int, outs: int):
    """CDCP gate: mean of the block input over n tokens, dim -> hidden -> outs."""
    return n * dim + dim * hidden + hidden * outs


def atme_macs(n, members, dh: int, dim: int, merged, dsts):
    """ATME: unit keys (norms), one member-anchor similarity per member, size-weighted sums."""
    return n * dh + members * dh + (merged + dsts) * dim


def cait_macs(cfg: dict, counts: Sequence[int]) -> int:
    """MACs of one image under CAIT with per-group channel counts (QK, V per head; MLP
    hidden) in the gated blocks; merge targets counted at their upper bound (one per merge)."""
    from sievit.quant.budgets import cait_tokens, cait_windows
    m, r = cfg["model"], cfg["reduction"]
    dim, heads = m["dim"], m["heads"]
    dh, grid = dim // heads, m["image_size"] // m["patch_size"]
    n_patch = grid * grid
    total = n_patch * m["patch_size"] ** 2 * m["in_chans"] * dim + dim * m["num_classes"]
    wins = cait_windows(cfg)
    after = cait_tokens(cfg)
    n, stage = n_patch + 1, 0
    for i in range(m["depth"]):
        gated = i in r["gate_blocks"]
        qk, v, hid = (counts[0] * heads, counts[1] * heads, counts[2]) if gated else (dim, dim, m["mlp_dim"])
        if gated:
            total += gate_macs(n, dim, r["gate_hidden"], 2 * dh + m["mlp_dim"])
        total += masked_attention_macs(n, dim, qk, v)
        if stage < len(r["blocks"]) and r["blocks"][stage] == i:
            wr, wc = wins[stage]
            members = n - 1 - (-(-grid // wr)) * (-(-grid // wc))
            merged = r["merge_r"][stage]
            if merged:                       # merge_r 0: the stage is skipped
                total += atme_macs(n, members, dh, dim, merged, merged)
            stage += 1
        n = after[i]
        total += masked_mlp_macs(n, dim, hid)
    return total


def actor_macs(n_state: int, hidden: int, outs: int):
    """PRANCE actor MLP (state -> hidden -> hidden -> outs) and the key average of its state."""
    return n_state * hidden + hidden * hidden + hidden * outs


def prance_merge_macs(n, dim: int, dropped, kept):
    """PRANCE merge: hidden-state norms, dropped x kept similarities, member sums."""
    return n * dim + dropped * kept * dim + dropped * dim
