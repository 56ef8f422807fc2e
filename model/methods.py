"""EViT, ToMe, PPT, CP-ViT, CAIT and PRANCE on the ViT's fixed slot layout [CLS, patches..., extra slots]
(policy: 1 = live slot). Each reduction runs inside its block after the attention residual,
on the block's own attention: scores from the integer probabilities, then drop / fuse /
merge. Quant mode computes the integer contract of docs/numerics.md exactly (the golden
model's quant/golden_reduce.py compacts tokens instead of masking slots; results are equal);
gradients pass straight through the integer forward (EViT finetuning)."""
from __future__ import annotations

import torch

from sievit.model import intfn
from sievit.model.channel_units import actor_state, choices_from_z, topk_mask
from sievit.model.layers import Fx
from sievit.quant import contract as C
from sievit.quant.budgets import cait_windows, evit_keep_count, prance_actions
from sievit.quant.channels import keep_count
from sievit.quant.golden_reduce import PROPORTIONAL, ppt_pool_mask
from sievit.quant.reduce import log_size_table


class State:
    """Per-slot bookkeeping of a batch: live mask, sizes, CP-ViT scores, head mask."""

    def __init__(self, b: int, s: int, n_orig: int, heads: int, device: torch.device):
        self.policy = torch.zeros(b, s, dtype=torch.bool, device=device)
        self.policy[:, :n_orig] = True
        self.size = torch.ones(b, s, dtype=torch.int64, device=device)
        self.cum = torch.zeros(b, s, dtype=torch.int64, device=device)
        self.head_mask = torch.ones(b, heads, dtype=torch.int64, device=device)
        self.head_score = torch.zeros(b, heads, dtype=torch.int64, device=device)
        self.widths: tuple[torch.Tensor, torch.Tensor] | None = None   # PRANCE (embed, mlp)

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


def forward(model, images: torch.Tensor, prune: str, control: dict | None = None):
    """ViT forward for the non-HeatViT methods; prune: none | reduce. control (PRANCE
    training): mode deterministic | random | sample, sigma, cost [B], record (list)."""
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
    m = model.cfg["model"]
    out.aux = {"gates": [], "tokens": []}
    for i, blk in enumerate(model.blocks):
        info: dict = {}
        hmask = None
        chan = None
        n_in = st.policy.sum(1)
        if on and model.method == "cait" and i in r["gate_blocks"]:
            chan = _cdcp(model, r, r["gate_blocks"].index(i), x, st, heads)
            out.aux["gates"].append((n_in, chan.pop("soft")))
        if st.widths is not None:
            chan = _width_masks(st.widths, m["dim"], m["mlp_dim"])
        if on and model.method == "cpvit" and r["heads_pruned"] and i >= r["head_block"]:
            if i == r["head_block"]:
                order = torch.sort(-st.head_score, dim=1, stable=True).indices
                st.head_mask.scatter_(1, order[:, heads - r["heads_pruned"]:], 0)
            hmask = st.head_mask
        bias = None
        if on and model.method in PROPORTIONAL:
            bias = size_bias(st.size, blk.q_act.frac() + blk.k_act.frac()).to(x.value.dtype)
        pol = st.policy.to(x.value.dtype)
        x = blk.res1(x.value + blk.attention(x, pol, bias, hmask, info, chan))
        if on:
            probs = intfn.to_int(info["probs"], C.SOFTMAX_OUT_FRAC)
            if model.method == "cpvit":
                _cpvit_accumulate(st, probs, hmask is None)
            if stage < len(model.sel_blocks) and model.sel_blocks[stage] == i:
                if model.method == "prance":
                    x = _prance(model, r, stage, x, st, info, probs, control or {})
                    chan = _width_masks(st.widths, m["dim"], m["mlp_dim"])
                else:
                    x = _stage(model, r, stage, x, st, info, probs)
                out.policies.append(st.policy.to(x.value.dtype))
                out.keeps.append(out.policies[-1])
                stage += 1
        out.aux["tokens"].append((n_in, st.policy.sum(1), chan))
        x = blk.mlp(x, chan)
    return model.classify(x, out)


