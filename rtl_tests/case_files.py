"""Read the engine case files that sievit.engine_cases writes (the same cases drive the HLS
C-simulation and these RTL testbenches)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


class Cursor:
    def __init__(self, path: Path):
        self.a = np.fromfile(path, dtype="<i4").astype(np.int64)
        self.i = 0

    def take(self, n: int) -> np.ndarray:
        v = self.a[self.i:self.i + n]
        self.i += n
        return v

    def one(self) -> int:
        return int(self.take(1)[0])


def gelu_cases(path: Path) -> list[dict]:
    c = Cursor(path)
    out = []
    for _ in range(c.one()):
        fi, fo, n = c.one(), c.one(), c.one()
        out.append({"frac_in": fi, "frac_out": fo, "x": c.take(n), "y": c.take(n)})
    return out


def softmax_cases(path: Path) -> list[dict]:
    c = Cursor(path)
    out = []
    for _ in range(c.one()):
        frac, n = c.one(), c.one()
        out.append({"frac": frac, "x": c.take(n), "y": c.take(n)})
    return out


def pack_i8(values: np.ndarray) -> list[int]:
    """int8 row -> 64-bit beats, element j in bits [8(j%8)+7 : 8(j%8)], zero padded."""
    v = np.asarray(values, dtype=np.int64) & 0xFF
    v = np.concatenate([v, np.zeros((-len(v)) % 8, np.int64)])
    return [int(sum(int(b) << (8 * k) for k, b in enumerate(v[i:i + 8]))) for i in range(0, len(v), 8)]


def unpack_u8(words: list[int], n: int) -> np.ndarray:
    out = [(w >> (8 * k)) & 0xFF for w in words for k in range(8)]
    return np.array(out[:n], dtype=np.int64)


def unpack_i8(words: list[int], n: int) -> np.ndarray:
    u = unpack_u8(words, n)
    return np.where(u >= 128, u - 256, u)


def pack_i32(values: np.ndarray) -> list[int]:
    v = [int(x) & 0xFFFFFFFF for x in values]
    if len(v) % 2:
        v.append(0)
    return [v[i] | (v[i + 1] << 32) for i in range(0, len(v), 2)]


def layernorm_cases(path: Path, dim: int) -> list[dict]:
    c = Cursor(path)
    out = []
    for _ in range(c.one()):
        layer, n = c.one(), c.one()
        out.append({"layer": layer, "x": c.take(n * dim).reshape(n, dim),
                    "y": c.take(n * dim).reshape(n, dim)})
    return out


def linear_cases(path: Path, linears: list[dict]) -> list[dict]:
    c = Cursor(path)
    out = []
    for _ in range(c.one()):
        layer, n = c.one(), c.one()
        d = linears[layer]
        x = c.take(n * d["n_in"]).reshape(n, d["n_in"])
        res = c.take(n * d["n_out"]).reshape(n, d["n_out"]) if d["epi"] == 2 else None
        out.append({"layer": layer, "x": x, "res": res, "y": c.take(n * d["n_out"]).reshape(n, d["n_out"])})
    return out


def unpack_i32(words: list[int], n: int) -> np.ndarray:
    out = []
    for w in words:
        for k in range(2):
            v = (w >> (32 * k)) & 0xFFFFFFFF
            out.append(v - (1 << 32) if v >= (1 << 31) else v)
    return np.array(out[:n], dtype=np.int64)


def pruning_cases(path: Path, dim: int) -> list[dict]:
    """Every case as a decision case: cases where the engine computed the scores carry the
    golden scores, which become the decision half's input."""
    c = Cursor(path)
    out = []
    for _ in range(c.one()):
        stage, n, mode, k, score_in = (c.one() for _ in range(5))
        x = c.take(n * dim).reshape(n, dim)
        ids = c.take(n)
        given = c.take(n) if score_in else None
        n_new, fused = c.one(), c.one()
        score = c.take(n)
        out.append({"stage": stage, "score_in": score_in, "n": n, "mode": mode, "k": k, "x": x,
                    "ids": ids,
                    "score": score if given is None else given, "n_new": n_new, "fused": fused,
                    "x_new": c.take(n_new * dim).reshape(n_new, dim), "ids_new": c.take(n_new)})
    return out


def block_cases(path: Path, dim: int) -> list[dict]:
    """attention / mlp cases: block, n, two input tensors, the expected output."""
    c = Cursor(path)
    out = []
    for _ in range(c.one()):
        block, n = c.one(), c.one()
        a, b, y = (c.take(n * dim).reshape(n, dim) for _ in range(3))
        out.append({"block": block, "a": a, "b": b, "y": y})
    return out


def head_cases(path: Path, dim: int, classes: int) -> list[dict]:
    c = Cursor(path)
    return [{"x": c.take(dim), "y": c.take(classes)} for _ in range(c.one())]


def patch_embed_cases(path: Path, pixels: int, tokens: int, dim: int) -> list[dict]:
    c = Cursor(path)
    return [{"x": c.take(pixels), "y": c.take(tokens * dim).reshape(tokens, dim)}
            for _ in range(c.one())]


