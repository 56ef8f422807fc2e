"""Lay a bundle out for the hardware: one int8 weight memory, one int32 bias memory, and
the per-layer descriptors (offsets, widths, fractional bits, epilogue) that both hardware
forms read: the HLS engines (`sievit.hls`, hls/include/sievit/*.h) and the RTL program
generator (`sievit.rtl.program`). Shared by both, so neither imports the other."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sievit.config import require_hardware
from sievit.errors import SievitError
from sievit.quant import contract as C
from sievit.quant.bundle import SCHEMA_VERSION, Bundle

EPI = {"requant": 0, "gelu": 1, "residual": 2, "raw": 3}
LINEAR_FIELDS = ("n_in", "n_out", "in_off", "out_off", "w_off", "b_off", "frac_acc", "frac_out",
                 "epi", "frac_gelu_in", "frac_res")
LN_FIELDS = ("dim", "g_off", "b_off", "gamma_frac", "frac_out")


@dataclass
class Memories:
    """int8 weight and int32 bias memories; every array starts on a `word_bytes` boundary
    (8 bytes for the RTL's 64-bit beats, the m_axi word for the HLS engines)."""
    weights: list[np.ndarray] = field(default_factory=list)
    biases: list[np.ndarray] = field(default_factory=list)
    n_w: int = 0
    n_b: int = 0
    word_bytes: int = 8

    def add_w(self, name: str, a: np.ndarray) -> int:
        a = np.asarray(a).reshape(-1)
        if a.size and (a.min() < -128 or a.max() > 127):
            raise SievitError(f"bundle array {name} does not fit int8")
        off = self.n_w
        pad = (-a.size) % self.word_bytes  # every array starts on a word: whole-word bursts
        self.weights.append(np.concatenate([a.astype(np.int8), np.zeros(pad, np.int8)]))
        self.n_w += a.size + pad
        return off

    def add_b(self, name: str, a: np.ndarray) -> int:
        a = np.asarray(a).reshape(-1)
        if a.size and (a.min() < -(2 ** 31) or a.max() >= 2 ** 31):
            raise SievitError(f"bundle array {name} does not fit int32")
        off = self.n_b
        pad = (-a.size) % (self.word_bytes // 4)
        self.biases.append(np.concatenate([a.astype(np.int32), np.zeros(pad, np.int32)]))
        self.n_b += a.size + pad
        return off

    def weight_bytes(self) -> np.ndarray:
        return np.concatenate(self.weights) if self.weights else np.zeros(0, np.int8)

    def bias_words(self) -> np.ndarray:
        return np.concatenate(self.biases) if self.biases else np.zeros(0, np.int32)


@dataclass
class HwConfig:
    """Compile-time shape of the engines (the CFG struct of the C++ templates)."""
    max_n: int
    max_w: int
    lanes: int
    max_heads: int
    depth: int
    stages: int
    max_classes: int
    image_pixels: int
    word_bits: int = 64      # m_axi word of the weight / bias memories
    max_out: int = 0         # widest linear output (bias / raw buffers)
    w_tile_rows: int = 0     # output rows per on-chip weight tile (a multiple of the word)
    acc_bits: int = 32       # linear accumulator: bias + n_in x 128 x max|w|, any int8 input
    epi_bits: int = 33       # epilogue sums aligned to the larger frac


WEIGHT_TILE_BYTES = 64 * 1024   # on-chip weight tile budget of the linear engine


def hls_word_bits(lanes: int) -> int:
    """m_axi word of the HLS engines: at least 128 bits, one LANES-byte chunk at least."""
    return min(512, max(128, 8 * lanes))


def sbits(bound: int) -> int:
    """Bits of a signed integer holding [-bound, bound]."""
    return int(bound).bit_length() + 1


class Layout:
    """Descriptors and memories of one bundle. Raises SievitError when the engines' shape
    cannot hold the bundle (schema, widths not a multiple of lanes, negative fracs...).
    form: the hardware form (rtl | hls) whose reduction methods the bundle must use."""

    def __init__(self, bundle: Bundle, lanes: int = 8, word_bits: int = 64, form: str = "rtl",
                 embed_row_bytes: int = 1):
        """`embed_row_bytes`: pad the patch embedding's weight rows with zero inputs to a
        multiple of this many bytes (the RTL feeds patch rows as whole stream words)."""
        if bundle.meta.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise SievitError("bundle schema version is not supported by the HLS engines")
        require_hardware(bundle.config, form)
        self.b = bundle
        m = bundle.config["model"]
        self.m = m
        self.lanes = lanes
        self.dim, self.heads = m["dim"], m["heads"]
        self.dh = self.dim // self.heads
        self.hid = self.dh // 2
        self.grid = m["image_size"] // m["patch_size"]
        self.n_tok = self.grid * self.grid + 1
        self.word_bits = word_bits
        self.embed_row_bytes = embed_row_bytes
        self.mem = Memories(word_bytes=word_bits // 8)
        self.names: list[tuple[str, dict]] = []  # every linear, for the engine testbench
        self.lns: list[tuple[str, dict]] = []
        self.desc = self._build()
        patch_in = m["patch_size"] ** 2 * m["in_chans"]
        self.hw = HwConfig(max_n=self.n_tok, max_w=max(3 * self.dim, m["mlp_dim"], patch_in),
                           lanes=lanes, max_heads=self.heads, depth=m["depth"],
                           stages=len(bundle.config["reduction"]["blocks"]),
                           max_classes=m["num_classes"],
                           image_pixels=m["image_size"] ** 2 * m["in_chans"])
        self._check()
        self._size()

    # -- builders --------------------------------------------------------------------------
    def linear(self, name: str, frac_in: int, epi: str, frac_out: int = 0, rows: slice | None = None,
               in_off: int = 0, out_off: int = 0, frac_gelu_in: int = 0, frac_res: int = 0,
               label: str | None = None, pad_in: int = 1) -> dict:
        w = self.b.w(f"{name}.weight")
        bias = self.b.w(f"{name}.bias")
        if rows is not None:
            w, bias = w[rows], bias[rows]
        if w.shape[1] % pad_in:  # zero weights for the zero inputs that pad each row
            w = np.pad(w, ((0, 0), (0, -w.shape[1] % pad_in)))
        d = {"n_in": int(w.shape[1]), "n_out": int(w.shape[0]), "in_off": in_off,
             "out_off": out_off, "w_off": self.mem.add_w(name, w), "b_off": self.mem.add_b(name, bias),
             "frac_acc": frac_in + self.b.f(f"{name}.weight_frac"), "frac_out": frac_out,
             "epi": EPI[epi], "frac_gelu_in": frac_gelu_in, "frac_res": frac_res}
        self.names.append((label or name, d))
        return d

    def layernorm(self, name: str, out_act: str) -> dict:
        d = {"dim": self.dim, "g_off": self.mem.add_w(name, self.b.w(f"{name}.gamma")),
             "b_off": self.mem.add_b(name, self.b.w(f"{name}.beta")),
             "gamma_frac": self.b.f(f"{name}.gamma_frac"), "frac_out": self.b.f(out_act)}
        self.lns.append((name, d))
        return d

    def _build(self) -> dict:
        b, D = self.b, self.dim
        m = self.m
        lin = self.linear("patch_embed", C_INPUT_FRAC, "raw", pad_in=self.embed_row_bytes)
        embed = {"lin": lin, "image_size": m["image_size"], "patch": m["patch_size"],
                 "chans": m["in_chans"], "grid": self.grid,
                 "cls_off": self.mem.add_w("cls", b.w("cls")), **self._pos_rows(b.w("pos")),
                 "frac_cls": b.f("cls"), "frac_pos": b.f("pos"), "frac_out": b.f("embed_out")}
        ln1, attn, ln2, mlp = [], [], [], []
        for i in range(m["depth"]):
            p = f"blocks.{i}."
            fx = b.f(f"blocks.{i - 1}.res2") if i > 0 else b.f("embed_out")
            fh = b.f(p + "ln1_out")
            ln1.append(self.layernorm(p + "ln1", p + "ln1_out"))
            q = self.linear(p + "qkv", fh, "requant", b.f(p + "q_act"), slice(0, D), label=p + "q")
            k = self.linear(p + "qkv", fh, "requant", b.f(p + "k_act"), slice(D, 2 * D), label=p + "k")
            v = self.linear(p + "qkv", fh, "requant", b.f(p + "v_act"), slice(2 * D, 3 * D), label=p + "v")
            proj = self.linear(p + "proj", b.f(p + "attn_out"), "residual", b.f(p + "res1"),
                               frac_res=fx)
            attn.append({"q": q, "k": k, "v": v, "proj": proj, "heads": self.heads,
                         "head_dim": self.dh, "frac_s": b.f(p + "q_act") + b.f(p + "k_act"),
                         "frac_v": b.f(p + "v_act"), "frac_attn_out": b.f(p + "attn_out")})
            ln2.append(self.layernorm(p + "ln2", p + "ln2_out"))
            fc1 = self.linear(p + "fc1", b.f(p + "ln2_out"), "gelu", b.f(p + "gelu_out"),
                              frac_gelu_in=b.f(p + "gelu_in"))
            fc2 = self.linear(p + "fc2", b.f(p + "gelu_out"), "residual", b.f(p + "res2"),
                              frac_res=b.f(p + "res1"))
            mlp.append({"fc1": fc1, "fc2": fc2})
        sels = []
        red = b.config["reduction"]
        for s in range(len(red["blocks"]) if red["method"] == "heatvit" else 0):
            p = f"selectors.{s}.score."
            fn, fl, fm = b.f(p + "ln_out"), b.f(p + "local_out"), b.f(p + "mlp1_out")
            sel = {"ln": self.layernorm(p + "ln", p + "ln_out"), "local": [], "mlp1": [], "mlp2": []}
            for h in range(self.heads):
                sel["local"].append(self.linear(f"{p}local.{h}", fn, "gelu", fl, in_off=h * self.dh,
                                                out_off=h * self.hid,
                                                frac_gelu_in=b.f(p + "local_in")))
            for h in range(self.heads):
                sel["mlp1"].append(self.linear(f"{p}mlp1.{h}", fl, "gelu", fm, out_off=h * self.hid,
                                               frac_gelu_in=b.f(p + "mlp1_in")))
            for h in range(self.heads):
                sel["mlp2"].append(self.linear(f"{p}mlp2.{h}", fm, "raw", in_off=h * self.hid))
            sel["head_w"] = self.linear(p + "head_w", fl, "raw")
            sel["heads"], sel["hid"] = self.heads, self.hid
            sels.append(sel)
        head = {"ln": self.layernorm("ln_f", "ln_f_out"),
                "fc": self.linear("head", b.f("ln_f_out"), "raw")}
        return {"embed": embed, "ln1": ln1, "attn": attn, "ln2": ln2, "mlp": mlp, "sel": sels,
                "sel_block": list(red["blocks"]), "topk_keep": [t - 2 for t in red.get("topk_tokens", [])],
                "head": head}

    def _pos_rows(self, pos: np.ndarray) -> dict:
        """Position rows, each padded to a whole word (contiguous when dim fills words)."""
        pos = np.asarray(pos).reshape(self.n_tok, -1)
        stride = -(-pos.shape[1] // self.mem.word_bytes) * self.mem.word_bytes
        padded = np.zeros((self.n_tok, stride), dtype=np.int64)
        padded[:, :pos.shape[1]] = pos
        return {"pos_off": self.mem.add_w("pos", padded), "pos_stride": stride}

    def _size(self) -> None:
        """Widths and tile shape from the contract: the bounds every input can reach."""
        hw, wb = self.hw, self.word_bits // 8
        acc = 0
        wmem, bmem = self.mem.weight_bytes(), self.mem.bias_words()
        for name, d in self.names:
            w = wmem[d["w_off"]: d["w_off"] + d["n_in"] * d["n_out"]]
            bias = bmem[d["b_off"]: d["b_off"] + d["n_out"]]
            bound = int(np.abs(bias.astype(np.int64)).max(initial=0)) + d["n_in"] * 128 * int(
                np.abs(w.astype(np.int64)).max(initial=0))
            acc = max(acc, sbits(bound))
        epi = acc + 1
        for name, d in self.names:
            if d["epi"] == EPI["residual"]:
                f = max(d["frac_acc"], d["frac_res"])
                epi = max(epi, acc + f - d["frac_acc"] + 1, 8 + f - d["frac_res"] + 1)
        e = self.desc["embed"]
        f2 = max(e["lin"]["frac_acc"], e["frac_cls"], e["frac_pos"])
        epi = max(epi, acc + f2 - e["lin"]["frac_acc"] + 1, 8 + f2 - e["frac_pos"] + 1,
                  8 + f2 - e["frac_cls"] + 1)
        if epi > 96:
            raise SievitError(f"fractional bits too far apart: the epilogue would need {epi} bits")
        hw.word_bits, hw.acc_bits, hw.epi_bits = self.word_bits, acc, epi
        hw.max_out = max([d["n_out"] for _, d in self.names] + [hw.max_classes])
        rows = max(wb, WEIGHT_TILE_BYTES // hw.max_w // wb * wb)
        hw.w_tile_rows = min(rows, -(-hw.max_out // wb) * wb)

    def _check(self) -> None:
        for name, d in self.names:
            if d["n_in"] % self.lanes:
                raise SievitError(f"layer {name}: input width {d['n_in']} is not a multiple of "
                                  f"the engine's {self.lanes} MAC lanes")
        for name, d in self.names:
            if (".mlp2." in name or name.endswith("head_w")) and not 0 <= d["frac_acc"] <= 40:
                raise SievitError(f"layer {name}: sigmoid input frac {d['frac_acc']} is outside "
                                  "the engine's 0..40")
            if d["epi"] == EPI["gelu"] and d["frac_gelu_in"] < GELU_MIN_FRAC:
                raise SievitError(f"layer {name}: GELU input frac {d['frac_gelu_in']} is below "
                                  f"the engine's {GELU_MIN_FRAC}")
        if self.dh % self.lanes:
            raise SievitError(f"head width {self.dh} is not a multiple of the engine's "
                              f"{self.lanes} MAC lanes")
        if self.m["image_size"] % self.m["patch_size"]:
            raise SievitError("image size is not a multiple of the patch size")


C_INPUT_FRAC = 7  # uint8 pixel p becomes p - 128 at frac 7 (docs/numerics.md)
GELU_MIN_FRAC = -13  # gelu.h kGeluMinFrac