def _cdcp(model, r: dict, j: int, x: Fx, st: State, heads: int) -> dict:
    """CAIT's CDCP masks of one block (golden: quant.channels.cdcp_masks), plus the gate's
    sigmoid keep probabilities (soft) for the MAC-target loss."""
    logits, li = model.gates[j](x, st.policy)
    dh = model.cfg["model"]["dim"] // heads
    k_qk, k_v, k_m = r["channel_counts"]
    groups = [(slice(0, dh), k_qk), (slice(dh, 2 * dh), k_v), (slice(2 * dh, None), k_m)]
    masks = [topk_mask(logits[:, sl], None if li is None else li[:, sl], k) for sl, k in groups]
    soft = [torch.sigmoid(logits[:, sl]).sum(1) for sl, _ in groups]
    return {"qk": masks[0].repeat(1, heads), "v": masks[1].repeat(1, heads), "mlp": masks[2],
            "soft": soft}


def _width_masks(widths: tuple[torch.Tensor, torch.Tensor], dim: int, mlp_dim: int) -> dict:
    emb, hid = widths
    ar_e = torch.arange(dim, device=emb.device)[None]
    ar_m = torch.arange(mlp_dim, device=emb.device)[None]
    dtype = torch.get_default_dtype()
    return {"embed": (ar_e < emb[:, None]).to(dtype), "mlp": (ar_m < hid[:, None]).to(dtype)}


def _prance(model, r: dict, stage: int, x: Fx, st: State, info: dict, probs: torch.Tensor,
            control: dict) -> Fx:
    """PRANCE decision (golden: quant.golden_reduce._prance_stage): the actor's choices,
    then the token step."""
    b = x.value.shape[0]
    dev = x.value.device
    cost = control.get("cost", torch.full((b,), r["cost_weight"]))
    state = actor_state(info["k"], st.policy, cost)
    z, fz = model.actors[stage](state)
    n_choices = prance_actions(model.cfg)
    mode = control.get("mode", "deterministic")
    if mode == "deterministic":
        pick = choices_from_z(intfn.to_int(z, fz), fz, n_choices)
    elif mode == "random":    # meta-network pretraining: uniform, the full net a quarter of the time
        full = torch.rand(b, device=dev) < control.get("p_full", 0.25)
        pick = torch.stack([torch.where(full, n - 1, torch.randint(0, n, (b,), device=dev))
                            for n in n_choices], dim=1)
    elif mode == "sample":    # PPO rollouts: Gaussian around the mean action
        mu = (torch.tanh(z.detach()) + 1) / 2
        a = mu + control["sigma"] * torch.randn_like(mu)
        n_t = torch.tensor(n_choices, device=dev)
        pick = torch.minimum((a.clamp(0, 1) * n_t).floor().to(torch.int64), n_t - 1)
        control["record"].append({"state": state.value.detach(), "frac": state.frac, "a": a})
    else:
        raise ValueError(f"unknown PRANCE control mode {mode!r}")
    def chosen(key: str, col: int, dtype: torch.dtype) -> torch.Tensor:
        return torch.tensor(r[key], dtype=dtype, device=dev)[pick[:, col]]

    st.widths = (chosen("embed_widths", 1, torch.int64), chosen("mlp_widths", 0, torch.int64))
    cand = st.cand()
    attn = torch.where(cand, probs[:, :, 0, :].sum(1), torch.zeros_like(st.cum))
    rho = chosen("token_keeps", 2, torch.float64)
    keep_n = torch.from_numpy(keep_count(rho.cpu().numpy(), cand.sum(1).cpu().numpy())).to(dev)
    keep = intfn.topk_keep(attn, cand, keep_n)
    drop = cand & ~keep
    if r["token_action"] == "merge":
        u = _unit(x.int(), 1)
        sim = torch.round(u.double() @ u.double().transpose(1, 2))
        sim = torch.where(keep[:, None, :], sim, torch.full_like(sim, float("-inf")))
        dst = sim.max(dim=2).indices
        x = _merge_into(x, st, drop & keep.any(1)[:, None], dst, weighted=False)
    st.policy = st.policy & ~drop
    return x