def _attention_method_records(path: Path, dim: int, heads: int) -> list[dict]:
    """Every attention_method case without channel masks as one record: inputs, sizes,
    output and score sources (the channel-masked cases, CAIT's and PRANCE's, are skipped:
    the RTL has no channel masks)."""
    c = Cursor(path)
    out = []
    dh = dim // heads
    for _ in range(c.one()):
        block, n, prop, bits, chan = (c.one() for _ in range(5))
        h, x = (c.take(n * dim).reshape(n, dim) for _ in range(2))
        size = c.take(n)
        c.take(dim * ((2 if chan & 1 else 0) + (1 if chan & 2 else 0)))  # Q/K, V, embedding masks
        y = c.take(n * dim).reshape(n, dim)
        cls, mx = c.take(n), c.take(n)
        c.take(heads)                               # head mass
        ppt = c.take(n)
        u = c.take(n * dh).reshape(n, dh)
        c.take(n)                                   # K row sums (PRANCE's actor state)
        if chan:
            continue
        out.append({"block": block, "a": h, "b": x, "y": y, "size": size, "cls": cls,
                    "max_sum": mx, "ppt": ppt, "u": u, "prop": prop,
                    "all_heads": bits == (1 << heads) - 1})
    return out


def attention_cls_cases(path: Path, dim: int, heads: int) -> list[dict]:
    """The plain attention_method cases of an EViT bundle (no proportional attention, every
    head; the cases with the other methods' inputs are skipped) as attention cases with the
    CLS attention rd.cls_attention expected too."""
    return [r for r in _attention_method_records(path, dim, heads)
            if not r["prop"] and r["all_heads"]]


def attention_tome_cases(path: Path, dim: int, heads: int) -> list[dict]:
    """The attention_method cases with proportional attention and every head (ToMe's
    attention: sizes in, rd.size_bias on the logits, rd.unit_keys out); the others skipped."""
    return [r for r in _attention_method_records(path, dim, heads) if r["prop"] and r["all_heads"]]


def method_pruning_cases(path: Path, dim: int, heads: int, method: str) -> list[dict]:
    """A method bundle's reduce cases (real stage inputs, then k = 0 / 1 / M, ties, identical
    rows; EViT: an earlier fused token among the candidates) as pruning cases: EViT mode 3
    (rd.evit_fuse, scores = CLS attention), CP-ViT mode 4 (rd.drop_topk on the cumulative
    scores, which come out compacted with the kept rows). The other methods' cases in the
    file are skipped. The fused count is what the definitions give: EViT fuses every
    candidate not kept, drop fuses none."""
    code_of = {"evit": 1, "cpvit": 4}
    c = Cursor(path)
    out = []
    for _ in range(c.one()):
        code, n, k, _r, _tau, _w0, _w1 = (c.one() for _ in range(7))
        x = c.take(n * dim).reshape(n, dim)
        ids = c.take(n)
        c.take(n)                                   # sizes
        cum, score = c.take(n), c.take(n)
        c.take(n * (dim // heads))                  # unit keys
        m, _pooled = c.one(), c.one()
        x_new, ids_new = c.take(m * dim).reshape(m, dim), c.take(m)
        c.take(m)
        cum_new = c.take(m)
        if code != code_of[method]:
            continue
        evit = method == "evit"
        out.append({"n": n, "mode": 3 if evit else 4, "k": k, "heads": heads, "x": x,
                    "ids": ids, "score": score if evit else cum,
                    "score_out": score if evit else cum_new, "n_new": m,
                    "fused": (n - 1) - min(k, n - 1) if evit else 0,
                    "x_new": x_new, "ids_new": ids_new})
    return out


def merge_cases(path: Path, dim: int, heads: int, method: str = "tome") -> list[dict]:
    """A ToMe or PPT bundle's reduce cases (ToMe code 2, rd.bipartite_merge; PPT code 3,
    rd.ppt_reduce: real stage inputs, then n = 1 / 2 / 3, r = 0 / 1, identical rows and keys,
    ties, τ 0 / the bundle's / 0.0019) as bipartite_merge cases; the other methods' cases in
    the file are skipped. r_img = min(r, (n - 1) // 2); `pooled`: PPT's choice (ToMe: 0)."""
    code_of = {"tome": 2, "ppt": 3}
    c = Cursor(path)
    out = []
    dh = dim // heads
    for _ in range(c.one()):
        code, n, _k, r, tau_i, _w0, _w1 = (c.one() for _ in range(7))
        x = c.take(n * dim).reshape(n, dim)
        ids, size = c.take(n), c.take(n)
        c.take(n)                                   # cum
        score = c.take(n)
        u = c.take(n * dh).reshape(n, dh)
        m, pooled = c.one(), c.one()
        x_new, ids_new, size_new = c.take(m * dim).reshape(m, dim), c.take(m), c.take(m)
        c.take(m)                                   # cum_new
        if code != code_of[method]:
            continue
        out.append({"n": n, "r": r, "dim": dim, "head_dim": dh, "x": x, "ids": ids,
                    "size": size, "u": u, "r_img": min(r, (n - 1) // 2), "n_new": m,
                    "x_new": x_new, "ids_new": ids_new, "size_new": size_new,
                    "ppt": int(method == "ppt"), "score": score, "tau_i": tau_i,
                    "pooled": pooled})
    return out
