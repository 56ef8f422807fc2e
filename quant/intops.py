"""Golden integer operations: pure NumPy int64, the numeric contract of docs/numerics.md.

Every function takes and returns integer arrays; fractional-bit counts ("frac") say where the
binary point is (value = q * 2^-frac).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from sievit.quant import contract as C

I64 = np.int64


class SaturationCounter:
    """Per tensor name: how many values a saturating step clipped, out of how many it saw.
    `rows` ([B, N] bool, set by the golden model per block) restricts counting to live
    token rows of arrays shaped [B, N, ...] (attention [B, H, N, N]: live queries and keys)."""

    def __init__(self) -> None:
        self.saturated: dict[str, int] = {}
        self.elements: dict[str, int] = {}
        self.rows: np.ndarray | None = None

    def add(self, name: str, clipped: np.ndarray, per_row: bool = True) -> None:
        rows = self.rows if per_row else None
        if rows is not None and clipped.ndim == 4 and clipped.shape[0] == rows.shape[0] \
                and clipped.shape[2] == clipped.shape[3] == rows.shape[1]:
            live = np.broadcast_to(rows[:, None, :, None] & rows[:, None, None, :], clipped.shape)
        elif rows is not None and clipped.ndim >= 2 and clipped.shape[:2] == rows.shape:
            live = np.broadcast_to(rows.reshape(rows.shape + (1,) * (clipped.ndim - 2)), clipped.shape)
        else:
            live = np.ones(clipped.shape, dtype=bool)
        self.saturated[name] = self.saturated.get(name, 0) + int((clipped & live).sum())
        self.elements[name] = self.elements.get(name, 0) + int(live.sum())

    def report(self) -> dict:
        """{saturated, elements, tensors: {name: {saturated, elements}}} in call order."""
        return {"saturated": sum(self.saturated.values()), "elements": sum(self.elements.values()),
                "tensors": {k: {"saturated": self.saturated[k], "elements": self.elements[k]}
                            for k in self.saturated}}


_COUNTER: ContextVar[SaturationCounter | None] = ContextVar("sievit_saturation", default=None)


@contextmanager
def count_saturation() -> Iterator[SaturationCounter]:
    """Count the saturations of every named requant / softmax / sigmoid inside the block."""
    counter = SaturationCounter()
    token = _COUNTER.set(counter)
    try:
        yield counter
    finally:
        _COUNTER.reset(token)


def set_live_rows(rows: np.ndarray | None) -> None:
    """Golden model hook: the live token rows [B, N] of the arrays counted next."""
    counter = _COUNTER.get()
    if counter is not None:
        counter.rows = rows


def _note(name: str | None, clipped_fn, per_row: bool = True) -> None:
    counter = _COUNTER.get()
    if counter is not None and name is not None:
        counter.add(name, clipped_fn(), per_row)


def rshift_rne(x: np.ndarray, shift: int) -> np.ndarray:
    """x * 2^-shift rounded half to even (shift may be <= 0: exact left shift)."""
    x = np.asarray(x, dtype=I64)
    if shift <= 0:
        return x << I64(-shift)
    q = x >> I64(shift)
    r = x - (q << I64(shift))
    half = I64(1) << I64(shift - 1)
    up = (r > half) | ((r == half) & ((q & 1) == 1))
    return q + up.astype(I64)


def rshift_floor(x: np.ndarray, shift: int) -> np.ndarray:
    x = np.asarray(x, dtype=I64)
    return x << I64(-shift) if shift <= 0 else x >> I64(shift)


def saturate(x: np.ndarray, bits: int = C.ACT_BITS) -> np.ndarray:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.clip(x, lo, hi).astype(I64)


def requant(acc: np.ndarray, frac_in: int, frac_out: int, bits: int = C.ACT_BITS,
            name: str | None = None, per_row: bool = True) -> np.ndarray:
    """Round-half-even from frac_in to frac_out fractional bits, then saturate to bits.
    `name`: the tensor whose clipped values a count_saturation() block counts."""
    r = rshift_rne(acc, frac_in - frac_out)
    _note(name, lambda: (r < -(1 << (bits - 1))) | (r > (1 << (bits - 1)) - 1), per_row)
    return saturate(r, bits)


def align_add(a: np.ndarray, fa: int, b: np.ndarray, fb: int) -> tuple[np.ndarray, int]:
    """Exact sum of two fixed-point values; returns (sum, frac) at the finer of the two."""
    f = max(fa, fb)
    return (np.asarray(a, I64) << I64(f - fa)) + (np.asarray(b, I64) << I64(f - fb)), f


def div_round(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den rounded half up (toward +inf) for den > 0: floor((2 num + den) / (2 den))."""
    num = np.asarray(num, I64)
    den = np.asarray(den, I64)
    return np.floor_divide(2 * num + den, 2 * den)


