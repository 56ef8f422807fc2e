"""Token reduction as score source x decision x action, on a fixed slot layout
[CLS, patches..., package slot] with a keep policy per slot (1 = alive).

Score sources give each alive non-CLS token a keep score in [0, 1] (integer Q0.8 in quant
mode); decisions turn scores into keep masks (threshold, top-k, Gumbel in training); actions
apply the mask (package: fuse pruned tokens into one package token). Only the HeatViT pieces
exist so far; CLS-attention scores (EViT) or merging (ToMe) plug in as further classes."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sievit.model import intfn
from sievit.model.layers import Act, Fx, LayerNorm, Linear, gelu, sigmoid
from sievit.quant import contract as C


@dataclass
class Scores:
    value: torch.Tensor            # [B, N] keep score in [0, 1] (STE gradients)
    q: torch.Tensor | None         # [B, N] Q0.8 integer score (quant mode)


class HeatViTScore(nn.Module):
    """HeatViT selector: per-head local features GELU(Linear_h(x_h)), global = mean over alive
    tokens, per-head MLP -> (keep, prune) logits -> sigmoid of their difference; head weights
    from a sigmoid over the per-head global features; score = head-weighted mean."""

    def __init__(self, dim: int, heads: int, quant: bool):
        super().__init__()
        self.dim, self.heads, self.dh = dim, heads, dim // heads
        self.hid = self.dh // 2
        self.ln = LayerNorm(dim, quant)
        self.ln_out = Act(quant)
        self.local = nn.ModuleList(Linear(self.dh, self.hid, quant) for _ in range(heads))
        self.local_in = Act(quant)
        self.local_out = Act(quant)
        self.mlp1 = nn.ModuleList(Linear(self.dh, self.hid, quant) for _ in range(heads))
        self.mlp1_in = Act(quant)
        self.mlp1_out = Act(quant)
        self.mlp2 = nn.ModuleList(Linear(self.hid, 2, quant) for _ in range(heads))
        self.head_w = Linear(self.hid * heads, heads, quant)

    def forward(self, x: Fx, alive: torch.Tensor) -> Scores:
        """alive: [B, N] float 0/1 of the non-CLS tokens that take part (global mean)."""
        n = self.ln_out(self.ln(x)[0])
        loc = torch.cat([self.local[h](n.narrow(h * self.dh, self.dh))[0]
                         for h in range(self.heads)], dim=-1)
        loc = self.local_out(gelu(self.local_in(loc)))               # [B, N, H*hid]
        glob = self._masked_mean(loc, alive)                         # [B, H*hid]
        feats = []
        for h in range(self.heads):
            lh = loc.narrow(h * self.hid, self.hid)
            gh = glob[:, None, h * self.hid:(h + 1) * self.hid].expand_as(lh.value)
            feats.append(self.mlp1[h](lh.with_value(torch.cat([lh.value, gh], dim=-1)))[0])
        hid = self.mlp1_out(gelu(self.mlp1_in(torch.cat(feats, dim=-1))))
        probs, probs_q = [], []
        for h in range(self.heads):
            logits, frac = self.mlp2[h](hid.narrow(h * self.hid, self.hid))
            p, pq = sigmoid(logits[..., 0] - logits[..., 1], frac)
            probs.append(p)
            probs_q.append(pq)
        w_acc, w_frac = self.head_w(loc.with_value(glob[:, None]))  # one row per image
        w, wq = sigmoid(w_acc[:, 0], w_frac)                         # [B, H]
        p = torch.stack(probs, dim=-1)                               # [B, N, H]
        wsum = w.sum(dim=-1, keepdim=True)
        score = (p * w[:, None]).sum(-1) / (wsum + 1e-6)
        if wq is None:
            return Scores(score, None)
        pq = torch.stack(probs_q, dim=-1)
        num = (pq * wq[:, None]).sum(-1)
        den = wq.sum(-1, keepdim=True)
        plain = torch.div(pq.sum(-1), self.heads, rounding_mode="floor")
        sq = torch.where(den > 0, torch.div(num, den.clamp(min=1), rounding_mode="floor"), plain)
        return Scores(intfn.ste(intfn.from_int(sq, C.SIGMOID_OUT_FRAC, score.dtype), score), sq)

    @staticmethod
    def _masked_mean(loc: Fx, alive: torch.Tensor) -> torch.Tensor:
        w = alive[..., None]
        cnt = w.sum(dim=1)
        surrogate = (loc.value * w).sum(dim=1) / cnt.clamp(min=1)
        if loc.frac is None:
            return surrogate
        qi = loc.int()
        mask = (alive.detach() > 0.5)[..., None].to(torch.int64)
        num = (qi * mask).sum(dim=1)
        den = mask.sum(dim=1).clamp(min=1)
        g = intfn.div_round_int(num, den)
        return intfn.ste(intfn.from_int(g, loc.frac, loc.value.dtype), surrogate)


def decide_threshold(scores: Scores) -> torch.Tensor:
    if scores.q is not None:
        return (scores.q >= C.KEEP_THRESHOLD).to(scores.value.dtype)
    return (scores.value >= 0.5).to(scores.value.dtype)


def decide_topk(scores: Scores, cand: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k best candidates; ties go to the lower token index (stable sort)."""
    key = scores.q.to(torch.float64) if scores.q is not None else scores.value.detach().double()
    key = torch.where(cand > 0.5, key, torch.full_like(key, -1.0))
    order = torch.sort(-key, dim=-1, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    return ((rank < k) & (cand > 0.5)).to(scores.value.dtype)


def decide_gumbel(scores: Scores, tau: float = 1.0) -> torch.Tensor:
    """Hard Gumbel-sigmoid keep mask with straight-through soft gradients (training)."""
    # Integer scores saturate at exactly 0 or 1; clamp the forward value only, or a saturated
    # score would pass no gradient to the selector at all.
    s = intfn.ste(scores.value.detach().clamp(1e-4, 1 - 1e-4), scores.value)
    logit = torch.log(s) - torch.log1p(-s)
    u = torch.rand_like(s).clamp(1e-6, 1 - 1e-6)
    noisy = (logit + torch.log(u) - torch.log1p(-u)) / tau
    soft = torch.sigmoid(noisy)
    return intfn.ste((soft > 0.5).to(soft.dtype), soft)


def package(x: Fx, fuse: torch.Tensor, scores: Scores, slot: int) -> tuple[Fx, torch.Tensor]:
    """Fuse the tokens marked in `fuse` ([B, N], 0/1 with STE) into one package token written
    at `slot`: keep-score-weighted average (plain mean if all weights are 0). Returns the new
    activations and whether each image has a package token."""
    w = scores.value * fuse
    wsum = w.sum(dim=1, keepdim=True)
    surrogate = (x.value * w[..., None]).sum(dim=1) / (wsum + 1e-6)
    fuse_hard = fuse.detach() > 0.5
    has_pkg = fuse_hard.any(dim=1)
    if x.frac is None:
        pkg = surrogate
    else:
        xi = x.int()
        fm = fuse_hard.to(torch.int64)
        wq = scores.q * fm
        wtot = wq.sum(dim=1, keepdim=True)
        num = (xi * wq[..., None]).sum(dim=1)
        plain_num = (xi * fm[..., None]).sum(dim=1)
        cnt = fm.sum(dim=1, keepdim=True).clamp(min=1)
        weighted = intfn.div_round_int(num, wtot.clamp(min=1))
        plain = intfn.div_round_int(plain_num, cnt)
        pq = torch.where(wtot > 0, weighted, plain)
        pkg = intfn.ste(intfn.from_int(pq, x.frac, x.value.dtype), surrogate)
    slot_mask = torch.zeros(x.value.shape[1], dtype=torch.bool, device=x.value.device)
    slot_mask[slot] = True
    new_value = torch.where(slot_mask[None, :, None], pkg[:, None, :], x.value)
    return x.with_value(new_value), has_pkg


class HeatViTReducer(nn.Module):
    """One reduction stage: HeatViT score, threshold / top-k / Gumbel decision, package."""

    def __init__(self, dim: int, heads: int, quant: bool):
        super().__init__()
        self.score = HeatViTScore(dim, heads, quant)

    def forward(self, x: Fx, policy: torch.Tensor, mode: str, k: int | None
                ) -> tuple[Fx, torch.Tensor, Scores, torch.Tensor]:
        """policy: [B, N] alive slots (CLS at 0, package slot last). Returns new activations,
        new policy, scores, and the keep mask of the patch candidates."""
        n = policy.shape[1]
        slot = n - 1
        is_patch = torch.zeros(n, dtype=policy.dtype, device=policy.device)
        is_patch[1:slot] = 1
        cls_mask = torch.zeros_like(is_patch)
        cls_mask[0] = 1
        alive_nc = policy * (1 - cls_mask)              # alive tokens except CLS
        cand = policy * is_patch                         # alive patches
        old_pkg = policy * (1 - is_patch - cls_mask)     # the package slot, if alive
        scores = self.score(x, alive_nc)
        if mode == "gumbel":
            keep = decide_gumbel(scores)
        elif mode == "threshold":
            keep = decide_threshold(scores)
        elif mode == "topk":
            keep = decide_topk(scores, cand, k)
        else:
            raise ValueError(f"unknown selector mode {mode!r}")
        keep = keep * cand
        fuse = cand - keep + old_pkg
        x_new, has_pkg = package(x, fuse, scores, slot)
        pkg_slot = (1 - is_patch - cls_mask)[None] * has_pkg[:, None].to(policy.dtype)
        new_policy = cls_mask[None] + keep + pkg_slot
        return x_new, new_policy, scores, keep
