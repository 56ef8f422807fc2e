"""The RTL whole-model top's program and memory image, generated from a bundle.

The memory behind `sievit_top`'s burst read port holds the int8 weights (sievit/layout.py
layout), the int32 biases, then one program per pruning mode. A program is a list of
descriptors of DESC_WORDS 32-bit words (docs/numerics.md, "RTL program"); the controller
fetches one, runs its engine, and goes on until OP_END."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from sievit.errors import SievitError
from sievit.layout import Layout
from sievit.quant.bundle import Bundle

DESC_WORDS = 64
OP = {"end": 0, "embed": 1, "ln": 2, "attn": 3, "mlp": 4, "score": 5, "prune": 6, "head": 7}
MODES = {"threshold": 1, "topk": 2}
MAXH = 4          # selector heads a descriptor holds (sievit_top's MAXH)
RTL_LANES = 8     # k-lanes of the small (64-bit) MAC arrays: patch embedding, selector, head


@dataclass(frozen=True)
class RtlParams:
    """Compile-time sizes of sievit_top (Verilog parameters): buffers and the MAC arrays.

    The shared linear array (attention's and the MLP's GEMMs) does rows x cols x lanes int8
    MACs per cycle (token rows x output columns x input elements; row pairs share one DSP);
    attention's Q.K^T does qk_keys x lanes and A.V av_keys x 8; the patch embedding and the
    selector keep arrays of aux_rows x aux_cols x 8. `beat_bits` is the width of the read
    port and of the activation streams of layernorm, attention and mlp (the other engines and
    the image / result streams stay 64-bit); the memory model delivers at most
    `mem_bytes_per_cycle` bytes per cycle, `mem_latency` cycles after a burst's request."""
    max_n: int = 64
    max_d: int = 128
    max_h: int = 256
    max_in: int = 64
    max_pix: int = 1024
    max_classes: int = 16
    mem_words: int = 1 << 20
    rows: int = 2
    cols: int = 8
    qk_keys: int = 8
    av_keys: int = 8
    exp_lanes: int = 8    # softmax exponentials per cycle
    aux_rows: int = 2     # the patch embedding's and selector's own (smaller) linear arrays
    aux_cols: int = 8
    lanes: int = 8        # input elements per dot product per cycle (shared array, Q.K^T)
    beat_bits: int = 64   # read port and activation streams: 64, 128 or 256
    mem_bytes_per_cycle: int = 16   # the memory model's bandwidth cap
    mem_latency: int = 64           # and its cycles from a request to the first word

    @property
    def beat_bytes(self) -> int:
        return self.beat_bits // 8

    @property
    def mac_lanes(self) -> int:
        """Peak int8 MACs per cycle: the linear array, the largest array of the top."""
        return self.rows * self.cols * self.lanes

    def verilog(self) -> dict[str, int]:
        return {"MAX_N": self.max_n, "MAX_D": self.max_d, "MAX_H": self.max_h,
                "MAX_IN": self.max_in, "MAX_PIX": self.max_pix,
                "MAX_CLASSES": self.max_classes, "MEM_WORDS": self.mem_words,
                "ROWS": self.rows, "COLS": self.cols, "QK_KEYS": self.qk_keys,
                "AV_KEYS": self.av_keys, "EXP_LANES": self.exp_lanes,
                "AUX_ROWS": self.aux_rows, "AUX_COLS": self.aux_cols, "LANES": self.lanes,
                "BEAT": self.beat_bits}


_DEIT_BUFFERS = dict(max_n=200, max_d=192, max_h=768, max_in=768, max_pix=224 * 224 * 3,
                     max_classes=1000)
PRESETS = {
    # the shipped Fashion-MNIST model's buffers; 128 MACs/cycle (CI simulates it quickly)
    "fmnist": RtlParams(),
    # the shipped model's buffers on the wide datapath (256-bit beats, 2 x 32 x 32): CI's
    # check of the width adapter, the part-word buffer access and the wide engines
    "fmnist_wide": RtlParams(rows=2, cols=32, lanes=32, beat_bits=256),
    # DeiT-Tiny buffers, 512 MACs/cycle, 128-bit beats
    "deit_tiny": RtlParams(**_DEIT_BUFFERS, mem_words=1 << 20, rows=2, cols=16, lanes=16,
                           qk_keys=16, av_keys=16, exp_lanes=16, beat_bits=128),
    # DeiT-Tiny buffers, 2048 MACs/cycle (1024 DSP48E2 for the array), 256-bit beats: the
    # ZCU102 target
    "zcu102": RtlParams(**_DEIT_BUFFERS, mem_words=1 << 19, rows=2, cols=32, lanes=32,
                        qk_keys=32, av_keys=32, exp_lanes=32, beat_bits=256),
}


