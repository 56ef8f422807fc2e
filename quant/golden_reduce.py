"""Golden inference for the reduction methods other than HeatViT (EViT, ToMe, PPT, CP-ViT).
Each block: LN1 -> attention (proportional attention from token sizes, pruned heads
skipped) -> the method's reduction on the attention's scores -> LN2 -> MLP, so the MLP and
every later block run on the reduced token set."""
from __future__ import annotations

import numpy as np

from sievit.errors import SievitError
from sievit.quant import contract as C
from sievit.quant import reduce as rd
from sievit.quant.budgets import evit_keep_count
from sievit.quant.macs import attention_macs, mlp_macs, ppt_score_macs, tome_macs

I64 = np.int64
PROPORTIONAL = ("tome", "ppt")


def ppt_pool_mask(score: np.ndarray, cand: np.ndarray, tau: float) -> np.ndarray:
    """PPT's per-image choice: True (pool) where the variance of the normalised scores
    p = s / sum(s) is below tau: (M sum s^2 - S^2) 2^40 < round(tau 2^40) M^2 S^2, exact."""
    tau_i = round(tau * (1 << C.PPT_TAU_FRAC))
    out = np.zeros(len(score), dtype=bool)
    for b in range(len(score)):
        s = [int(v) for v in score[b][cand[b]]]
        m, tot, sq = len(s), sum(s), sum(v * v for v in s)
        out[b] = tot == 0 or ((m * sq - tot * tot) << C.PPT_TAU_FRAC) < tau_i * m * m * tot * tot
    return out


def _where_img(pick: np.ndarray, a: rd.Tokens, b: rd.Tokens) -> rd.Tokens:
    """Per image, the tokens of `a` where pick else `b` (same widths)."""
    def sel(u, v):
        return np.where(pick.reshape((-1,) + (1,) * (u.ndim - 1)), u, v)
    return rd.Tokens(sel(a.x, b.x), sel(a.ids, b.ids), sel(a.n, b.n), sel(a.size, b.size),
                     sel(a.cum, b.cum), sel(a.origin, b.origin))


def run_reduce(g, images: np.ndarray, mode: str, trace: bool):
    """Golden.run for EViT / ToMe / PPT / CP-ViT; mode: none | reduce."""
    from sievit.quant.golden import GoldenResult
    r = g.b.config["reduction"]
    method = r["method"]
    if mode not in ("none", "reduce"):
        raise SievitError(f"unknown mode {mode!r} for method {method} (none | reduce)")
    reduce_on = mode == "reduce"
    tr: dict | None = {} if trace else None
    m = g.m
    x, _ = g.patch_embed(images)
    t = rd.Tokens.start(x)
    B = len(x)
    heads, dim = g.heads, g.dim
    macs = np.full(B, g.n_patch * m["patch_size"] ** 2 * m["in_chans"] * dim
                   + dim * m["num_classes"], dtype=I64)
    head_mask = np.ones((B, heads), I64)
    head_score = np.zeros((B, heads), I64)
    kept, tokens, origins = [], [], []
    stage = 0
    for i in range(m["depth"]):
        p = f"blocks.{i}."
        info: dict = {}
        hmask = None
        if reduce_on and method == "cpvit" and r["heads_pruned"] and i >= r["head_block"]:
            if i == r["head_block"]:
                order = np.argsort(-head_score, axis=1, kind="stable")
                np.put_along_axis(head_mask, order[:, heads - r["heads_pruned"]:], 0, axis=1)
            hmask = head_mask
        bias = (rd.size_bias(t.size, g.softmax_frac(i))
                if reduce_on and method in PROPORTIONAL else None)
        h, _ = g.ln(p + "ln1", t.x, p + "ln1_out")
        n_in = t.n.copy()
        macs += attention_macs(n_in, dim, heads, None if hmask is None else hmask.sum(1))
        t.x = g.attention(i, h, t.x, t.valid(), tr, bias, hmask, info)
        if reduce_on:
            if method == "cpvit":
                mr = rd.max_received(info["probs"], t)
                live = t.patches()
                t.cum = t.cum + np.where(live, mr.sum(axis=1), 0)
                if hmask is None:
                    head_score += np.where(live[:, None, :], mr, 0).sum(axis=2)
            if stage < len(r["blocks"]) and r["blocks"][stage] == i:
                t, extra_macs = _reduce_stage(g, method, r, stage, t, info)
                macs += extra_macs
                kept.append([t.ids[b, :t.n[b]][t.ids[b, :t.n[b]] >= 0] for b in range(B)])
                tokens.append(t.n.copy())
                origins.append(t.origin.copy())
                stage += 1
        macs += mlp_macs(t.n, dim, m["mlp_dim"])
        h2, _ = g.ln(p + "ln2", t.x, p + "ln2_out")
        t.x = g.mlp(i, h2, t.x, tr)
        if tr is not None:
            tr[p + "out"] = t.x
    logits = g.head(t.x[:, 0])
    if np.abs(logits).max(initial=0) >= 2 ** 31:
        raise SievitError("logits overflow int32")
    tok = np.stack(tokens, axis=1) if tokens else np.zeros((B, 0), dtype=I64)
    if tr is not None:
        tr["head_mask"] = head_mask
    return GoldenResult(logits, kept, tok, macs, tr or {}, origins)


def _reduce_stage(g, method: str, r: dict, stage: int, t: rd.Tokens, info: dict):
    """One reduction stage after block attention. Returns new tokens and the MACs it adds."""
    probs, heads, dim = info["probs"], g.heads, g.dim
    cand = t.patches()
    m_cand = cand.sum(axis=1)
    if method == "evit":
        a = rd.cls_attention(probs, t)
        keep = rd.topk_keep(a, cand, evit_keep_count(r["keep_rate"], m_cand))
        fuse = cand & ~keep
        extra = rd.fuse_weighted(t.x, np.where(fuse, a, 0), heads << C.SOFTMAX_OUT_FRAC)
        has = fuse.any(axis=1)
        out = rd.compact(t, keep | ~cand, extra, has, gone_code=rd.ORIGIN_FUSED)
        return out, fuse.sum(axis=1) * dim
    if method == "cpvit":
        k = np.minimum(r["keep_tokens"][stage], m_cand)
        keep = rd.topk_keep(t.cum, cand, k)
        return rd.compact(t, keep | ~cand), 0
    u = rd.unit_keys(info["k"], heads)
    n_a = (cand & (np.arange(t.x.shape[1])[None] % 2 == 0)).sum(axis=1)
    n_b = t.n - 1 - n_a
    if method == "tome":
        out, merged, dsts = rd.bipartite_merge(t, u, r["r"])
        return out, tome_macs(t.n, n_a, n_b, g.dh, dim, merged, dsts)
    if method == "ppt":
        score = rd.ppt_score(probs, info["v"], t)
        r_img = np.minimum(r["r"], (t.n - 1) // 2)
        pool = ppt_pool_mask(score, cand, r["tau"])
        pooled, merged, dsts = rd.bipartite_merge(t, u, r["r"])
        pruned = rd.compact(t, rd.topk_keep(score, cand, m_cand - r_img) | ~cand)
        out = _where_img(pool, pooled, pruned)
        macs = ppt_score_macs(t.n, dim, m_cand) + np.where(
            pool, tome_macs(t.n, n_a, n_b, g.dh, dim, merged, dsts), 0)
        return out, macs
    raise SievitError(f"method {method} has no golden reduction")
