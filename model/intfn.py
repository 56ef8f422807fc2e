"""The model's integer forward functions in torch (int64), written apart from the golden
model's NumPy ops (quant/intops.py); both follow docs/numerics.md. Each `*_int` takes integer
tensors and returns integer tensors; `ste` glues an integer forward to a float surrogate whose
gradient is used in training (straight-through)."""
from __future__ import annotations

import torch

from sievit.quant import contract as C


def ste(exact: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """Forward value `exact`, gradient of `surrogate`."""
    return surrogate + (exact.to(surrogate.dtype) - surrogate).detach()


def to_int(value: torch.Tensor, frac: int) -> torch.Tensor:
    """Integer code of a fixed-point float tensor (exact for values on the 2^-frac grid)."""
    return torch.round(value.detach() * (2.0 ** frac)).to(torch.int64)


def from_int(q: torch.Tensor, frac: int, dtype: torch.dtype) -> torch.Tensor:
    return q.to(dtype) * (2.0 ** -frac)


def shift_floor(x: torch.Tensor, shift: int) -> torch.Tensor:
    return x * (1 << -shift) if shift <= 0 else torch.div(x, 1 << shift, rounding_mode="floor")


def div_round_int(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """Round half up of num/den, den > 0."""
    return torch.div(2 * num + den, 2 * den, rounding_mode="floor")


def isqrt_int(v: torch.Tensor) -> torch.Tensor:
    r = torch.sqrt(v.to(torch.float64)).floor().to(torch.int64)
    r = torch.where(r * r > v, r - 1, r)
    return torch.where((r + 1) * (r + 1) <= v, r + 1, r)


def softmax_int(x: torch.Tensor, frac: int, valid: torch.Tensor | None) -> torch.Tensor:
    """Integer softmax over the last dim; `valid` masks keys (broadcastable bool)."""
    if valid is None:
        valid = torch.ones_like(x, dtype=torch.bool)
    valid = valid.expand_as(x)
    floor_val = torch.iinfo(torch.int64).min // 4
    row_max = torch.where(valid, x, torch.full_like(x, floor_val)).amax(dim=-1, keepdim=True)
    d = shift_floor(torch.where(valid, x - row_max, torch.zeros_like(x)), frac - C.EXP_FRAC)
    z = torch.div(-d, C.EXP_LN2, rounding_mode="floor")
    p = d + z * C.EXP_LN2
    poly = (p + C.EXP_B) * (p + C.EXP_B) + C.EXP_C
    e = torch.bitwise_right_shift(poly, z.clamp(max=C.EXP_MAX_SHIFT))
    e = torch.where(valid, e, torch.zeros_like(e))
    total = e.sum(dim=-1, keepdim=True).clamp(min=1)
    recip = torch.div(torch.full_like(total, 1 << C.SOFTMAX_RECIP_BITS), total, rounding_mode="floor")
    sh = C.SOFTMAX_RECIP_BITS - C.SOFTMAX_OUT_FRAC
    out = torch.bitwise_right_shift(e * recip + (1 << (sh - 1)), sh)
    return out.clamp(max=C.SOFTMAX_OUT_MAX)


def gelu_int(q: torch.Tensor, frac: int) -> torch.Tensor:
    """GELU at frac GELU_OUT_FRAC of int q at `frac`."""
    x = shift_floor(q, frac - C.GELU_FRAC)
    one = 1 << (2 * C.GELU_FRAC)
    gap = C.GELU_CLIP - x.abs().clamp(max=C.GELU_CLIP)
    erf_abs = one - torch.bitwise_right_shift(gap * gap * C.GELU_A, C.GELU_A_SHIFT)
    return x * (one + torch.sign(x) * erf_abs)


def layernorm_int(q: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """n * gamma + beta at frac LN_NORM_FRAC + gamma's frac, over the last dim."""
    dim = q.shape[-1]
    c = dim * q - q.sum(dim=-1, keepdim=True)
    v = (c * c).sum(dim=-1, keepdim=True)
    den = isqrt_int(torch.div(v, dim, rounding_mode="floor")).clamp(min=1)
    recip = torch.div(torch.full_like(den, 1 << C.LN_RECIP_BITS), den, rounding_mode="floor")
    prod = c * recip
    sh = C.LN_RECIP_BITS - C.LN_NORM_FRAC
    # round half to even of prod / 2^sh
    fl = torch.div(prod, 1 << sh, rounding_mode="floor")
    rem = prod - fl * (1 << sh)
    half = 1 << (sh - 1)
    n = fl + ((rem > half) | ((rem == half) & (fl % 2 == 1))).to(torch.int64)
    return n * gamma + beta


def sigmoid_int(d: torch.Tensor, frac: int) -> torch.Tensor:
    """PLAN sigmoid, Q0.8 output in [0, 256]."""
    t = d.abs()
    one = 1 << frac
    v = torch.where(t < one, 8 * t + 16 * one,
        torch.where(8 * t < 19 * one, 4 * t + 20 * one,
        torch.where(t < 5 * one, t + 27 * one, torch.full_like(t, 32 * one))))
    p = shift_floor(v, frac + 5 - C.SIGMOID_OUT_FRAC)
    return torch.where(d >= 0, p, (1 << C.SIGMOID_OUT_FRAC) - p)


def rshift_rne(x: torch.Tensor, shift: int) -> torch.Tensor:
    """x * 2^-shift rounded half to even (shift <= 0: exact left shift)."""
    if shift <= 0:
        return x * (1 << -shift)
    fl = torch.div(x, 1 << shift, rounding_mode="floor")
    rem = x - fl * (1 << shift)
    half = 1 << (shift - 1)
    return fl + ((rem > half) | ((rem == half) & (fl % 2 == 1))).to(x.dtype)


def topk_keep(score: torch.Tensor, cand: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Keep the k[b] best candidates of each row (integer scores); ties to the lower slot."""
    key = torch.where(cand, score.to(torch.float64), torch.full_like(score, float("-inf"),
                                                                      dtype=torch.float64))
    order = torch.sort(-key, dim=1, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    return cand & (rank < k.to(rank.device)[:, None])
