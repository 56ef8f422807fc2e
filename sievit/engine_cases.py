"""Engine test cases for the C-simulation testbench (tb/tb_engines.cpp): golden intermediate
tensors from real test images, then random ones with extreme values, token counts of 1 and
the maximum, all/none pruned and score ties, until each engine has the asked-for count.
Expected outputs come from the golden model's engine functions (quant/golden.py, intops;
quant/reduce.py and quant/channels.py for the reduction methods). A method bundle has no
selector (no pruning cases) and gets the method engines' cases instead: attention_method
(the attention engine with sizes, head mask, channel masks and score outputs), reduce (the
actions of all six methods), head_mask (CP-ViT's head choice), mlp_masked (the MLP with a
hidden-channel mask and an embedding mask: CAIT's gate, PRANCE's widths), for CAIT gate
(the CDCP gate and its top-k masks) and for PRANCE actor (its choices from a stage's keys)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from sievit.data import first_images_for
from sievit.layout import EPI, Layout
from sievit.quant import contract as C
from sievit.quant import intops as op
from sievit.quant import reduce as rd
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
    method = bundle.config["reduction"]["method"]
    heatvit = method == "heatvit"
    names = ("linear", "layernorm", "softmax", "gelu", "attention", "mlp") + (
        ("pruning",) if heatvit else METHOD_ENGINES + (("gate",) if method == "cait" else ())
        + (("actor",) if method == "prance" else ())) + (
        "patch_embed", "head")
    files = {name: CaseFile() for name in names}
    lin_index = {name: i for i, (name, _) in enumerate(layout.names)}
    ln_index = {name: i for i, (name, _) in enumerate(layout.lns)}
    topk_keep = [t - 2 for t in g.topk_tokens]

    # -- real intermediates: one image at a time, so every tensor has its live token count
    n_real = -(-per_engine // depth)
    images = first_images_for(bundle.config, n_real)
    for idx in tqdm(range(n_real), desc="engine cases", mininterval=2.0):
        mode = ("threshold" if idx % 2 == 0 else "topk") if heatvit else "reduce"
        res = g.run(images[idx:idx + 1], mode, trace=True)
        tr = {k: v[0] for k, v in res.trace.items()}
        for i in range(depth):
            p = f"blocks.{i}."
            x, h, x1 = tr[p + "in"], tr[p + "ln1_out"], tr[p + "res1"]
            n = len(x)
            if heatvit:
                files["attention"].add(i, n, h, x, x1)
            else:
                _add_attention_method(files["attention_method"], g, i, h, x, tr[p + "key_size"],
                                      tr[p + "head_mask"], method in PROP_METHODS, x1,
                                      tr.get(p + "qk_mask"), tr.get(p + "v_mask"),
                                      tr.get(p + "embed_mask"))
            x1 = tr.get(p + "mlp_in", x1)  # methods: the MLP runs on the reduced set
            if p + "mlp_mask" in tr:      # CAIT's gate, PRANCE's widths: the channels masked
                files["mlp_masked"].add(i, len(x1), tr[p + "ln2_out"], x1, tr[p + "mlp_mask"],
                                        tr.get(p + "mlp_embed_mask", np.ones(D, I64)), tr[p + "out"])
                if method == "cait":
                    _add_gate(files["gate"], g, i, x)
            else:
                files["mlp"].add(i, len(x1), tr[p + "ln2_out"], x1, tr[p + "out"])
            if idx < per_engine // (2 * depth) + 1:
                files["layernorm"].add(ln_index[p + "ln1"], n, x, h)
                files["layernorm"].add(ln_index[p + "ln2"], len(x1), x1, tr[p + "ln2_out"])
            if idx < per_engine // (6 * depth) + 1:
                for part, src, rs in (("q", h, None), ("k", h, None), ("v", h, None),
                                      ("proj", tr[p + "attn_out"], x), ("fc1", tr[p + "ln2_out"], None),
                                      ("fc2", tr[p + "gelu_out"], x1)):
                    d = layout.names[lin_index[p + part]][1]
                    files["linear"].add(lin_index[p + part], len(src), src,
                                        *(() if rs is None else (rs,)),
                                        linear_expected(layout, d, src, rs))
            if idx < 40:
                f_s = g.softmax_frac(i)
                for hd in range(g.heads):
                    if not tr.get(p + "head_mask", np.ones(g.heads))[hd]:
                        continue  # a pruned head's probabilities are zeroed after the softmax
                    for t in range(0, n, 7):
                        row = tr[p + "attn_logits"][hd, t]
                        files["softmax"].add(f_s, n, row, tr[p + "attn_probs"][hd, t])
        if not heatvit:
            _real_reduce_cases(files["reduce"], g, tr, method)
        if method == "prance":
            for s, blk in enumerate(bundle.config["reduction"]["blocks"]):
                n_s = int(tr[f"stage{s}.n"])
                files["actor"].add(s, n_s, tr[f"blocks.{blk}.k"][:n_s], tr["prance_choices"][s])
        for s, blk in enumerate(g.sel_blocks if heatvit else []):
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
    if not heatvit:
        _random_method_cases(files, g, rng, per_engine)
    while heatvit and (files["pruning"].count < per_engine
                       or files["pruning"].computed_scores < per_engine):
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


# -- reduction methods -------------------------------------------------------------------------
METHOD_ENGINES = ("attention_method", "reduce", "head_mask", "mlp_masked")
PROP_METHODS = ("tome", "ppt", "cait", "prance")   # proportional attention (golden_reduce PROPORTIONAL)
REDUCE_METHODS = ("evit", "cpvit", "tome", "ppt", "cait", "prance")  # the reduce engine's actions


def tokens1(x: np.ndarray, ids: np.ndarray, size: np.ndarray, cum: np.ndarray, t0: int) -> rd.Tokens:
    """One image's live tokens (n = len(x)) as the golden reduce functions take them."""
    n = len(x)
    return rd.Tokens(np.asarray(x, I64)[None], np.asarray(ids, I64)[None], np.array([n], I64),
                     np.asarray(size, I64)[None], np.asarray(cum, I64)[None],
                     np.arange(t0, dtype=I64)[None])


