"""EViT, ToMe, PPT and CP-ViT on the ViT's fixed slot layout [CLS, patches..., extra slots]
(policy: 1 = live slot). Each reduction runs inside its block after the attention residual,
on the block's own attention: scores from the integer probabilities, then drop / fuse /
merge. Quant mode computes the integer contract of docs/numerics.md exactly (the golden
model's quant/golden_reduce.py compacts tokens instead of masking slots; results are equal);
gradients pass straight through the integer forward (EViT finetuning)."""
from __future__ import annotations

import torch

from sievit.model import intfn
from sievit.model.layers import Fx
from sievit.quant import contract as C
from sievit.quant.budgets import evit_keep_count
from sievit.quant.golden_reduce import ppt_pool_mask
from sievit.quant.reduce import log_size_table

PROPORTIONAL = ("tome", "ppt")


class State:
    """Per-slot bookkeeping of a batch: live mask, sizes, CP-ViT scores, head mask."""

    def __init__(self, b: int, s: int, n_orig: int, heads: int, device: torch.device):
        self.policy = torch.zeros(b, s, dtype=torch.bool, device=device)
        self.policy[:, :n_orig] = True
        self.size = torch.ones(b, s, dtype=torch.int64, device=device)
        self.cum = torch.zeros(b, s, dtype=torch.int64, device=device)
        self.head_mask = torch.ones(b, heads, dtype=torch.int64, device=device)
        self.head_score = torch.zeros(b, heads, dtype=torch.int64, device=device)

    def cand(self) -> torch.Tensor:
        c = self.policy.clone()
        c[:, 0] = False
        return c


def size_bias(size: torch.Tensor, frac: int | None) -> torch.Tensor:
    """ln(size) per key in logit units; quant: the contract's ROM value at the logits' frac."""
    if frac is None:
        return torch.log(size.double())
    tab = torch.from_numpy(log_size_table(int(size.max()))).to(size.device)
    return intfn.from_int(intfn.rshift_rne(tab[size], C.LOG_SIZE_FRAC - frac), frac, torch.float64)


def forward(model, images: torch.Tensor, prune: str):
    """ViT forward for the non-HeatViT methods; prune: none | reduce."""
    from sievit.model.vit import Output
    if prune not in ("none", "reduce"):
        raise ValueError(f"unknown mode {prune!r} for method {model.method} (none | reduce)")
    r = model.cfg["reduction"]
    on = prune == "reduce"
    if on and not model.quant:
        raise ValueError(f"{model.method} runs in the quantized model only")
    x = model.embed(images)
    b, s = x.value.shape[:2]
    heads = model.blocks[0].heads
    st = State(b, s, model.n_patch + 1, heads, x.value.device)
    out = Output(torch.empty(0), None)
    stage = 0
    for i, blk in enumerate(model.blocks):
        info: dict = {}
        hmask = None
        if on and model.method == "cpvit" and r["heads_pruned"] and i >= r["head_block"]:
            if i == r["head_block"]:
                order = torch.sort(-st.head_score, dim=1, stable=True).indices
                st.head_mask.scatter_(1, order[:, heads - r["heads_pruned"]:], 0)
            hmask = st.head_mask
        bias = None
        if on and model.method in PROPORTIONAL:
            bias = size_bias(st.size, blk.q_act.frac() + blk.k_act.frac()).to(x.value.dtype)
        pol = st.policy.to(x.value.dtype)
        x = blk.res1(x.value + blk.attention(x, pol, bias, hmask, info))
        if on:
            probs = intfn.to_int(info["probs"], C.SOFTMAX_OUT_FRAC)
            if model.method == "cpvit":
                _cpvit_accumulate(st, probs, hmask is None)
            if stage < len(model.sel_blocks) and model.sel_blocks[stage] == i:
                x = _stage(model, r, stage, x, st, info, probs)
                out.policies.append(st.policy.to(x.value.dtype))
                out.keeps.append(out.policies[-1])
                stage += 1
        x = blk.mlp(x)
    return model.classify(x, out)


def _cpvit_accumulate(st: State, probs: torch.Tensor, heads_open: bool) -> None:
    q_live = st.policy[:, None, :, None]
    mr = torch.where(q_live, probs, torch.zeros_like(probs)).amax(dim=2)      # [B, H, S]
    live = st.cand()
    st.cum = st.cum + torch.where(live, mr.sum(1), torch.zeros_like(st.cum))
    if heads_open:
        st.head_score = st.head_score + torch.where(live[:, None], mr, torch.zeros_like(mr)).sum(2)