def int_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact integer product x @ w.T. BLAS in float64 is exact here: every partial sum is an
    integer below 2^53 (int8 x int8 products, K <= 2^20), checked below."""
    k = x.shape[-1]
    assert k <= (1 << 20), k
    assert np.abs(x).max(initial=0) <= (1 << 16) and np.abs(w).max(initial=0) <= (1 << 16)
    return np.rint(x.astype(np.float64) @ w.astype(np.float64).T).astype(I64)


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """int32 accumulator of x @ w.T + b (bias already at the accumulator's scale)."""
    return int_matmul(x, w) + np.asarray(b, I64)


def isqrt(v: np.ndarray) -> np.ndarray:
    """floor(sqrt(v)) for 0 <= v < 2^62, exact."""
    v = np.asarray(v, I64)
    r = np.floor(np.sqrt(v.astype(np.float64))).astype(I64)
    r = np.where(r * r > v, r - 1, r)
    r = np.where((r + 1) * (r + 1) <= v, r + 1, r)
    return r


def softmax(x: np.ndarray, frac: int, valid: np.ndarray | None = None,
            name: str | None = None) -> np.ndarray:
    """Integer softmax over the last axis. x: int logits at `frac`; valid: bool mask of the
    columns that take part (others get 0). Output uint8-range probabilities at 2^-8;
    `name`: count the probabilities clamped to SOFTMAX_OUT_MAX."""
    x = np.asarray(x, I64)
    if valid is None:
        valid = np.ones(x.shape, dtype=bool)
    valid = np.broadcast_to(valid, x.shape)
    lowest = np.iinfo(I64).min // 4
    m = np.max(np.where(valid, x, lowest), axis=-1, keepdims=True)
    d = rshift_floor(np.where(valid, x - m, 0), frac - C.EXP_FRAC)
    z = np.floor_divide(-d, C.EXP_LN2)
    p = d + z * C.EXP_LN2
    poly = (p + C.EXP_B) ** 2 + C.EXP_C
    e = np.where(valid, poly >> np.minimum(z, C.EXP_MAX_SHIFT), 0)
    total = np.sum(e, axis=-1, keepdims=True)
    recip = np.floor_divide(I64(1) << I64(C.SOFTMAX_RECIP_BITS), np.maximum(total, 1))
    shift = C.SOFTMAX_RECIP_BITS - C.SOFTMAX_OUT_FRAC
    out = (e * recip + (I64(1) << I64(shift - 1))) >> I64(shift)
    _note(name, lambda: out > C.SOFTMAX_OUT_MAX)
    return np.minimum(out, C.SOFTMAX_OUT_MAX)


def gelu(q: np.ndarray, frac: int) -> np.ndarray:
    """Integer GELU of int8 q at `frac` (moved to GELU_FRAC by an exact left shift, or a floor
    right shift). Returns GELU at frac GELU_OUT_FRAC."""
    x = rshift_floor(q, frac - C.GELU_FRAC)
    t = np.minimum(np.abs(x), C.GELU_CLIP)
    erf_abs = (I64(1) << I64(2 * C.GELU_FRAC)) - (((C.GELU_CLIP - t) ** 2 * C.GELU_A) >> C.GELU_A_SHIFT)
    erf = np.sign(x) * erf_abs
    return x * ((I64(1) << I64(2 * C.GELU_FRAC)) + erf)


def layernorm(q: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Integer LayerNorm over the last axis of int8 q. gamma: int8 at frac fg; beta: int at
    frac LN_NORM_FRAC + fg. Returns n * gamma + beta at frac LN_NORM_FRAC + fg."""
    q = np.asarray(q, I64)
    d = q.shape[-1]
    s1 = np.sum(q, axis=-1, keepdims=True)
    c = d * q - s1
    v = np.sum(c * c, axis=-1, keepdims=True)
    den = np.maximum(isqrt(v // d), 1)
    recip = np.floor_divide(I64(1) << I64(C.LN_RECIP_BITS), den)
    n = rshift_rne(c * recip, C.LN_RECIP_BITS - C.LN_NORM_FRAC)
    return n * np.asarray(gamma, I64) + np.asarray(beta, I64)


def sigmoid(d: np.ndarray, frac: int, name: str | None = None, per_row: bool = True) -> np.ndarray:
    """Piecewise-linear sigmoid (PLAN) of int d at `frac`; output Q0.8 in [0, 256].
    `name`: count the inputs in the flat tails (|d| >= 5, output 0 or 256)."""
    d = np.asarray(d, I64)
    t = np.abs(d)
    one = I64(1) << I64(frac)
    _note(name, lambda: t >= 5 * one, per_row)
    v = np.where(t < one, 8 * t + 16 * one,
        np.where(8 * t < 19 * one, 4 * t + 20 * one,
        np.where(t < 5 * one, t + 27 * one, 32 * one)))
    p = rshift_floor(v, frac + 5 - C.SIGMOID_OUT_FRAC)
    return np.where(d >= 0, p, (I64(1) << I64(C.SIGMOID_OUT_FRAC)) - p)
