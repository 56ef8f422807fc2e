"""Engine test cases for the C-simulation testbench (tb/tb_engines.cpp): golden intermediate
tensors from real test images, then random ones with extreme values, token counts of 1 and
the maximum, all/none pruned and score ties, until each engine has the asked-for count.
Expected outputs come from the golden model's engine functions (quant/golden.py, intops)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from sievit.data import first_images_for
from sievit.layout import EPI, Layout
from sievit.quant import contract as C
from sievit.quant import intops as op
from sievit.quant.bundle import Bundle
from sievit.quant.golden import PKG_ID, Golden

I64 = np.int64


class CaseFile:
    """Accumulates int32 records; written as [count, records...]."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.count = 0
        self.computed_scores = 0  # pruning: cases whose scores the selector layers compute

    def add(self, *fields) -> None:
        for f in fields:
            a = np.asarray(f, dtype=I64).reshape(-1)
            assert a.size == 0 or (a.min() >= -(2 ** 31) and a.max() < 2 ** 31)
            self.parts.append(a)
        self.count += 1

    def write(self, path: Path) -> None:
        body = np.concatenate([np.array([self.count], I64)] + self.parts)
        body.astype("<i4").tofile(path)


def linear_expected(layout: Layout, d: dict, x: np.ndarray, res: np.ndarray | None) -> np.ndarray:
    w = layout.mem.weight_bytes()[d["w_off"]: d["w_off"] + d["n_out"] * d["n_in"]]
    b = layout.mem.bias_words()[d["b_off"]: d["b_off"] + d["n_out"]]
    acc = op.linear(x, w.reshape(d["n_out"], d["n_in"]), b)
    if d["epi"] == EPI["raw"]:
        return acc
    if d["epi"] == EPI["gelu"]:
        g = op.requant(acc, d["frac_acc"], d["frac_gelu_in"])
        return op.requant(op.gelu(g, d["frac_gelu_in"]), C.GELU_OUT_FRAC, d["frac_out"])
    if d["epi"] == EPI["residual"]:
        s, f = op.align_add(res, d["frac_res"], acc, d["frac_acc"])
        return op.requant(s, f, d["frac_out"])
    return op.requant(acc, d["frac_acc"], d["frac_out"])


def layernorm_expected(layout: Layout, d: dict, x: np.ndarray) -> np.ndarray:
    g = layout.mem.weight_bytes()[d["g_off"]: d["g_off"] + d["dim"]]
    b = layout.mem.bias_words()[d["b_off"]: d["b_off"] + d["dim"]]
    return op.requant(op.layernorm(x, g, b), C.LN_NORM_FRAC + d["gamma_frac"], d["frac_out"])