def check_fits(layout: Layout, hw: RtlParams) -> None:
    """Raise SievitError naming the first bundle dimension the RTL parameters cannot hold."""
    m = layout.m
    patch_in = m["patch_size"] ** 2 * m["in_chans"]
    pixels = m["image_size"] ** 2 * m["in_chans"]
    need = [("tokens", layout.n_tok, hw.max_n, "max_n"), ("width", layout.dim, hw.max_d, "max_d"),
            ("MLP width", m["mlp_dim"], hw.max_h, "max_h"), ("patch inputs", patch_in, hw.max_in, "max_in"),
            ("image bytes", pixels, hw.max_pix, "max_pix"),
            ("classes", m["num_classes"], hw.max_classes, "max_classes"),
            ("heads", layout.heads, MAXH, "MAXH")]
    for what, value, limit, name in need:
        if value > limit:
            raise SievitError(f"bundle needs {value} {what} but the RTL is built for "
                              f"{name}={limit} (choose a larger --hw preset)")
    for what, value in (("width", layout.dim), ("head width", layout.dh),
                        ("selector hidden width", layout.hid), ("image bytes", pixels)):
        if value % RTL_LANES:
            raise SievitError(f"bundle {what} {value} is not a multiple of the RTL's "
                              f"{RTL_LANES} MAC lanes / 8-byte beats")
    # the wide engines: rows of whole beats, k-steps of whole lanes
    step = max(hw.lanes, hw.beat_bytes)
    for what, value in (("width", layout.dim), ("head width", layout.dh),
                        ("MLP width", m["mlp_dim"])):
        if value % step:
            raise SievitError(f"bundle {what} {value} is not a multiple of {step}: the RTL "
                              f"preset's {hw.lanes} lanes and {hw.beat_bytes}-byte beats")


def _word(v: int) -> int:
    return int(v) & 0xFFFFFFFF


def _desc(op: str, dim: int, fields: dict[int, int]) -> np.ndarray:
    d = np.zeros(DESC_WORDS, dtype=np.uint32)
    d[0], d[1] = OP[op], dim
    for i, v in fields.items():
        d[i] = _word(v)
    return d