def _add_attention_method(f: CaseFile, g: Golden, i: int, h: np.ndarray, x: np.ndarray,
                          size: np.ndarray, head_mask: np.ndarray, prop: bool,
                          check: np.ndarray | None = None, qk: np.ndarray | None = None,
                          v: np.ndarray | None = None, emb: np.ndarray | None = None) -> None:
    """One attention_method case: the golden attention with the method inputs (sizes, head
    mask, CAIT's Q/K and V channel masks, PRANCE's embedding mask) and its score sources
    (rd.cls_attention, rd.cpvit_accumulate, rd.ppt_score, rd.unit_keys, the K row sums of
    PRANCE's actor state)."""
    from sievit.quant.channels import ChannelMasks
    n = len(x)
    t = tokens1(x, np.arange(n), size, np.zeros(n), g.n_patch + 1)
    bias = rd.size_bias(t.size, g.softmax_frac(i)) if prop else None
    hm = None if head_mask.all() else np.asarray(head_mask, I64)[None]
    chan = None
    if qk is not None or emb is not None:
        as1 = lambda m: None if m is None else np.asarray(m, I64)[None]  # noqa: E731
        chan = ChannelMasks(qk=as1(qk), v=as1(v), embed=as1(emb))
    info: dict = {}
    y = g.attention(i, np.asarray(h, I64)[None], t.x, t.valid(), None, bias, hm, info, chan)[0]
    assert check is None or np.array_equal(y, check)  # the traced run agrees
    probs = info["probs"]
    mx, mass = rd.cpvit_accumulate(probs, t, np.zeros((1, g.heads), I64), True)
    bits = int(sum(1 << hd for hd in range(g.heads) if head_mask[hd]))
    flags = int(qk is not None) | 2 * int(emb is not None)
    f.add(i, n, int(prop), bits, flags, h, x, size, *(() if qk is None else (qk, v)),
          *(() if emb is None else (emb,)), y, rd.cls_attention(probs, t)[0], mx[0], mass[0],
          rd.ppt_score(probs, info["v"], t)[0], rd.unit_keys(info["k"], g.heads)[0],
          info["k"][0].sum(axis=-1))


