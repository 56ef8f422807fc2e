"""Golden inference for the reduction methods other than HeatViT (EViT, ToMe, PPT, CP-ViT,
CAIT, PRANCE). Each block: [CAIT: CDCP gate -> channel masks] LN1 -> attention
(proportional attention from token sizes, pruned heads / masked channels skipped) -> the
method's reduction on the attention's scores [PRANCE: the actor picks widths and the token
keep ratio] -> LN2 -> MLP, so the MLP and every later block run on the reduced set."""
from __future__ import annotations

import numpy as np

from sievit.errors import SievitError
from sievit.quant import channels as ch
from sievit.quant import reduce as rd
from sievit.quant.budgets import cait_windows, evit_keep_count, prance_actions
from sievit.quant.reduce import ppt_pool_mask  # noqa: F401  (model/methods.py imports it here)
from sievit.quant.macs import (actor_macs, atme_macs, attention_macs, gate_macs,
                               masked_attention_macs, masked_mlp_macs, mlp_macs,
                               ppt_score_macs, prance_merge_macs, tome_macs)

I64 = np.int64
PROPORTIONAL = ("tome", "ppt", "cait", "prance")


def run_reduce(g, images: np.ndarray, mode: str, trace: bool):
    """Golden.run for EViT / ToMe / PPT / CP-ViT / CAIT / PRANCE; mode: none | reduce."""
    from sievit.quant.golden import GoldenResult
    r = g.b.config["reduction"]
    method = r["method"]
    if mode not in ("none", "reduce"):
        raise SievitError(f"unknown mode {mode!r} for method {method} (none | reduce)")
    reduce_on = mode == "reduce"
    tr: dict | None = {} if trace else None
    m = g.m
    x, _ = g.patch_embed(images)
    if tr is not None:
        tr["embed_out"] = x
    t = rd.Tokens.start(x)
    B = len(x)
    heads, dim = g.heads, g.dim
    macs = np.full(B, g.n_patch * m["patch_size"] ** 2 * m["in_chans"] * dim
                   + dim * m["num_classes"], dtype=I64)
    head_mask = np.ones((B, heads), I64)
    head_score = np.zeros((B, heads), I64)
    kept, tokens, origins = [], [], []
    stage = 0
    widths = None                        # PRANCE: [B] embedding and MLP widths once chosen
    choices = []
    for i in range(m["depth"]):
        p = f"blocks.{i}."
        info: dict = {}
        hmask = None
        chan = None
        if reduce_on and method == "cait" and i in r["gate_blocks"]:
            fx = g.b.f(f"blocks.{i - 1}.res2") if i > 0 else g.b.f("embed_out")
            logits = ch.cdcp_gate(g, r["gate_blocks"].index(i), t.x, fx, t.valid())
            chan = ch.cdcp_masks(logits, r["channel_counts"], heads, g.dh)
            macs += gate_macs(t.n, dim, r["gate_hidden"], logits.shape[1])
        if widths is not None:
            chan = ch.width_masks(widths, dim, m["mlp_dim"])
        if reduce_on and method == "cpvit" and r["heads_pruned"] and i >= r["head_block"]:
            if i == r["head_block"]:
                head_mask = rd.cpvit_head_mask(head_score, r["heads_pruned"])
            hmask = head_mask
        bias = (rd.size_bias(t.size, g.softmax_frac(i))
                if reduce_on and method in PROPORTIONAL else None)
        h, _ = g.ln(p + "ln1", t.x, p + "ln1_out")
        n_in = t.n.copy()
        if chan is None:
            macs += attention_macs(n_in, dim, heads, None if hmask is None else hmask.sum(1))
        else:
            e, w_qk, w_v, _ = chan.widths(dim, m["mlp_dim"])
            macs += masked_attention_macs(n_in, e, w_qk, w_v)
        if tr is not None:  # the engines' inputs (sievit/engine_cases.py)
            tr.update({p + "in": t.x, p + "ln1_out": h, p + "key_size": t.size.copy(),
                       p + "head_mask": np.ones((B, heads), I64) if hmask is None else hmask.copy()})
            if chan is not None and chan.qk is not None:  # CAIT's masks of this block
                tr.update({p + "qk_mask": chan.qk, p + "v_mask": chan.v, p + "mlp_mask": chan.mlp})
            if chan is not None and chan.embed is not None:  # PRANCE's width in attention
                tr[p + "embed_mask"] = chan.embed
        t.x = g.attention(i, h, t.x, t.valid(), tr, bias, hmask, info, chan)
        if tr is not None:
            tr[p + "res1"] = t.x
        if reduce_on:
            if method == "cpvit":
                t.cum, head_score = rd.cpvit_accumulate(info["probs"], t, head_score,
                                                        hmask is None)
                if tr is not None:  # the attention engine's cumulative-score output
                    tr[p + "cum"] = t.cum.copy()
            if stage < len(r["blocks"]) and r["blocks"][stage] == i:
                if tr is not None:  # the reduce engine's input tokens
                    tr.update({f"stage{stage}.{k}": getattr(t, k).copy()
                               for k in ("x", "ids", "n", "size", "cum")})
                if method == "prance":
                    t, extra_macs, widths, pick = _prance_stage(g, r, stage, t, info)
                    chan = ch.width_masks(widths, dim, m["mlp_dim"])
                    choices.append(pick)
                else:
                    t, extra_macs = _reduce_stage(g, method, r, stage, t, info)
                macs += extra_macs
                if tr is not None:  # the reduce engine's output ids (PKG_ID: fused tokens)
                    tr[f"stage{stage}.out_ids"] = t.ids.copy()
                    tr[f"stage{stage}.out_cum"] = t.cum.copy()
                kept.append([t.ids[b, :t.n[b]][t.ids[b, :t.n[b]] >= 0] for b in range(B)])
                tokens.append(t.n.copy())
                origins.append(t.origin.copy())
                stage += 1
        if chan is None:
            macs += mlp_macs(t.n, dim, m["mlp_dim"])
        else:
            e, _, _, hid = chan.widths(dim, m["mlp_dim"])
            macs += masked_mlp_macs(t.n, e, hid)
        h2, _ = g.ln(p + "ln2", t.x, p + "ln2_out")
        if tr is not None:
            tr.update({p + "mlp_in": t.x, p + "ln2_out": h2})
            if chan is not None and chan.embed is not None:  # PRANCE's widths in the MLP
                tr.update({p + "mlp_mask": chan.mlp, p + "mlp_embed_mask": chan.embed})
        t.x = g.mlp(i, h2, t.x, tr, chan)
        if tr is not None:
            tr[p + "out"] = t.x
    logits = g.head(t.x[:, 0])
    if np.abs(logits).max(initial=0) >= 2 ** 31:
        raise SievitError("logits overflow int32")
    tok = np.stack(tokens, axis=1) if tokens else np.zeros((B, 0), dtype=I64)
    if tr is not None:
        tr["head_mask"] = head_mask
        if choices:
            tr["prance_choices"] = np.stack(choices, axis=1)     # [B, stages, outputs]
    return GoldenResult(logits, kept, tok, macs, tr or {}, origins)


