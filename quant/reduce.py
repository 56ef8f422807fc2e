"""Golden integer functions of the token-reduction methods (EViT, ToMe, PPT, CP-ViT) on the
compacted token set: score sources from the block's attention, decisions, and actions (drop,
fuse into one extra token, size-weighted merge). docs/numerics.md "Reduction methods".

The engine-level functions (one name each, shared with the HLS engines in
hls/include/sievit/attention.h and reduce.h; quant/golden_reduce.py calls exactly these):
score sources of the attention engine -- `size_bias` (proportional attention),
`cls_attention` (EViT, PPT), `cpvit_accumulate` (CP-ViT's cumulative Σ_h max_i A_h[i, j] and
per-head mass), `ppt_score`, `unit_keys` (ToMe / PPT matching metric); actions of the reduce
engine -- `evit_fuse`, `drop_topk` (CP-ViT, PPT prune), `bipartite_merge` (ToMe, PPT pool),
`ppt_reduce` (PPT's per-image choice), `cpvit_head_mask`."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sievit.quant import contract as C
from sievit.quant import intops as op

I64 = np.int64
PKG_ID = -1              # id of a fused (package / EViT extra) token
ORIGIN_DROPPED = -1      # origin map: this original token was dropped
ORIGIN_FUSED = -2        # ... fused into a package token


@dataclass
class Tokens:
    """The live token set of a batch, compacted to the front of each row (CLS first)."""
    x: np.ndarray        # int64 [B, N, D] activations (int8 range)
    ids: np.ndarray      # [B, N] original token id, PKG_ID for fused tokens, -2 past n
    n: np.ndarray        # [B] live rows
    size: np.ndarray     # [B, N] original tokens each row stands for (merges add sizes)
    cum: np.ndarray      # [B, N] CP-ViT cumulative patch score
    origin: np.ndarray   # [B, T0] where each original token lives now (id, or a code < 0)

    @classmethod
    def start(cls, x: np.ndarray) -> "Tokens":
        b, n, _ = x.shape
        ids = np.broadcast_to(np.arange(n), (b, n)).copy()
        return cls(x, ids, np.full(b, n, dtype=I64), np.ones((b, n), I64),
                   np.zeros((b, n), I64), ids.copy())

    def valid(self) -> np.ndarray:
        return np.arange(self.x.shape[1])[None, :] < self.n[:, None]

    def patches(self) -> np.ndarray:
        """Live rows other than CLS."""
        return self.valid() & (np.arange(self.x.shape[1])[None, :] > 0)


def log_size_table(n_max: int) -> np.ndarray:
    """round(ln(s) * 2^LOG_SIZE_FRAC) for s = 0..n_max (entry 0 unused)."""
    return np.array([0] + [round(math.log(s) * (1 << C.LOG_SIZE_FRAC)) for s in range(1, n_max + 1)],
                    dtype=I64)


def size_bias(size: np.ndarray, frac: int) -> np.ndarray:
    """Proportional attention: ln(size) of each key at the logits' frac (round half even)."""
    tab = log_size_table(int(size.max(initial=1)))
    return op.rshift_rne(tab[np.maximum(size, 1)], C.LOG_SIZE_FRAC - frac)


def cls_attention(probs: np.ndarray, t: Tokens) -> np.ndarray:
    """Sum over heads of the CLS query's attention to each live non-CLS token (Q0.8 x H)."""
    return np.where(t.patches(), probs[:, :, 0, :].sum(axis=1), 0)


def ppt_score(probs: np.ndarray, v: np.ndarray, t: Tokens) -> np.ndarray:
    """PPT importance: CLS attention (sum over heads) times isqrt(||v_j||^2)."""
    vn = op.isqrt((v * v).sum(axis=-1))
    return cls_attention(probs, t) * vn


def max_received(probs: np.ndarray, t: Tokens) -> np.ndarray:
    """[B, H, N]: the strongest attention each live key gets from any live query (CP-ViT)."""
    q_valid = t.valid()[:, None, :, None]
    return np.where(q_valid, probs, 0).max(axis=2)