class Program:
    """Descriptors of one bundle for each mode, and the memory image that holds them."""

    def __init__(self, bundle: Bundle, hw: RtlParams):
        self.layout = Layout(bundle, lanes=RTL_LANES, word_bits=hw.beat_bits)
        check_fits(self.layout, hw)
        self.hw = hw
        lay = self.layout
        self.weights = lay.mem.weight_bytes().tobytes()
        self.bias_base = len(self.weights)
        biases = lay.mem.bias_words().astype("<i4").tobytes()
        self.prog_base = self.bias_base + len(biases)
        self.programs = {mode: self.program(mode) for mode in ("none", "threshold", "topk")}
        blob, self.prog_addr, addr = b"", {}, self.prog_base
        for mode, prog in self.programs.items():
            self.prog_addr[mode] = addr
            blob += prog.astype("<u4").tobytes()
            addr += prog.nbytes
        self.image = self.weights + biases + blob
        if len(self.image) > hw.beat_bytes * hw.mem_words:
            raise SievitError(f"memory image is {len(self.image)} bytes; the simulated memory "
                              f"holds {hw.beat_bytes * hw.mem_words} (mem_words={hw.mem_words})")

    def _b(self, d: dict) -> int:
        return self.bias_base + 4 * d["b_off"]

    def program(self, mode: str) -> np.ndarray:
        lay, desc, D = self.layout, self.layout.desc, self.layout.dim
        e = desc["embed"]
        ops = [_desc("embed", D, {2: e["image_size"], 3: e["patch"], 4: e["chans"], 5: e["grid"],
                                  6: lay.n_tok, 7: e["cls_off"], 8: e["pos_off"],
                                  9: e["lin"]["w_off"], 10: self._b(e["lin"]),
                                  11: e["lin"]["frac_acc"], 12: e["frac_cls"],
                                  13: e["frac_pos"], 14: e["frac_out"]})]
        stage = 0
        for i in range(lay.m["depth"]):
            if mode != "none" and stage < len(desc["sel_block"]) and desc["sel_block"][stage] == i:
                ops += [self._score(desc["sel"][stage]),
                        _desc("prune", D, {2: MODES[mode], 3: desc["topk_keep"][stage]})]
                stage += 1
            ops.append(self._ln(desc["ln1"][i]))
            a = desc["attn"][i]
            lins = [a["q"], a["k"], a["v"], a["proj"]]
            f = {2: a["heads"], 3: a["head_dim"], 20: a["proj"]["frac_res"], 21: a["frac_s"],
                 22: a["frac_v"], 23: a["frac_attn_out"]}
            for j, d in enumerate(lins):
                f.update({4 + j: d["w_off"], 8 + j: self._b(d), 12 + j: d["frac_acc"],
                          16 + j: d["frac_out"]})
            ops.append(_desc("attn", D, f))
            ops.append(self._ln(desc["ln2"][i]))
            fc1, fc2 = desc["mlp"][i]["fc1"], desc["mlp"][i]["fc2"]
            ops.append(_desc("mlp", D, {2: fc1["n_out"], 3: fc1["w_off"], 4: self._b(fc1),
                                        5: fc1["frac_acc"], 6: fc1["frac_gelu_in"],
                                        7: fc1["frac_out"], 8: fc2["w_off"], 9: self._b(fc2),
                                        10: fc2["frac_acc"], 11: fc2["frac_res"],
                                        12: fc2["frac_out"]}))
        h = desc["head"]
        ops.append(_desc("head", D, {2: h["fc"]["n_out"], 3: h["ln"]["g_off"], 4: self._b(h["ln"]),
                                     5: h["ln"]["gamma_frac"], 6: h["ln"]["frac_out"],
                                     7: h["fc"]["w_off"], 8: self._b(h["fc"]),
                                     9: h["fc"]["frac_acc"]}))
        ops.append(_desc("end", D, {}))
        return np.stack(ops)

    def _ln(self, d: dict) -> np.ndarray:
        return _desc("ln", self.layout.dim, {2: d["g_off"], 3: self._b(d), 4: d["gamma_frac"],
                                             5: d["frac_out"]})

    def _score(self, s: dict) -> np.ndarray:
        f = {2: s["heads"], 3: s["hid"], 4: s["ln"]["g_off"], 5: self._b(s["ln"]),
             6: s["ln"]["gamma_frac"], 7: s["ln"]["frac_out"],
             8: s["local"][0]["frac_gelu_in"], 9: s["local"][0]["frac_out"],
             10: s["mlp1"][0]["frac_gelu_in"], 11: s["mlp1"][0]["frac_out"],
             12: s["head_w"]["w_off"], 13: self._b(s["head_w"]), 14: s["head_w"]["frac_acc"]}
        for h in range(s["heads"]):
            for j, d in enumerate((s["local"][h], s["mlp1"][h], s["mlp2"][h])):
                f[16 + 3 * h + j] = d["w_off"]
                f[16 + 3 * MAXH + 3 * h + j] = self._b(d)
                f[16 + 6 * MAXH + 3 * h + j] = d["frac_acc"]
        return _desc("score", self.layout.dim, f)

    def memory_hex(self) -> str:
        """The memory image as $readmemh text."""
        return readmemh_text(self.image, self.hw.beat_bytes)

    def describe(self) -> dict:
        return {"hw": asdict(self.hw), "ops": {m: len(p) for m, p in self.programs.items()},
                "memory_bytes": len(self.image)}


def readmemh_text(data: bytes, word_bytes: int = 8) -> str:
    """Bytes as $readmemh text: one little-endian word of `word_bytes` per line (zero-padded)."""
    data = data + b"\0" * (-len(data) % word_bytes)
    if word_bytes == 8:
        words = np.frombuffer(data, dtype="<u8")
        return "\n".join(f"{w:016x}" for w in words) + "\n"
    return "\n".join(data[i:i + word_bytes][::-1].hex()
                     for i in range(0, len(data), word_bytes)) + "\n"


def images_hex(images: np.ndarray) -> tuple[str, int]:
    """uint8 images [N, ...] as $readmemh text of 64-bit beats; returns (text, beats/image)."""
    flat = np.ascontiguousarray(images).reshape(len(images), -1)
    if flat.shape[1] % 8:
        raise SievitError(f"image bytes {flat.shape[1]} are not a multiple of 8")
    return readmemh_text(flat.tobytes()), flat.shape[1] // 8