def _reduce_stage(g, method: str, r: dict, stage: int, t: rd.Tokens, info: dict):
    """One reduction stage after block attention. Returns new tokens and the MACs it adds."""
    probs, heads, dim = info["probs"], g.heads, g.dim
    cand = t.patches()
    m_cand = cand.sum(axis=1)
    if method == "evit":
        keep_n = evit_keep_count(r["keep_rate"], m_cand)
        out = rd.evit_fuse(t, rd.cls_attention(probs, t), keep_n, heads)
        return out, (m_cand - keep_n) * dim
    if method == "cpvit":
        return rd.drop_topk(t, t.cum, np.minimum(r["keep_tokens"][stage], m_cand)), 0
    u = rd.unit_keys(info["k"], heads)
    n_a = (cand & (np.arange(t.x.shape[1])[None] % 2 == 0)).sum(axis=1)
    n_b = t.n - 1 - n_a
    if method == "tome":
        out, merged, dsts = rd.bipartite_merge(t, u, r["r"])
        return out, tome_macs(t.n, n_a, n_b, g.dh, dim, merged, dsts)
    if method == "ppt":
        score = rd.ppt_score(probs, info["v"], t)
        out, pool, merged, dsts = rd.ppt_reduce(t, score, u, r["r"], r["tau"])
        macs = ppt_score_macs(t.n, dim, m_cand) + np.where(
            pool, tome_macs(t.n, n_a, n_b, g.dh, dim, merged, dsts), 0)
        return out, macs
    if method == "cait":
        if r["merge_r"][stage] == 0:                 # nothing to merge: no matching either
            return t, 0
        grid = g.grid
        out, members, merged, dsts = rd.atme_merge(t, rd.cls_attention(probs, t), u, grid,
                                                   cait_windows(g.b.config)[stage], r["merge_r"][stage])
        return out, atme_macs(t.n, members, g.dh, dim, merged, dsts)
    raise SievitError(f"method {method} has no golden reduction")


def _prance_stage(g, r: dict, stage: int, t: rd.Tokens, info: dict):
    """PRANCE decision s: the actor reads this block's keys and the cost weight, picks the
    MLP width, embedding width (this block's MLP onward) and token keep ratio; then the
    token step. Returns tokens, MACs, (embedding, MLP) widths per image, choices."""
    dim, n_max = g.dim, g.n_patch + 1
    state = ch.actor_state(info["k"], t.n, n_max, r["cost_weight"])
    n_choices = prance_actions(g.b.config)
    pick = ch.actor_choices(g, stage, state, g.b.f(f"blocks.{r['blocks'][stage]}.k_act"), n_choices)
    mlp_w = np.array(r["mlp_widths"], I64)[pick[:, 0]]
    emb_w = np.array(r["embed_widths"], I64)[pick[:, 1]]
    rho = np.array(r["token_keeps"], np.float64)[pick[:, 2]]
    cand = t.patches()
    keep_n = ch.keep_count(rho, cand.sum(axis=1))
    n_in = t.n.copy()
    out, dropped, kept = rd.prance_token_step(t, rd.cls_attention(info["probs"], t), keep_n,
                                              r["token_action"])
    macs = n_in * dim + actor_macs(n_max + 1, r["actor_hidden"], len(n_choices))
    if r["token_action"] == "merge":
        macs = macs + prance_merge_macs(n_in, dim, dropped, kept)
    return out, macs, (emb_w, mlp_w), pick