def _atme(model, r: dict, stage: int, x: Fx, st: State, k: Fx, probs: torch.Tensor,
          heads: int) -> Fx:
    """CAIT's ATME (golden: quant.reduce.atme_merge) on the slots."""
    wr, wc = cait_windows(model.cfg)[stage]
    grid = model.grid
    cand = st.cand()
    s = cand.shape[1]
    pos = torch.arange(s, device=cand.device)
    patch = cand & (pos[None] <= model.n_patch)
    row = torch.div((pos - 1).clamp(min=0), grid, rounding_mode="floor")
    col = (pos - 1).clamp(min=0) % grid
    wid = torch.where(patch, ((row // wr) * -(-grid // wc) + col // wc)[None], -1 - pos[None])
    attn = torch.where(cand, probs[:, :, 0, :].sum(1), torch.zeros_like(st.cum))
    rank = torch.where((wid[:, :, None] == wid[:, None, :]) & patch[:, None, :],
                       (attn * s + (s - 1 - pos)[None])[:, None, :], -1)
    anchor = rank.argmax(2)
    member = patch & (anchor != pos[None])
    u = _unit(k.int(), heads)
    sim = (u * torch.gather(u, 1, anchor[..., None].expand_as(u))).sum(-1)
    r_img = torch.clamp(member.sum(1), max=r["merge_r"][stage])
    merge = intfn.topk_keep(sim, member, r_img)
    x = _merge_into(x, st, merge, anchor, weighted=True)
    st.policy = st.policy & ~merge
    return x


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
    if method == "cait":
        return _atme(model, r, stage, x, st, info["k"], probs, heads)
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


def _unit(ki: torch.Tensor, heads: int) -> torch.Tensor:
    """Keys summed over heads at length 2^SIM_UNIT_FRAC (quant.reduce.unit_keys)."""
    b, s, d = ki.shape
    kbar = ki.reshape(b, s, heads, d // heads).sum(2)
    norm = intfn.isqrt_int((kbar * kbar).sum(-1)).clamp(min=1)
    return intfn.div_round_int(kbar * (1 << C.SIM_UNIT_FRAC), norm[..., None])


def _merge(x: Fx, st: State, k: Fx, heads: int, r_img: torch.Tensor) -> Fx:
    """ToMe bipartite matching and size-weighted merge on the live slots (see
    quant.reduce.bipartite_merge for the rule)."""
    alive = st.policy
    rank = alive.to(torch.int64).cumsum(1) - 1
    is_a = alive & (rank % 2 == 0) & (rank > 0)
    is_b = alive & (rank % 2 == 1)
    u = _unit(k.int(), heads)
    sim = torch.round(u.double() @ u.double().transpose(1, 2))
    sim = torch.where(is_a[:, :, None] & is_b[:, None, :], sim, torch.full_like(sim, float("-inf")))
    node, dst = sim.max(dim=2)
    merge = intfn.topk_keep(node, is_a, r_img)
    x = _merge_into(x, st, merge, dst, weighted=True)
    st.policy = alive & ~merge
    return x


def _merge_into(x: Fx, st: State, merge: torch.Tensor, dst: torch.Tensor, weighted: bool) -> Fx:
    """Slots in `merge` join slot dst[b, slot] (quant.reduce.merge_into): size-weighted or
    plain average rounded half up, sizes add. The caller retires the sources."""
    bi, si = merge.nonzero(as_tuple=True)
    di = dst[bi, si]
    size = st.size
    w = size if weighted else torch.ones_like(size)
    num_i = x.int() * w[..., None]
    num_f = x.value * w[..., None].to(x.value.dtype)
    den = w.clone()
    num_i = num_i.index_put((bi, di), num_i[bi, si], accumulate=True)
    num_f = num_f.index_put((bi, di), num_f[bi, si], accumulate=True)
    den = den.index_put((bi, di), w[bi, si], accumulate=True)
    st.size = size.index_put((bi, di), size[bi, si], accumulate=True)
    is_dst = torch.zeros_like(merge)
    is_dst[bi, di] = True
    avg_i = intfn.div_round_int(num_i, den[..., None]).clamp(-128, 127)
    avg = intfn.ste(intfn.from_int(avg_i, x.frac, x.value.dtype), num_f / den[..., None])
    return x.with_value(torch.where(is_dst[..., None], avg, x.value))