def random_int8(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Uniform, extreme (only -128 / 127), small, or constant values."""
    kind = rng.integers(4)
    if kind == 0:
        return rng.integers(-128, 128, size=shape)
    if kind == 1:
        return rng.choice(np.array([-128, 127]), size=shape)
    if kind == 2:
        return np.clip(np.rint(rng.normal(0, 8, size=shape)), -128, 127).astype(I64)
    return np.full(shape, rng.integers(-128, 128))


def random_n(rng: np.random.Generator, max_n: int) -> int:
    r = rng.random()
    return 1 if r < 0.1 else (max_n if r < 0.25 else int(rng.integers(1, max_n + 1)))


def ids_of(kept: np.ndarray, n: int) -> np.ndarray:
    ids = np.full(n, PKG_ID, I64)
    ids[:len(kept)] = kept
    return ids


def write_cases(bundle: Bundle, out_dir: Path, per_engine: int, seed: int,
                layout: Layout | None = None) -> dict[str, int]:
    """Write <engine>.bin for every engine; returns the case count per engine. `layout` is the
    project's (its lanes and memory word: the offsets the engines read); default 8 lanes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    g = Golden(bundle)
    layout = layout if layout is not None else Layout(bundle)
    rng = np.random.default_rng(seed)
    depth, D, n_tok = g.m["depth"], g.dim, g.n_patch + 1
    files = {name: CaseFile() for name in ("linear", "layernorm", "softmax", "gelu", "attention",
                                           "mlp", "pruning", "patch_embed", "head")}
    lin_index = {name: i for i, (name, _) in enumerate(layout.names)}
    ln_index = {name: i for i, (name, _) in enumerate(layout.lns)}
    topk_keep = [t - 2 for t in g.topk_tokens]

    # -- real intermediates: one image at a time, so every tensor has its live token count
    n_real = -(-per_engine // depth)
    images = first_images_for(bundle.config, n_real)
    for idx in tqdm(range(n_real), desc="engine cases", mininterval=2.0):
        mode = "threshold" if idx % 2 == 0 else "topk"
        res = g.run(images[idx:idx + 1], mode, trace=True)
        tr = {k: v[0] for k, v in res.trace.items()}
        for i in range(depth):
            p = f"blocks.{i}."
            x, h, x1 = tr[p + "in"], tr[p + "ln1_out"], tr[p + "res1"]
            n = len(x)
            files["attention"].add(i, n, h, x, x1)
            files["mlp"].add(i, n, tr[p + "ln2_out"], x1, tr[p + "out"])
            if idx < per_engine // (2 * depth) + 1:
                files["layernorm"].add(ln_index[p + "ln1"], n, x, h)
                files["layernorm"].add(ln_index[p + "ln2"], n, x1, tr[p + "ln2_out"])
            if idx < per_engine // (6 * depth) + 1:
                for part, src, rs in (("q", h, None), ("k", h, None), ("v", h, None),
                                      ("proj", tr[p + "attn_out"], x), ("fc1", tr[p + "ln2_out"], None),
                                      ("fc2", tr[p + "gelu_out"], x1)):
                    d = layout.names[lin_index[p + part]][1]
                    files["linear"].add(lin_index[p + part], n, src,
                                        *(() if rs is None else (rs,)),
                                        linear_expected(layout, d, src, rs))
            if idx < 40:
                f_s = g.softmax_frac(i)
                for hd in range(g.heads):
                    for t in range(0, n, 7):
                        row = tr[p + "attn_logits"][hd, t]
                        files["softmax"].add(f_s, n, row, tr[p + "attn_probs"][hd, t])
        for s, blk in enumerate(g.sel_blocks):
            x = tr[f"blocks.{blk - 1}.out"]
            n = len(x)
            ids = np.arange(n) if s == 0 else ids_of(res.kept[s - 1][0], n)
            for m, k in (("threshold", topk_keep[s]), ("topk", topk_keep[s])):
                _add_pruning(files["pruning"], g, s, x, ids, n, m, k, None)
            files["layernorm"].add(ln_index[f"selectors.{s}.score.ln"], n, x,
                                   layernorm_expected(layout, layout.lns[ln_index[f"selectors.{s}.score.ln"]][1], x))
        last = tr[f"blocks.{depth - 1}.out"]
        files["head"].add(last[0], g.head(last[:1])[0])
    emb_imgs = first_images_for(bundle.config, per_engine)
    emb = g.patch_embed(emb_imgs)[0]
    for img, e in zip(emb_imgs, emb):
        files["patch_embed"].add(img.reshape(-1), e)
    for kind in (0, 255):  # flat images
        img = np.full_like(emb_imgs[:1], kind)
        files["patch_embed"].add(img.reshape(-1), g.patch_embed(img)[0][0])

    # -- random and extreme cases
    gelu_fracs = sorted({(bundle.fracs[k], bundle.fracs[k.replace("gelu_in", "gelu_out")
                                                           .replace("_in", "_out")])
                         for k in bundle.fracs if k.endswith(("gelu_in", "local_in", "mlp1_in"))})
    every_int8 = np.arange(-128, 128)
    for fi, fo in gelu_fracs:  # exhaustive over the int8 domain for every fraction pair in use
        files["gelu"].add(fi, fo, 256, every_int8, op.requant(op.gelu(every_int8, fi), C.GELU_OUT_FRAC, fo))
    while files["gelu"].count < per_engine:
        fi, fo = int(rng.integers(-2, 14)), int(rng.integers(-2, 14))
        n = int(rng.integers(1, 300))
        q = random_int8(rng, (n,))
        files["gelu"].add(fi, fo, n, q, op.requant(op.gelu(q, fi), C.GELU_OUT_FRAC, fo))
    while files["softmax"].count < per_engine:
        n = random_n(rng, n_tok)
        frac = int(rng.integers(0, 16))
        kind = rng.integers(3)
        scale = [1 << 20, 1 << 10, 4][kind]
        row = rng.integers(-scale, scale + 1, size=n)
        if rng.random() < 0.1:
            row[:] = row[0]  # all equal
        files["softmax"].add(frac, n, row, op.softmax(row, frac))
    while files["linear"].count < per_engine:
        li = int(rng.integers(len(layout.names)))
        d = layout.names[li][1]
        n = random_n(rng, n_tok)
        x = random_int8(rng, (n, d["n_in"]))
        rs = random_int8(rng, (n, d["n_out"])) if d["epi"] == EPI["residual"] else None
        files["linear"].add(li, n, x, *(() if rs is None else (rs,)), linear_expected(layout, d, x, rs))
    while files["layernorm"].count < per_engine:
        li = int(rng.integers(len(layout.lns)))
        n = random_n(rng, n_tok)
        x = random_int8(rng, (n, D))
        files["layernorm"].add(li, n, x, layernorm_expected(layout, layout.lns[li][1], x))
    for name in ("attention", "mlp"):
        for _ in range(max(per_engine // 10, per_engine - files[name].count)):
            i = int(rng.integers(depth))
            n = random_n(rng, n_tok)
            a, b = random_int8(rng, (1, n, D)), random_int8(rng, (1, n, D))
            if name == "attention":
                y = g.attention(i, a, b, np.ones((1, n), bool))[0]
            else:
                y = g.mlp(i, a, b)[0]
            files[name].add(i, n, a, b, y)
    # per_engine cases in all, and per_engine of them with the selector's own scores (the
    # RTL tests the score half, pruning_score, on those)
    while files["pruning"].count < per_engine or files["pruning"].computed_scores < per_engine:
        s = int(rng.integers(len(g.sel_blocks)))
        n = random_n(rng, n_tok)
        x = random_int8(rng, (n, D))
        ids = np.arange(n, dtype=I64)
        if n > 2 and rng.random() < 0.5:  # an earlier stage left a package token last
            ids = np.sort(rng.choice(np.arange(1, n_tok), size=n - 1, replace=False))
            ids = np.concatenate([[0], ids[:n - 2], [PKG_ID]])
        mode = "threshold" if rng.random() < 0.5 else "topk"
        k = int(rng.choice([0, 1, int(rng.integers(0, n + 1)), n]))
        if rng.random() < 0.3 or files["pruning"].count >= per_engine:  # the selector's own scores
            _add_pruning(files["pruning"], g, s, x, ids, n, mode, k, None)
            continue
        kind = rng.integers(5)
        score = [np.zeros(n), np.full(n, 256), np.full(n, int(rng.integers(0, 257))),
                 rng.integers(0, 257, size=n), rng.choice(np.array([127, 128]), size=n)][kind]
        _add_pruning(files["pruning"], g, s, x, ids, n, mode, k, np.asarray(score, I64))
    while files["head"].count < per_engine:
        x = random_int8(rng, (D,))
        files["head"].add(x, g.head(x[None])[0])
    for name, f in files.items():
        f.write(out_dir / f"{name}.bin")
    return {name: f.count for name, f in files.items()}


def _add_pruning(f: CaseFile, g: Golden, s: int, x: np.ndarray, ids: np.ndarray, n: int,
                 mode: str, k: int, score: np.ndarray | None) -> None:
    """One pruning case: with score None the engine computes the selector's scores."""
    mode_code = {"threshold": 1, "topk": 2}[mode]
    xb, idb, nb = x[None], ids[None].astype(I64), np.array([n], I64)
    if score is None:
        alive = (np.arange(n)[None, :] > 0)
        sc = g.pruning_score(s, xb, alive)
        f.computed_scores += 1
    else:
        sc = score[None]
    x_new, ids_new, n_new, fused = Golden.pruning_select(xb, idb, nb, sc, mode, k)
    m = int(n_new[0])
    f.add(s, n, mode_code, k, 0 if score is None else 1, x, ids,
          *(() if score is None else (score,)),
          m, int(fused[0]), sc[0], x_new[0, :m], ids_new[0, :m])