def _add_reduce(f: CaseFile, g: Golden, method: str, x: np.ndarray, ids: np.ndarray,
                size: np.ndarray, cum: np.ndarray, score: np.ndarray, u: np.ndarray, k: int,
                r: int, tau: float, window: tuple[int, int] = (0, 0)) -> None:
    """One reduce case: the method's golden action (rd.evit_fuse, rd.drop_topk,
    rd.bipartite_merge, rd.ppt_reduce, rd.atme_merge, rd.prance_token_step: k kept, r 1
    merge / 0 prune) on one image's tokens."""
    from sievit.config import METHOD_CODES
    n = len(x)
    t = tokens1(x, ids, size, cum, g.n_patch + 1)
    pooled = 0
    if method == "evit":
        out = rd.evit_fuse(t, np.asarray(score, I64)[None], np.array([k]), g.heads)
    elif method == "cpvit":
        out = rd.drop_topk(t, t.cum, np.array([k]))
    elif method == "tome":
        out = rd.bipartite_merge(t, np.asarray(u, I64)[None], r)[0]
    elif method == "cait":
        out = rd.atme_merge(t, np.asarray(score, I64)[None], np.asarray(u, I64)[None], g.grid,
                            window, r)[0]
    elif method == "prance":
        out = rd.prance_token_step(t, np.asarray(score, I64)[None], np.array([k]),
                                   "merge" if r else "prune")[0]
    else:
        out, pool, _, _ = rd.ppt_reduce(t, np.asarray(score, I64)[None], np.asarray(u, I64)[None], r, tau)
        pooled = int(pool[0])
    m = int(out.n[0])
    tau_i = round(tau * (1 << C.PPT_TAU_FRAC))
    f.add(METHOD_CODES[method], n, k, r, tau_i, window[0], window[1], x, ids, size, cum, score, u,
          m, pooled, out.x[0, :m], out.ids[0, :m], out.size[0, :m], out.cum[0, :m])


