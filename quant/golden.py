"""The golden model: pure integer NumPy over a bundle, batched. Tokens are really removed
(compacted to the front of each image's row, CLS first, original order kept, package token
last); `n_valid` says how many rows of each image are live. This is the numeric contract."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sievit.errors import SievitError
from sievit.quant import contract as C
from sievit.quant import intops as op
from sievit.quant.bundle import Bundle
from sievit.quant.macs import block_macs, selector_macs

I64 = np.int64
INPUT_FRAC = 7
PKG_ID = -1


@dataclass
class GoldenResult:
    logits: np.ndarray                       # int64 [B, classes] (int32 range)
    kept: list[list[np.ndarray]]             # per stage, per image: kept original token ids
    tokens_per_stage: np.ndarray             # [B, stages] tokens after each stage (CLS+pkg)
    macs: np.ndarray                         # [B] MACs per image
    trace: dict[str, np.ndarray] = field(default_factory=dict)
    origins: list[np.ndarray] = field(default_factory=list)  # per stage [B, T0] (methods)


class Golden:
    """Integer inference over a bundle; `mode`: none | threshold | topk."""

    def __init__(self, bundle: Bundle):
        self.b = bundle
        m = bundle.config["model"]
        self.m = m
        self.dim, self.heads = m["dim"], m["heads"]
        self.dh = self.dim // self.heads
        self.hid = self.dh // 2
        self.grid = m["image_size"] // m["patch_size"]
        self.n_patch = self.grid * self.grid
        self.sel_blocks = bundle.config["reduction"]["blocks"]
        self.topk_tokens = bundle.config["reduction"].get("topk_tokens", [])

    # -- helpers ---------------------------------------------------------------------------
    def lin(self, name: str, x: np.ndarray, frac_in: int) -> tuple[np.ndarray, int]:
        acc = op.linear(x, self.b.w(f"{name}.weight"), self.b.w(f"{name}.bias"))
        return acc, frac_in + self.b.f(f"{name}.weight_frac")

    def ln(self, name: str, x: np.ndarray, out_act: str) -> tuple[np.ndarray, int]:
        y = op.layernorm(x, self.b.w(f"{name}.gamma"), self.b.w(f"{name}.beta"))
        f = C.LN_NORM_FRAC + self.b.f(f"{name}.gamma_frac")
        return op.requant(y, f, self.b.f(out_act), name=out_act), self.b.f(out_act)

    def gelu_act(self, acc: np.ndarray, frac: int, act_in: str, act_out: str) -> np.ndarray:
        g = op.requant(acc, frac, self.b.f(act_in), name=act_in)
        return op.requant(op.gelu(g, self.b.f(act_in)), C.GELU_OUT_FRAC, self.b.f(act_out),
                          name=act_out)

    def add(self, x: np.ndarray, fx: int, acc: np.ndarray, fa: int, act: str) -> np.ndarray:
        s, f = op.align_add(x, fx, acc, fa)
        return op.requant(s, f, self.b.f(act), name=act)

    # -- stages ----------------------------------------------------------------------------
    def patches(self, images: np.ndarray) -> np.ndarray:
        m = self.m
        shape = (m["image_size"], m["image_size"]) + ((m["in_chans"],) if m["in_chans"] > 1 else ())
        if images.dtype != np.uint8:
            raise SievitError(f"images must be uint8, got {images.dtype}")
        if images.ndim != len(shape) + 1 or tuple(images.shape[1:]) != shape:
            raise SievitError(f"images must have shape [N, {', '.join(map(str, shape))}], "
                              f"got {list(images.shape)}")
        x = images.astype(I64) - 128
        x = x.reshape(len(x), self.grid, m["patch_size"], self.grid, m["patch_size"], m["in_chans"])
        x = x.transpose(0, 1, 3, 2, 4, 5)
        return x.reshape(len(x), self.n_patch, -1)

    def patch_embed(self, images: np.ndarray) -> tuple[np.ndarray, int]:
        """Engine `patch_embed`: patches -> linear, CLS, + position -> embed_out (int8)."""
        acc, fa = self.lin("patch_embed", self.patches(images), INPUT_FRAC)
        cls = np.broadcast_to(self.b.w("cls").astype(I64), (len(acc), 1, self.dim))
        fc = self.b.f("cls")
        f = max(fa, fc)
        tok = np.concatenate([cls << I64(f - fc), acc << I64(f - fa)], axis=1)
        tok, f = op.align_add(tok, f, self.b.w("pos").astype(I64), self.b.f("pos"))
        return op.requant(tok, f, self.b.f("embed_out"), name="embed_out"), self.b.f("embed_out")

    def attention(self, i: int, h: np.ndarray, x: np.ndarray, valid: np.ndarray,
                  trace: dict | None = None, key_bias: np.ndarray | None = None,
                  head_mask: np.ndarray | None = None, info: dict | None = None,
                  chan=None) -> np.ndarray:
        """Engine `attention`: QKV, per-head Q.K^T, softmax over live keys, A.V, concat,
        projection, residual with x. h = LN1(x) (int8). Returns res1 (int8).
        Reduction methods: key_bias [B, N] is added to every logit of a key (proportional
        attention, at the logits' frac); head_mask [B, H] zeroes pruned heads' outputs (their
        Q/K/V and projection slices are skipped); info receives probs, k, v; chan
        (quant.channels.ChannelMasks) zeroes masked input, Q/K, V and output channels."""
        from sievit.quant.channels import apply
        p = f"blocks.{i}."
        B, N, D = x.shape
        fx = self.b.f(f"blocks.{i - 1}.res2") if i > 0 else self.b.f("embed_out")
        if chan is not None:
            h = apply(h, chan.embed)
        qkv, fq = self.lin(p + "qkv", h, self.b.f(p + "ln1_out"))
        q = op.requant(qkv[..., :D], fq, self.b.f(p + "q_act"), name=p + "q_act")
        k = op.requant(qkv[..., D:2 * D], fq, self.b.f(p + "k_act"), name=p + "k_act")
        v = op.requant(qkv[..., 2 * D:], fq, self.b.f(p + "v_act"), name=p + "v_act")
        if chan is not None:
            q, k, v = apply(q, chan.qk), apply(k, chan.qk), apply(v, chan.v)

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(B, N, self.heads, self.dh).transpose(0, 2, 1, 3)

        logits = np.rint(split(q).astype(np.float64) @ split(k).astype(np.float64)
                         .transpose(0, 1, 3, 2)).astype(I64)
        if key_bias is not None:
            logits = logits + key_bias[:, None, None, :]
        probs = op.softmax(logits, self.softmax_frac(i), valid[:, None, None, :],
                           name=p + "attn_probs")
        if head_mask is not None:
            probs = probs * head_mask[:, :, None, None]
        if info is not None:
            info.update(probs=probs, k=k, v=v)
        av = np.rint(probs.astype(np.float64) @ split(v).astype(np.float64)).astype(I64)
        av = av.transpose(0, 2, 1, 3).reshape(B, N, D)
        a = op.requant(av, C.SOFTMAX_OUT_FRAC + self.b.f(p + "v_act"), self.b.f(p + "attn_out"),
                       name=p + "attn_out")
        acc, fa = self.lin(p + "proj", a, self.b.f(p + "attn_out"))
        if chan is not None:
            acc = apply(acc, chan.embed)
        x1 = self.add(x, fx, acc, fa, p + "res1")
        if trace is not None:
            trace.update({p + "q": q, p + "k": k, p + "v": v, p + "attn_logits": logits,
                          p + "attn_probs": probs, p + "attn_out": a})
        return x1

    def softmax_frac(self, i: int) -> int:
        return self.b.f(f"blocks.{i}.q_act") + self.b.f(f"blocks.{i}.k_act")

    def mlp(self, i: int, h2: np.ndarray, x1: np.ndarray, trace: dict | None = None,
            chan=None) -> np.ndarray:
        """Engine `mlp`: fc1 -> GELU -> fc2, residual with x1. h2 = LN2(x1). Returns res2.
        chan: embedding (input / output) and hidden channel masks."""
        from sievit.quant.channels import apply
        p = f"blocks.{i}."
        if chan is not None:
            h2 = apply(h2, chan.embed)
        acc, fa = self.lin(p + "fc1", h2, self.b.f(p + "ln2_out"))
        g = self.gelu_act(acc, fa, p + "gelu_in", p + "gelu_out")
        if chan is not None:
            g = apply(g, chan.mlp)
        acc, fa = self.lin(p + "fc2", g, self.b.f(p + "gelu_out"))
        if chan is not None:
            acc = apply(acc, chan.embed)
        if trace is not None:
            trace[p + "gelu_out"] = g
        return self.add(x1, self.b.f(p + "res1"), acc, fa, p + "res2")

    def block(self, i: int, x: np.ndarray, valid: np.ndarray, trace: dict | None) -> np.ndarray:
        p = f"blocks.{i}."
        h, _ = self.ln(p + "ln1", x, p + "ln1_out")
        x1 = self.attention(i, h, x, valid, trace)
        h2, _ = self.ln(p + "ln2", x1, p + "ln2_out")
        out = self.mlp(i, h2, x1, trace)
        if trace is not None:
            trace.update({p + "in": x, p + "ln1_out": h, p + "res1": x1, p + "ln2_out": h2,
                          p + "out": out})
        return out

    def pruning_score(self, s: int, x: np.ndarray, alive: np.ndarray) -> np.ndarray:
        """Engine `pruning`, score half: HeatViT keep scores (Q0.8) of every row;
        alive: [B, N] non-CLS live rows."""
        p = f"selectors.{s}.score."
        n, fn = self.ln(p + "ln", x, p + "ln_out")
        accs = [self.lin(f"{p}local.{h}", n[..., h * self.dh:(h + 1) * self.dh], fn)
                for h in range(self.heads)]
        loc = np.concatenate([op.requant(a, fa, self.b.f(p + "local_in"), name=p + "local_in")
                              for a, fa in accs], axis=-1)
        loc = op.requant(op.gelu(loc, self.b.f(p + "local_in")), C.GELU_OUT_FRAC,
                         self.b.f(p + "local_out"), name=p + "local_out")
        fl = self.b.f(p + "local_out")
        cnt = np.maximum(alive.sum(axis=1, keepdims=True), 1)
        glob = op.div_round((loc * alive[..., None]).sum(axis=1), cnt)        # [B, H*hid]
        mids = []
        for h in range(self.heads):
            lh = loc[..., h * self.hid:(h + 1) * self.hid]
            gh = np.broadcast_to(glob[:, None, h * self.hid:(h + 1) * self.hid], lh.shape)
            acc, fa = self.lin(f"{p}mlp1.{h}", np.concatenate([lh, gh], axis=-1), fl)
            mids.append(op.requant(acc, fa, self.b.f(p + "mlp1_in"), name=p + "mlp1_in"))
        mid = np.concatenate(mids, axis=-1)
        mid = op.requant(op.gelu(mid, self.b.f(p + "mlp1_in")), C.GELU_OUT_FRAC,
                         self.b.f(p + "mlp1_out"), name=p + "mlp1_out")
        fm = self.b.f(p + "mlp1_out")
        probs = []
        for h in range(self.heads):
            acc, fa = self.lin(f"{p}mlp2.{h}", mid[..., h * self.hid:(h + 1) * self.hid], fm)
            probs.append(op.sigmoid(acc[..., 0] - acc[..., 1], fa, name=p + "keep_prob"))
        pq = np.stack(probs, axis=-1)                                        # [B, N, H]
        wacc, fw = self.lin(p + "head_w", glob, fl)
        wq = op.sigmoid(wacc, fw, name=p + "head_weight", per_row=False)    # [B, H]
        num = (pq * wq[:, None, :]).sum(-1)
        den = wq.sum(-1, keepdims=True)
        plain = pq.sum(-1) // self.heads
        return np.where(den > 0, num // np.maximum(den, 1), plain)

    def pruning(self, s: int, x: np.ndarray, ids: np.ndarray, n_valid: np.ndarray,
                mode: str) -> tuple:
        """Engine `pruning`: one selector stage (score, then select); the previous package
        token is the live row with id PKG_ID."""
        N = x.shape[1]
        alive = (np.arange(N)[None, :] < n_valid[:, None]) & (np.arange(N)[None, :] > 0)
        op.set_live_rows(np.arange(N)[None, :] < n_valid[:, None])  # saturation counters only
        score = self.pruning_score(s, x, alive)
        return self.pruning_select(x, ids, n_valid, score, mode, self.topk_tokens[s] - 2) + (score,)

    @staticmethod
    def pruning_select(x: np.ndarray, ids: np.ndarray, n_valid: np.ndarray, score: np.ndarray,
                       mode: str, k: int) -> tuple:
        """Engine `pruning`, select half: decision (threshold >= 0.5, or the k best scores with
        ties to the lower index), package token, stable compaction. Returns (x_new, ids_new,
        n_new, fused count)."""
        B, N, D = x.shape
        pos = np.arange(N)[None, :]
        valid = pos < n_valid[:, None]
        alive = valid & (pos > 0)
        cand = alive & (ids > 0)
        old_pkg = valid & (ids == PKG_ID)
        if mode == "threshold":
            keep = cand & (score >= C.KEEP_THRESHOLD)
        else:
            key = np.where(cand, score, -1)
            order = np.argsort(-key, axis=1, kind="stable")
            rank = np.empty_like(order)
            np.put_along_axis(rank, order, np.arange(N)[None].repeat(B, 0), axis=1)
            keep = cand & (rank < k)
        fuse = (cand & ~keep) | old_pkg
        w = np.where(fuse, score, 0)
        wsum = w.sum(axis=1, keepdims=True)
        cnt = fuse.sum(axis=1, keepdims=True)
        weighted = op.div_round((x * w[..., None]).sum(axis=1), np.maximum(wsum, 1))
        plain = op.div_round((x * fuse[..., None]).sum(axis=1), np.maximum(cnt, 1))
        pkg = np.where(wsum > 0, weighted, plain)                            # [B, D]
        new_has = cnt[:, 0] > 0
        n_kept = keep.sum(axis=1)
        # stable compaction: CLS, kept patches in order, then the rest
        rank_key = np.where(pos == 0, 0, np.where(keep, 1, 2)) * N + pos
        order = np.argsort(rank_key, axis=1, kind="stable")
        x_new = np.take_along_axis(x, order[..., None], axis=1).copy()
        ids_new = np.take_along_axis(ids, order, axis=1).copy()
        n_new = 1 + n_kept + new_has
        rows = np.arange(B)[new_has]
        x_new[rows, 1 + n_kept[new_has]] = pkg[new_has]
        ids_new[rows, 1 + n_kept[new_has]] = PKG_ID
        width = int(n_new.max())
        x_new, ids_new = x_new[:, :width], ids_new[:, :width]
        ids_new[np.arange(width)[None, :] >= n_new[:, None]] = -2
        return x_new, ids_new, n_new, cnt[:, 0]

    def head(self, cls: np.ndarray) -> np.ndarray:
        """Engine `head`: final LayerNorm of the CLS row, then the classifier (int32 logits)."""
        h, fh = self.ln("ln_f", cls, "ln_f_out")
        return self.lin("head", h, fh)[0]

    def run(self, images: np.ndarray, mode: str = "threshold", trace: bool = False) -> GoldenResult:
        if self.b.config["reduction"]["method"] != "heatvit":
            from sievit.quant.golden_reduce import run_reduce
            return run_reduce(self, images, mode, trace)
        if mode not in ("none", "threshold", "topk"):
            raise SievitError(f"unknown pruning mode {mode!r}")
        tr: dict | None = {} if trace else None
        x, _ = self.patch_embed(images)
        B = len(x)
        n_valid = np.full(B, self.n_patch + 1, dtype=I64)
        ids = np.broadcast_to(np.arange(self.n_patch + 1), (B, self.n_patch + 1)).copy()
        m = self.m
        macs = np.full(B, self.n_patch * m["patch_size"] ** 2 * m["in_chans"] * self.dim
                       + self.dim * m["num_classes"], dtype=I64)
        kept: list[list[np.ndarray]] = []
        tokens = []
        stage = 0
        if tr is not None:
            tr["embed_out"] = x
        for i in range(m["depth"]):
            if mode != "none" and stage < len(self.sel_blocks) and self.sel_blocks[stage] == i:
                n_before = n_valid.copy()
                x, ids, n_valid, fused, score = self.pruning(stage, x, ids, n_valid, mode)
                macs += selector_macs(n_before, self.dim, self.heads, fused)
                kept.append([ids[b, :n_valid[b]][ids[b, :n_valid[b]] >= 0] for b in range(B)])
                tokens.append(n_valid.copy())
                if tr is not None:
                    tr[f"selectors.{stage}.score"] = score
                    tr[f"selectors.{stage}.out"] = x
                stage += 1
            valid = np.arange(x.shape[1])[None, :] < n_valid[:, None]
            macs += block_macs(n_valid, self.dim, m["mlp_dim"])
            op.set_live_rows(valid)  # saturation counters only
            x = self.block(i, x, valid, tr)
        op.set_live_rows(None)
        logits = self.head(x[:, 0])
        if np.abs(logits).max(initial=0) >= 2 ** 31:
            raise SievitError("logits overflow int32")
        tok = np.stack(tokens, axis=1) if tokens else np.zeros((B, 0), dtype=I64)
        return GoldenResult(logits, kept, tok, macs, tr or {})