def _stage(model, r: dict, stage: int, x: Fx, st: State, info: dict, probs: torch.Tensor) -> Fx:
    method, cand = model.method, st.cand()
    m_cand = cand.sum(1)
    heads = probs.shape[1]
    if method == "evit":
        a = torch.where(cand, probs[:, :, 0, :].sum(1), torch.zeros_like(m_cand)[:, None])
        k = torch.from_numpy(evit_keep_count(r["keep_rate"], m_cand.cpu().numpy())).to(a.device)
        keep = intfn.topk_keep(a, cand, k)
        fuse = cand & ~keep
        w = torch.where(fuse, a, torch.zeros_like(a))
        ext = intfn.div_round_int((x.int() * w[..., None]).sum(1),
                                  torch.tensor(heads << C.SOFTMAX_OUT_FRAC)).clamp(-128, 127)
        wf = info["probs"][:, :, 0, :].mean(1) * fuse
        surrogate = (x.value * wf[..., None]).sum(1)
        val = intfn.ste(intfn.from_int(ext, x.frac, x.value.dtype), surrogate)
        slot = model.n_patch + 1 + stage
        has = fuse.any(1)
        value = x.value.clone()
        value[:, slot] = torch.where(has[:, None], val, value[:, slot])
        st.policy = st.policy & ~fuse
        st.policy[:, slot] = has
        return x.with_value(value)
    if method == "cpvit":
        k = torch.clamp(m_cand, max=r["keep_tokens"][stage])
        st.policy = st.policy & (intfn.topk_keep(st.cum, cand, k) | ~cand)
        return x
    r_img = torch.clamp((st.policy.sum(1) - 1) // 2, max=r["r"])
    if method == "tome":
        return _merge(x, st, info["k"], heads, r_img)
    if method == "ppt":
        vi = info["v"].int()
        score = torch.where(cand, probs[:, :, 0, :].sum(1), torch.zeros_like(st.cum)) \
            * intfn.isqrt_int((vi * vi).sum(-1))
        pool = torch.from_numpy(ppt_pool_mask(score.cpu().numpy(), cand.cpu().numpy(),
                                              r["tau"])).to(score.device)
        pruned_policy = st.policy & (intfn.topk_keep(score, cand, m_cand - r_img) | ~cand)
        size = st.size
        pooled = _merge(x, st, info["k"], heads, r_img)   # updates st to the pooled state
        st.policy = torch.where(pool[:, None], st.policy, pruned_policy)
        st.size = torch.where(pool[:, None], st.size, size)
        return x.with_value(torch.where(pool[:, None, None], pooled.value, x.value))
    raise ValueError(f"unknown reduction method {method!r}")


def _merge(x: Fx, st: State, k: Fx, heads: int, r_img: torch.Tensor) -> Fx:
    """ToMe bipartite matching and size-weighted merge on the live slots (see
    quant.reduce.bipartite_merge for the rule)."""
    alive = st.policy
    rank = alive.to(torch.int64).cumsum(1) - 1
    is_a = alive & (rank % 2 == 0) & (rank > 0)
    is_b = alive & (rank % 2 == 1)
    ki = k.int()
    b, s, d = ki.shape
    kbar = ki.reshape(b, s, heads, d // heads).sum(2)
    norm = intfn.isqrt_int((kbar * kbar).sum(-1)).clamp(min=1)
    u = intfn.div_round_int(kbar * (1 << C.SIM_UNIT_FRAC), norm[..., None])
    sim = torch.round(u.double() @ u.double().transpose(1, 2))
    sim = torch.where(is_a[:, :, None] & is_b[:, None, :], sim, torch.full_like(sim, float("-inf")))
    node, dst = sim.max(dim=2)
    merge = intfn.topk_keep(node, is_a, r_img)
    bi, si = merge.nonzero(as_tuple=True)
    di = dst[bi, si]
    size = st.size
    num_i = x.int() * size[..., None]
    num_f = x.value * size[..., None].to(x.value.dtype)
    den = size.clone()
    num_i = num_i.index_put((bi, di), num_i[bi, si], accumulate=True)
    num_f = num_f.index_put((bi, di), num_f[bi, si], accumulate=True)
    den = den.index_put((bi, di), size[bi, si], accumulate=True)
    is_dst = torch.zeros_like(alive)
    is_dst[bi, di] = True
    avg_i = intfn.div_round_int(num_i, den[..., None]).clamp(-128, 127)
    avg = intfn.ste(intfn.from_int(avg_i, x.frac, x.value.dtype), num_f / den[..., None])
    st.policy = alive & ~merge
    st.size = den
    return x.with_value(torch.where(is_dst[..., None], avg, x.value))