def _stage_scores(g: Golden, method: str, t: rd.Tokens, probs: np.ndarray, k: np.ndarray,
                  v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reduce engine's score and unit-key inputs for one stage (one image)."""
    if method in ("evit", "cait", "prance"):
        score = rd.cls_attention(probs, t)[0]
    elif method == "ppt":
        score = rd.ppt_score(probs, v, t)[0]
    else:
        score = np.zeros(t.x.shape[1], I64)
    return score, rd.unit_keys(k, g.heads)[0]


def _real_reduce_cases(f: CaseFile, g: Golden, tr: dict, method: str) -> None:
    """The reduce engine on the tokens each stage of one traced image really had."""
    from sievit.quant.budgets import evit_keep_count
    r = g.b.config["reduction"]
    for s, blk in enumerate(r["blocks"]):
        if f"stage{s}.x" not in tr:
            continue
        p = f"blocks.{blk}."
        x, ids, size, cum = (tr[f"stage{s}.{key}"] for key in ("x", "ids", "size", "cum"))
        n = int(tr[f"stage{s}.n"])
        x, ids, size, cum = x[:n], ids[:n], size[:n], cum[:n]
        t = tokens1(x, ids, size, cum, g.n_patch + 1)
        probs = tr[p + "attn_probs"][None, :, :n, :n]
        score, u = _stage_scores(g, method, t, probs, tr[p + "k"][None, :n], tr[p + "v"][None, :n])
        m_cand = n - 1
        k = (int(evit_keep_count(r["keep_rate"], np.array([m_cand]))[0]) if method == "evit"
             else min(r["keep_tokens"][s], m_cand) if method == "cpvit" else 0)
        if method == "cait":
            from sievit.quant.budgets import cait_windows
            _add_reduce(f, g, method, x, ids, size, cum, score, u, 0, r["merge_r"][s], 0.0,
                        cait_windows(g.b.config)[s])
        elif method == "prance":
            from sievit.quant.channels import keep_count
            rho = r["token_keeps"][int(tr["prance_choices"][s][2])]
            k = int(keep_count([rho], np.array([m_cand]))[0])
            _add_reduce(f, g, method, x, ids, size, cum, score, u, k,
                        int(r["token_action"] == "merge"), 0.0)
        else:
            _add_reduce(f, g, method, x, ids, size, cum, score, u, k, r.get("r", 0), r.get("tau", 0.0))


def _random_sizes(rng: np.random.Generator, n: int, n_tok: int) -> np.ndarray:
    """Sizes of n live rows: all 1, or random with a total <= n_tok (CLS is 1)."""
    if n == 1 or rng.random() < 0.3:
        return np.ones(n, I64)
    extra = rng.multinomial(n_tok - n, rng.dirichlet(np.ones(n - 1)))
    return np.concatenate([[1], 1 + extra * (rng.random(n - 1) < 0.5)]).astype(I64)


def _random_method_cases(files: dict, g: Golden, rng: np.random.Generator, per_engine: int) -> None:
    """Edge cases of the method engines first -- nothing to merge (r = 0, n <= 2), everything
    identical, score ties, budgets 0 and 1, all heads but one pruned -- then random ones:
    at least half of each file's cases are these, the rest real intermediates."""
    heads, D, n_tok, depth = g.heads, g.dim, g.n_patch + 1, g.m["depth"]
    fa = files["attention_method"]

    def attn_case(n: int, mask: np.ndarray, prop: bool, emb: np.ndarray | None = None) -> None:
        i = int(rng.integers(depth))
        h, x = random_int8(rng, (n, D)), random_int8(rng, (n, D))
        _add_attention_method(fa, g, i, h, x, _random_sizes(rng, n, n_tok), mask, prop, emb=emb)

    def leading(width: int) -> np.ndarray:
        return (np.arange(D) < width).astype(I64)

    for width in (1, D // 2, D - 1, D):      # PRANCE's embedding widths, narrowest to full
        attn_case(random_n(rng, n_tok), np.ones(heads, I64), True, leading(width))

    for hd in range(heads):                  # all heads but one pruned
        attn_case(n_tok, np.eye(heads, dtype=I64)[hd], hd % 2 == 0)
    for n in (1, 2, n_tok):
        for prop in (False, True):
            attn_case(n, np.ones(heads, I64), prop)
    for _ in range(max(per_engine // 2, per_engine - fa.count)):
        mask = np.ones(heads, I64)
        kind = rng.integers(3)
        if kind == 1:
            mask[:] = 0
            mask[rng.integers(heads)] = 1
        elif kind == 2:
            mask = (rng.random(heads) < 0.5).astype(I64)
            mask[rng.integers(heads)] = 1
        attn_case(random_n(rng, n_tok), mask, bool(rng.random() < 0.7))

    fr = files["reduce"]
    tau_bundle = float(g.b.config["reduction"].get("tau", 0.00112))
    for method in REDUCE_METHODS:
        for n in (1, 2, 3, n_tok):           # nothing (or one pair) to merge
            _reduce_case(fr, g, rng, method, n, "random", None, None, tau_bundle)
        for k in (0, 1):                     # budgets 0 and 1
            _reduce_case(fr, g, rng, method, n_tok, "random", k, k, tau_bundle)
        for kind in ("same", "ties"):        # everything identical; equal scores / keys
            for tau in (0.0, tau_bundle, 0.0019):
                _reduce_case(fr, g, rng, method, int(rng.integers(3, n_tok + 1)), kind, None, None, tau)
    for j in range(max(per_engine // 2, per_engine - fr.count)):
        kind = str(rng.choice(["random", "random", "levels", "ties", "same"]))
        tau = float(rng.choice([0.0, tau_bundle, 0.0019]))
        _reduce_case(fr, g, rng, REDUCE_METHODS[j % len(REDUCE_METHODS)], random_n(rng, n_tok),
                     kind, None, None, tau)

    fm = files["mlp_masked"]                # CAIT's hidden mask: none, one, some, all live
    hid = g.m["mlp_dim"]
    for j in range(max(per_engine // 2, per_engine - fm.count)):
        i, n = int(rng.integers(depth)), random_n(rng, n_tok)
        mask = [np.zeros(hid, I64), np.eye(hid, dtype=I64)[rng.integers(hid)],
                (rng.random(hid) < 0.5).astype(I64), np.ones(hid, I64)][j % 4]
        emb = np.ones(D, I64) if j % 8 < 4 else (np.arange(D) < int(rng.integers(1, D + 1))).astype(I64)
        h2, x1 = random_int8(rng, (n, D)), random_int8(rng, (n, D))
        fm.add(i, n, h2, x1, mask, emb, _mlp_masked(g, i, h2, x1, mask, emb))
    if "gate" in files:
        fg = files["gate"]
        for _ in range(max(per_engine // 2, per_engine - fg.count)):
            blocks = g.b.config["reduction"]["gate_blocks"]
            _add_gate(fg, g, int(rng.choice(blocks)), random_int8(rng, (random_n(rng, n_tok), D)))

    if "actor" in files:                     # PRANCE's actor: K rows of any live count
        fc = files["actor"]
        stages = len(g.b.config["reduction"]["blocks"])
        for j in range(max(per_engine // 2, per_engine - fc.count)):
            s, n = j % stages, [1, n_tok, random_n(rng, n_tok)][j % 3]
            k = random_int8(rng, (n, D)) if j % 4 else np.full((n, D), int(rng.integers(-128, 128)))
            fc.add(s, n, k, _actor_choices(g, s, k))

    fh = files["head_mask"]
    for pruned in range(heads):             # ties: all masses equal
        m0 = np.full(heads, int(rng.integers(0, 1000)))
        fh.add(heads, pruned, m0, rd.cpvit_head_mask(m0[None], pruned)[0])
    while fh.count < max(per_engine // 10, heads):
        pruned = int(rng.integers(heads))
        mass = rng.integers(0, 40 if rng.random() < 0.5 else 200000, size=heads)
        fh.add(heads, pruned, mass, rd.cpvit_head_mask(mass[None], pruned)[0])


def _mlp_masked(g: Golden, i: int, h2: np.ndarray, x1: np.ndarray, mask: np.ndarray,
                emb: np.ndarray) -> np.ndarray:
    from sievit.quant.channels import ChannelMasks
    chan = ChannelMasks(mlp=np.asarray(mask, I64)[None], embed=np.asarray(emb, I64)[None])
    return g.mlp(i, np.asarray(h2, I64)[None], np.asarray(x1, I64)[None], None, chan)[0]


def _actor_choices(g: Golden, s: int, k: np.ndarray) -> np.ndarray:
    """PRANCE's actor s on one stage's K rows (quant.channels.actor_state, actor_choices)."""
    from sievit.quant import channels as ch
    from sievit.quant.budgets import prance_actions
    r = g.b.config["reduction"]
    n = len(k)
    state = ch.actor_state(np.asarray(k, I64)[None], np.array([n]), g.n_patch + 1, r["cost_weight"])
    return ch.actor_choices(g, s, state, g.b.f(f"blocks.{r['blocks'][s]}.k_act"),
                            prance_actions(g.b.config))[0]


def _add_gate(f: CaseFile, g: Golden, block: int, x: np.ndarray) -> None:
    """One gate case: CAIT's CDCP gate of `block` on its input rows (quant.channels.cdcp_gate)
    and the per-group top-k masks before tiling (topk_mask)."""
    from sievit.quant import channels as ch
    r = g.b.config["reduction"]
    j = r["gate_blocks"].index(block)
    fx = g.b.f(f"blocks.{block - 1}.res2") if block > 0 else g.b.f("embed_out")
    n, dh, counts = len(x), g.dh, r["channel_counts"]
    logits = ch.cdcp_gate(g, j, np.asarray(x, I64)[None], fx, np.ones((1, n), bool))
    masks = [ch.topk_mask(logits[:, :dh], counts[0]), ch.topk_mask(logits[:, dh:2 * dh], counts[1]),
             ch.topk_mask(logits[:, 2 * dh:], counts[2])]
    f.add(j, n, logits.shape[1] - 2 * dh, *counts, x, logits[0], *(m[0] for m in masks))


def _reduce_case(f: CaseFile, g: Golden, rng: np.random.Generator, method: str, n: int, kind: str,
                 k: int | None, r: int | None, tau: float) -> None:
    """One synthetic reduce case. kind: random | levels (scores from 3 values) | ties (all
    scores equal, all unit keys equal) | same (rows, keys and scores all identical)."""
    heads, dh, D, n_tok, depth = g.heads, g.dh, g.dim, g.n_patch + 1, g.m["depth"]
    cls_max, cum_max = 255 * heads, 255 * heads * depth
    top = {"evit": cls_max, "cpvit": cum_max, "ppt": cls_max * int(op.isqrt(np.array(D * 128 * 128))),
           "tome": 0, "cait": cls_max, "prance": cls_max}[method]
    ids = np.arange(n, dtype=I64)
    if n > 2 and rng.random() < 0.5:        # a later stage: original ids with gaps
        ids = np.concatenate([[0], np.sort(rng.choice(np.arange(1, n_tok), n - 1, replace=False))])
        if method == "evit" and rng.random() < 0.5:
            ids[-1] = PKG_ID                # the fused token of the stage before
    same = kind == "same"
    x = np.repeat(random_int8(rng, (1, D)), n, axis=0) if same else random_int8(rng, (n, D))
    u = rng.integers(-128, 129, size=(n, dh))
    if kind in ("same", "ties"):
        u = np.repeat(u[:1], n, axis=0)
    if kind in ("same", "ties"):
        score = np.full(n, int(rng.integers(0, top + 1)))
    elif kind == "levels":
        score = rng.choice(np.array([0, top // 2, top]), size=n)
    else:
        score = rng.integers(0, top + 1, size=n)
    score[0] = 0                            # CLS is never a candidate: its score source is 0
    cum = score.copy() if method == "cpvit" else rng.integers(0, cum_max + 1, size=n)
    if method not in ("evit", "ppt", "cait", "prance"):
        score = np.zeros(n, I64)
    size = _random_sizes(rng, n, n_tok)
    m = n - 1
    k = int(rng.choice([0, 1, int(rng.integers(0, m + 1)), m])) if k is None else k
    r = int(rng.choice([0, 1, int(rng.integers(0, 13)), n])) if r is None else r
    grid = g.grid
    window = tuple(int(v) for v in [(1, 1), (1, 2), (2, 1), (2, 2), (3, 2), (grid, grid)][rng.integers(6)])
    _add_reduce(f, g, method, x, ids, size, cum, score, u, k, r, tau, window)