def cpvit_accumulate(probs: np.ndarray, t: Tokens, head_score: np.ndarray,
                     track_heads: bool) -> tuple[np.ndarray, np.ndarray]:
    """CP-ViT's score sources after one block's attention: the cumulative patch score
    cum + Σ_h max_i A_h[i, j] (live patches) and, while `track_heads`, each head's mass
    head_score + Σ_j max_i A_h[i, j] over live patches. Returns (cum, head_score)."""
    mr = max_received(probs, t)
    live = t.patches()
    cum = t.cum + np.where(live, mr.sum(axis=1), 0)
    if track_heads:
        head_score = head_score + np.where(live[:, None, :], mr, 0).sum(axis=2)
    return cum, head_score


def cpvit_head_mask(head_score: np.ndarray, pruned: int) -> np.ndarray:
    """[B, H] 1 for the heads kept: the `pruned` heads with the lowest mass go (ties: the
    higher head index goes first)."""
    b, heads = head_score.shape
    mask = np.ones((b, heads), I64)
    if pruned:
        order = np.argsort(-head_score, axis=1, kind="stable")
        np.put_along_axis(mask, order[:, heads - pruned:], 0, axis=1)
    return mask


def topk_keep(score: np.ndarray, cand: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Keep the k[b] best candidates of each row; ties go to the lower position."""
    n = score.shape[1]
    key = np.where(cand, score.astype(np.float64), -np.inf)  # scores < 2^53: exact
    order = np.argsort(-key, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(n), order.shape).copy(), axis=1)
    return cand & (rank < np.asarray(k)[:, None])


def _identity_lut(t: Tokens) -> np.ndarray:
    """[B, T0] map of original ids to themselves, to be edited and applied by _relabel."""
    b, t0 = t.origin.shape
    return np.broadcast_to(np.arange(t0), (b, t0)).copy()


def _relabel(t: Tokens, lut: np.ndarray) -> np.ndarray:
    """Apply a per-image map of current original ids (lut[b, id]) to the origin map."""
    o = t.origin
    looked = np.take_along_axis(lut, np.maximum(o, 0), axis=1)
    return np.where(o >= 0, looked, o)


def compact(t: Tokens, keep: np.ndarray, extra: np.ndarray | None = None,
            has_extra: np.ndarray | None = None, gone_code: int = ORIGIN_DROPPED) -> Tokens:
    """Keep the rows in `keep` (CLS included) in their order; append `extra` [B, D] as a
    fused token (id PKG_ID, size 1) where `has_extra`. Rows not kept are gone: their
    originals become `gone_code` in the origin map."""
    b, n, d = t.x.shape
    pos = np.arange(n)[None, :]
    keep = keep & t.valid()
    order = np.argsort(np.where(keep, 0, 1) * n + pos, axis=1, kind="stable")
    n_kept = keep.sum(axis=1)
    has = np.zeros(b, bool) if has_extra is None else has_extra
    n_new = n_kept + has
    lut = _identity_lut(t)
    gone = t.valid() & ~keep & (t.ids >= 0)
    bi, ri = np.nonzero(gone)
    lut[bi, t.ids[bi, ri]] = gone_code
    x = np.take_along_axis(t.x, order[..., None], axis=1)
    ids = np.take_along_axis(t.ids, order, axis=1)
    size = np.take_along_axis(t.size, order, axis=1)
    cum = np.take_along_axis(t.cum, order, axis=1)
    rows = np.nonzero(has)[0]
    if len(rows):
        x[rows, n_kept[rows]] = extra[rows]
        ids[rows, n_kept[rows]] = PKG_ID
        size[rows, n_kept[rows]] = 1
        cum[rows, n_kept[rows]] = 0
    width = max(int(n_new.max(initial=1)), 1)
    dead = np.arange(width)[None, :] >= n_new[:, None]
    ids = ids[:, :width].copy()
    ids[dead] = -2
    return Tokens(x[:, :width].copy(), ids, n_new.astype(I64), size[:, :width].copy(),
                  cum[:, :width].copy(), _relabel(t, lut))


def evit_fuse(t: Tokens, a: np.ndarray, keep_n: np.ndarray, heads: int) -> Tokens:
    """EViT's action: keep the keep_n[b] candidates (live non-CLS rows) with the highest CLS
    attention a (ties to the lower row); the rest fuse into one extra token
    Σ a_j x_j / (H · 2^8), appended last (id PKG_ID) when any row fused."""
    cand = t.patches()
    keep = topk_keep(a, cand, keep_n)
    fuse = cand & ~keep
    extra = fuse_weighted(t.x, np.where(fuse, a, 0), heads << C.SOFTMAX_OUT_FRAC)
    return compact(t, keep | ~cand, extra, fuse.any(axis=1), gone_code=ORIGIN_FUSED)


def drop_topk(t: Tokens, score: np.ndarray, k: np.ndarray) -> Tokens:
    """Keep the k[b] candidates with the highest score (ties to the lower row), drop the rest."""
    cand = t.patches()
    return compact(t, topk_keep(score, cand, k) | ~cand)


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


def ppt_reduce(t: Tokens, score: np.ndarray, u: np.ndarray, r: int, tau: float
               ) -> tuple[Tokens, np.ndarray, np.ndarray, np.ndarray]:
    """PPT's action: per image, pool (bipartite_merge of r) where the score variance is
    below tau, else drop the r_img = min(r, (n - 1) // 2) lowest-scored candidates.
    Returns tokens, the pool choice, merges and merge targets per image (of the pool)."""
    cand = t.patches()
    r_img = np.minimum(r, (t.n - 1) // 2)
    pool = ppt_pool_mask(score, cand, tau)
    pooled, merged, dsts = bipartite_merge(t, u, r)
    pruned = drop_topk(t, score, cand.sum(axis=1) - r_img)

    def sel(a, b):
        return np.where(pool.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)
    out = Tokens(sel(pooled.x, pruned.x), sel(pooled.ids, pruned.ids), sel(pooled.n, pruned.n),
                 sel(pooled.size, pruned.size), sel(pooled.cum, pruned.cum),
                 sel(pooled.origin, pruned.origin))
    return out, pool, merged, dsts


def fuse_weighted(x: np.ndarray, w: np.ndarray, den: int) -> np.ndarray:
    """One token from the rows with weight w: sum(w x) / den, rounded half up, int8."""
    return op.saturate(op.div_round((x * w[..., None]).sum(axis=1), I64(den)))


def unit_keys(k: np.ndarray, heads: int) -> np.ndarray:
    """ToMe's matching metric: keys summed over heads, scaled to length 2^SIM_UNIT_FRAC
    (u = round(kbar * 2^7 / isqrt(|kbar|^2)))."""
    b, n, d = k.shape
    kbar = k.reshape(b, n, heads, d // heads).sum(axis=2)
    norm = np.maximum(op.isqrt((kbar * kbar).sum(axis=-1)), 1)
    return op.div_round(kbar << I64(C.SIM_UNIT_FRAC), norm[..., None])


def bipartite_merge(t: Tokens, u: np.ndarray, r: int) -> tuple[Tokens, np.ndarray]:
    """ToMe bipartite soft matching with r merges per image (r <= (n - 1) // 2): live rows
    alternate A (even position) / B (odd); CLS never merges. Every A row finds its most
    similar B row (integer dot product of unit keys; ties to the lower position); the r A
    rows with the highest similarity (ties: lower position) merge into their B rows by
    size-weighted average, sizes add. Returns the new tokens, merges and merge targets per
    image."""
    b, n, d = t.x.shape
    pos = np.arange(n)[None, :]
    valid = t.valid()
    is_a = valid & (pos % 2 == 0) & (pos > 0)
    is_b = valid & (pos % 2 == 1)
    sim = np.einsum("bic,bjc->bij", u, u)
    lowest = np.iinfo(I64).min
    sim = np.where(is_a[:, :, None] & is_b[:, None, :], sim, lowest)
    dst = sim.argmax(axis=2)                                   # first max: lower position
    node = np.where(is_a, sim.max(axis=2), lowest)
    r_img = np.minimum(r, (t.n - 1) // 2)
    merge = topk_keep(node, is_a, r_img)
    merged, n_dst = merge_into(t, merge, dst)
    return compact(merged, valid & ~merge), r_img, n_dst


def merge_into(t: Tokens, merge: np.ndarray, dst: np.ndarray, weighted: bool = True
               ) -> tuple[Tokens, np.ndarray]:
    """Every row in `merge` joins row dst[b, row]: the target becomes the average of itself
    and its sources, size-weighted (ToMe, ATME) or plain (PRANCE), rounded half up; sizes
    add; the origin map sends the sources' originals to the target. Sources stay in place
    (the caller compacts them away). Returns the tokens and the targets per image."""
    src_b, src_r = np.nonzero(merge)
    dst_r = dst[src_b, src_r]
    w = t.size if weighted else np.ones_like(t.size)
    num = t.x * w[..., None]
    den = w.copy()
    size = t.size.copy()
    np.add.at(num, (src_b, dst_r), num[src_b, src_r])
    np.add.at(den, (src_b, dst_r), w[src_b, src_r])
    np.add.at(size, (src_b, dst_r), t.size[src_b, src_r])
    is_dst = np.zeros(merge.shape, bool)
    is_dst[src_b, dst_r] = True
    x = np.where(is_dst[..., None], op.saturate(op.div_round(num, np.maximum(den, 1)[..., None])), t.x)
    lut = _identity_lut(t)
    lut[src_b, t.ids[src_b, src_r]] = t.ids[src_b, dst_r]
    return Tokens(x, t.ids, t.n, size, t.cum, _relabel(t, lut)), is_dst.sum(axis=1)


def atme_anchors(t: Tokens, attn: np.ndarray, grid: int, window: tuple[int, int]) -> np.ndarray:
    """[B, N] row of each live patch's anchor: the live patch of its window (window rows x
    cols tiles the original patch grid) with the highest CLS attention, ties to the lower row.
    Non-patch rows point at themselves."""
    b, n = t.ids.shape
    pos = np.arange(n)[None, :]
    patch = t.patches() & (t.ids > 0)
    row, col = np.divmod(np.maximum(t.ids - 1, 0), grid)
    per_row = -(-grid // window[1])
    wid = np.where(patch, (row // window[0]) * per_row + col // window[1], -1 - pos)
    rank = attn.astype(I64) * n + (n - 1 - pos)               # higher wins; ties: lower row
    same = (wid[:, :, None] == wid[:, None, :]) & patch[:, None, :]
    anchor = np.where(same, rank[:, None, :], -1).argmax(axis=2)
    return np.where(patch, anchor, np.broadcast_to(pos, (b, n)))


def atme_merge(t: Tokens, attn: np.ndarray, u: np.ndarray, grid: int, window: tuple[int, int],
               r: int) -> tuple[Tokens, np.ndarray, np.ndarray, np.ndarray]:
    """CAIT's ATME (our interpretation): inside each window the anchor stays; of the other
    live members, the r with the highest integer similarity (unit keys) to their anchor
    merge into it (ties to the lower row). Returns tokens, members, merges, targets."""
    b, n = t.ids.shape
    anchor = atme_anchors(t, attn, grid, window)
    member = t.patches() & (anchor != np.arange(n)[None, :])
    sim = np.einsum("bic,bic->bi", u, np.take_along_axis(u, anchor[..., None], axis=1))
    r_img = np.minimum(r, member.sum(axis=1))
    merge = topk_keep(sim, member, r_img)
    merged, n_dst = merge_into(t, merge, anchor)
    return compact(merged, t.valid() & ~merge), member.sum(axis=1), r_img, n_dst


def prance_token_step(t: Tokens, attn: np.ndarray, keep_n: np.ndarray, action: str
                      ) -> tuple[Tokens, np.ndarray, np.ndarray]:
    """PRANCE's token step: keep the keep_n[b] patches with the highest CLS attention (ties
    to the lower row); merge: every other patch joins its most similar kept patch (unit
    hidden states, ties to the lower row) by plain average, sizes add; prune: drop them.
    Returns tokens, dropped and kept counts per image."""
    cand = t.patches()
    keep = topk_keep(attn, cand, keep_n)
    drop = cand & ~keep
    if action == "merge":
        u = unit_keys(t.x, 1)
        sim = np.einsum("bic,bjc->bij", u, u)
        sim = np.where(keep[:, None, :], sim, np.iinfo(I64).min)
        dst = sim.argmax(axis=2)
        t, _ = merge_into(t, drop & keep.any(axis=1)[:, None], dst, weighted=False)
    return compact(t, keep | ~cand), drop.sum(axis=1), keep.sum(axis=1)
