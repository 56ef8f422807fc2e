"""Golden integer functions of channel reduction (docs/numerics.md "Channel masks"): CAIT's
CDCP gate (per-image top-k channel masks shared by all heads, Q and K sharing one mask) and
PRANCE's actor (per-image width and token-keep choices from an integer MLP). A mask zeroes
the channels it drops right where they are produced, which equals skipping those weight
rows / columns, so the MAC count leaves them out."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sievit.quant import intops as op

I64 = np.int64


@dataclass
class ChannelMasks:
    """0/1 int64 masks per image; None means every channel of that group is live."""
    qk: np.ndarray | None = None      # [B, D] Q and K channels (one head mask tiled over heads)
    v: np.ndarray | None = None       # [B, D] V channels (tiled likewise)
    embed: np.ndarray | None = None   # [B, D] residual channels the block's linears read/write
    mlp: np.ndarray | None = None     # [B, mlp_dim] MLP hidden channels

    def widths(self, dim: int, mlp_dim: int) -> tuple:
        """(e, w_qk, w_v, m) live channel counts per image (or the full widths)."""
        def cnt(mask, full):
            return full if mask is None else mask.sum(axis=1)
        return cnt(self.embed, dim), cnt(self.qk, dim), cnt(self.v, dim), cnt(self.mlp, mlp_dim)


def apply(x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Zero the masked channels of [B, N, C] (mask [B, C])."""
    return x if mask is None else x * mask[:, None, :]


def masked_mean(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mean over the live rows of each image, rounded half up (int8 range kept)."""
    cnt = np.maximum(valid.sum(axis=1, keepdims=True), 1)
    return op.div_round((x * valid[..., None]).sum(axis=1), cnt)


def cdcp_gate(g, j: int, x: np.ndarray, fx: int, valid: np.ndarray) -> np.ndarray:
    """CDCP gate j: mean of the block input over live tokens -> fc1 -> int8 (mid) -> ReLU ->
    fc2: int32 keep logits [B, 2 d_h + mlp_dim] (groups QK, V, MLP hidden)."""
    p = f"gates.{j}."
    acc, fa = g.lin(p + "fc1", masked_mean(x, valid), fx)
    mid = np.maximum(op.requant(acc, fa, g.b.f(p + "mid")), 0)
    return g.lin(p + "fc2", mid, g.b.f(p + "mid"))[0]


def topk_mask(logits: np.ndarray, k: int) -> np.ndarray:
    """1 for the k largest logits of each row (ties to the lower channel)."""
    order = np.argsort(-logits, axis=1, kind="stable")
    mask = np.zeros(logits.shape, I64)
    np.put_along_axis(mask, order[:, :k], 1, axis=1)
    return mask


def cdcp_masks(logits: np.ndarray, counts: list[int], heads: int, dh: int) -> ChannelMasks:
    """Per-group top-k of the gate's logits; QK and V head masks tiled over the heads."""
    qk = topk_mask(logits[:, :dh], counts[0])
    v = topk_mask(logits[:, dh:2 * dh], counts[1])
    mlp = topk_mask(logits[:, 2 * dh:], counts[2])
    return ChannelMasks(qk=np.tile(qk, heads), v=np.tile(v, heads), mlp=mlp)


def leading(width: np.ndarray, full: int) -> np.ndarray:
    """[B, full] mask of the leading `width[b]` channels (PRANCE's weight sharing)."""
    return (np.arange(full)[None, :] < np.asarray(width)[:, None]).astype(I64)


def width_masks(widths: tuple[np.ndarray, np.ndarray], dim: int, mlp_dim: int) -> ChannelMasks:
    """PRANCE: (embedding, MLP) widths per image -> leading-channel masks."""
    return ChannelMasks(embed=leading(widths[0], dim), mlp=leading(widths[1], mlp_dim))


COST_SCALE = 1024   # useful cost weights are a few hundredths: 0.01 -> code 10


def cost_code(cost_weight: float) -> int:
    """The cost weight as the actor's last int8 input."""
    return min(127, int(round(cost_weight * COST_SCALE)))


def actor_state(k: np.ndarray, n: np.ndarray, n_max: int, cost_weight: float) -> np.ndarray:
    """PRANCE state: each live token's key averaged over heads and channels (rounded half up;
    rows in token order, zero past the live ones, padded to n_max), then the cost code."""
    b, rows, d = k.shape
    avg = op.div_round(k.sum(axis=-1), I64(d))
    avg = np.where(np.arange(rows)[None, :] < n[:, None], avg, 0)
    state = np.zeros((b, n_max + 1), I64)
    state[:, :rows] = avg
    state[:, n_max] = cost_code(cost_weight)
    return state


def action_thresholds(n_choices: int, frac: int) -> np.ndarray:
    """Integer logit thresholds T_j = ceil(atanh(2j/n - 1) 2^frac), j = 1..n-1: the action
    mean (tanh(z) + 1) / 2 reaches j/n exactly when z >= T_j."""
    return np.array([math.ceil(math.atanh(2 * j / n_choices - 1) * 2.0 ** frac)
                     for j in range(1, n_choices)], dtype=I64)


def actor_choices(g, s: int, state: np.ndarray, fs: int, n_choices: list[int]) -> np.ndarray:
    """Actor s: state -> fc1 -> int8 -> ReLU -> fc2 -> int8 -> ReLU -> fc3 (int32 z) ->
    choice index per output = number of thresholds z reaches. [B, outputs]."""
    p = f"actors.{s}."
    h = state
    f = fs
    for layer in ("fc1", "fc2"):
        acc, fa = g.lin(p + layer, h, f)
        f = g.b.f(p + layer + "_out")
        h = np.maximum(op.requant(acc, fa, f), 0)
    z, fz = g.lin(p + "fc3", h, f)
    return np.stack([(z[:, a, None] >= action_thresholds(n, fz)[None, :]).sum(axis=1)
                     for a, n in enumerate(n_choices)], axis=1)


def keep_count(ratios, m: np.ndarray) -> np.ndarray:
    """PRANCE keeps floor(rho M) of an image's M candidate tokens (rho per image)."""
    return np.array([int(math.floor(float(r) * int(v) + 1e-9)) for r, v in zip(ratios, m)], I64)


