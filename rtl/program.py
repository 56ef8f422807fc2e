"""The RTL whole-model top's program and memory image, generated from a bundle.

The memory behind `sievit_top`'s burst read port holds the int8 weights (sievit/layout.py
layout), the int32 biases, then one program per pruning mode. A program is a list of
descriptors of DESC_WORDS 32-bit words (rtl/schema.py, docs/numerics.md "RTL program"); the controller
fetches one, runs its engine, and goes on until OP_END."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from sievit.errors import SievitError
from sievit.layout import Layout
from sievit.quant.bundle import Bundle

from sievit.quant.contract import PPT_TAU_FRAC
from sievit.rtl.schema import DESC_WORDS, LOG_SIZE_MAX, OPS, PRUNE_MODES, SEL_MAXH, encode

OP = {name: op.code for name, op in OPS.items()}
MAXH = SEL_MAXH   # selector heads a descriptor holds
ATTN_MAX_HEADS = 8   # attention's MAX_HEADS (CP-ViT's head registers)
SCORE_BITS = 16      # pruning's score registers: CP-ViT's cumulative scores must fit
RTL_LANES = 8     # k-lanes of the small (64-bit) MAC array: the selector
MERGE_METHODS = ("tome", "ppt")   # their stages run on the merge op (bipartite_merge)
PPT_MAX_D = 256   # PPT's scores (CLS attention x isqrt(|v|^2)) stay below 2^24


@dataclass(frozen=True)
class RtlParams:
    """Compile-time sizes of sievit_top (Verilog parameters): buffers and the MAC arrays.

    The shared linear array (the patch embedding's, attention's, the MLP's and the head's GEMMs) does
    rows x cols x lanes int8 MACs per cycle (token rows x output columns x input elements;
    row pairs share one DSP); attention's Q.K^T does qk_keys x lanes and A.V av_keys x 8;
    the selector keeps an array of aux_rows x aux_cols x 8. `beat_bits` is the width of the
    read port and of the activation streams of layernorm, attention and mlp (the other engines and
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
    aux_rows: int = 2     # the selector's own (smaller) linear array
    aux_cols: int = 8
    lanes: int = 8        # input elements per dot product per cycle (shared array, Q.K^T)
    sim_lanes: int = 8    # ToMe's merge: unit-key products per A row per cycle
    sim_rows: int = 1     #   and A rows compared at once
    max_dh: int = 64      # head width (ToMe's unit keys)
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
                "SIM_LANES": self.sim_lanes, "SIM_ROWS": self.sim_rows, "MAX_DH": self.max_dh,
                "BEAT": self.beat_bits}


_DEIT_BUFFERS = dict(max_n=200, max_d=192, max_h=768, max_in=768, max_pix=224 * 224 * 3,
                     max_classes=1000)
PRESETS = {
    # the shipped Fashion-MNIST model's buffers; 128 MACs/cycle (CI simulates it quickly);
    # ToMe's similarity takes a whole 32-wide unit key per cycle
    "fmnist": RtlParams(sim_lanes=32),
    # the shipped model's buffers on the wide datapath (256-bit beats, 2 x 32 x 32): CI's
    # check of the width adapter, the part-word buffer access and the wide engines
    "fmnist_wide": RtlParams(rows=2, cols=32, lanes=32, beat_bits=256, sim_lanes=32),
    # DeiT-Tiny buffers, 512 MACs/cycle, 128-bit beats
    "deit_tiny": RtlParams(**_DEIT_BUFFERS, mem_words=1 << 20, rows=2, cols=16, lanes=16,
                           qk_keys=16, av_keys=16, exp_lanes=16, beat_bits=128, sim_lanes=32, sim_rows=2),
    # DeiT-Tiny buffers, 2048 MACs/cycle (1024 DSP48E2 for the array), 256-bit beats: the
    # ZCU102 target
    "zcu102": RtlParams(**_DEIT_BUFFERS, mem_words=1 << 19, rows=2, cols=32, lanes=32,
                        qk_keys=32, av_keys=32, exp_lanes=32, beat_bits=256, sim_lanes=64, sim_rows=4),
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
            ("heads", layout.heads, MAXH, "MAXH"),
            ("attention heads", layout.heads, ATTN_MAX_HEADS, "attention MAX_HEADS")]
    for what, value, limit, name in need:
        if value > limit:
            raise SievitError(f"bundle needs {value} {what} but the RTL is built for "
                              f"{name}={limit} (choose a larger --hw preset)")
    for what, value in (("width", layout.dim), ("head width", layout.dh),
                        ("selector hidden width", layout.hid), ("image bytes", pixels)):
        if value % RTL_LANES:
            raise SievitError(f"bundle {what} {value} is not a multiple of the RTL's "
                              f"{RTL_LANES} MAC lanes / 8-byte beats")
    red = layout.b.config["reduction"]
    if red["method"] in MERGE_METHODS:
        name = {"tome": "ToMe", "ppt": "PPT"}[red["method"]]
        for what, value, limit in (("head width", layout.dh, hw.max_dh),
                                   ("tokens", layout.n_tok, LOG_SIZE_MAX),
                                   ("width", layout.dim, PPT_MAX_D)):
            if value > limit:
                raise SievitError(f"{name} on the RTL needs {what} <= {limit} (unit keys, the "
                                  f"ln-size ROM, PPT's 24-bit scores); the bundle has {value}")
        if (2 * layout.dh) % hw.beat_bytes or layout.dh % hw.sim_lanes:
            raise SievitError(f"{name}'s unit keys: head width {layout.dh} must fill whole "
                              f"{hw.beat_bytes}-byte beats as int16 and be a multiple of "
                              f"sim_lanes={hw.sim_lanes}")
    if red["method"] == "cpvit":
        top = 255 * layout.heads * (max(red["blocks"], default=0) + 1)
        if top >= 1 << SCORE_BITS:
            raise SievitError(f"CP-ViT's cumulative scores reach {top}; the pruning engine's "
                              f"scores hold {SCORE_BITS} bits")
    # the wide engines: rows of whole beats, k-steps of whole lanes
    step = max(hw.lanes, hw.beat_bytes)
    for what, value in (("width", layout.dim), ("head width", layout.dh),
                        ("MLP width", m["mlp_dim"])):
        if value % step:
            raise SievitError(f"bundle {what} {value} is not a multiple of {step}: the RTL "
                              f"preset's {hw.lanes} lanes and {hw.beat_bytes}-byte beats")


class Program:
    """Descriptors of one bundle for each mode, and the memory image that holds them."""

    def __init__(self, bundle: Bundle, hw: RtlParams):
        self.layout = Layout(bundle, lanes=RTL_LANES, word_bits=hw.beat_bits,
                             embed_row_bytes=hw.beat_bytes)
        check_fits(self.layout, hw)
        self.hw = hw
        lay = self.layout
        self.weights = lay.mem.weight_bytes().tobytes()
        self.bias_base = len(self.weights)
        biases = lay.mem.bias_words().astype("<i4").tobytes()
        # the shared array's weight list (the same GEMMs run in every mode), on whole beats
        self.wlist_base = _align(self.bias_base + len(biases), hw.beat_bytes)
        wlist = self.weight_list()
        self.prog_base = self.wlist_base + len(wlist)
        self.method = bundle.config["reduction"]["method"]
        modes = ("none", "threshold", "topk") if self.method == "heatvit" else ("none", "reduce")
        self.programs = {mode: self.program(mode) for mode in modes}
        blob, self.prog_addr, addr = b"", {}, self.prog_base
        for mode, prog in self.programs.items():
            self.prog_addr[mode] = addr
            blob += prog.astype("<u4").tobytes()
            addr += prog.nbytes
        pad = b"\0" * (self.wlist_base - self.bias_base - len(biases))
        self.image = self.weights + biases + pad + wlist + blob
        if len(self.image) > hw.beat_bytes * hw.mem_words:
            raise SievitError(f"memory image is {len(self.image)} bytes; the simulated memory "
                              f"holds {hw.beat_bytes * hw.mem_words} (mem_words={hw.mem_words})")

    def _b(self, d: dict) -> int:
        return self.bias_base + 4 * d["b_off"]

    def gemms(self) -> list[dict]:
        """The shared array's GEMMs in the order the program calls them: the patch
        embedding, per block Q, K, V, the projection, fc1 and fc2, then the head's classifier
        (every mode runs all of them; pruning changes their row counts, not their weights)."""
        desc = self.layout.desc
        out = [desc["embed"]["lin"]]
        for i in range(self.layout.m["depth"]):
            a, mlp = desc["attn"][i], desc["mlp"][i]
            out += [a["q"], a["k"], a["v"], a["proj"], mlp["fc1"], mlp["fc2"]]
        return out + [desc["head"]["fc"]]

    def weight_list(self) -> bytes:
        """The weight list `linear` walks with PREFETCH = 1 (rtl/linear.sv): per GEMM
        w, b, n_in | n_out << 16, 0 as 32-bit words, each entry on max(16, beat) bytes, ended
        by an entry with n_out = 0."""
        stride = max(16, self.hw.beat_bytes)
        rows = [(d["w_off"], self._b(d), d["n_in"] | d["n_out"] << 16, 0) for d in self.gemms()]
        rows.append((0, 0, 0, 0))
        entry = np.zeros((len(rows), stride // 4), dtype="<u4")
        entry[:, :4] = np.array(rows, dtype=np.uint64).astype("<u4")
        return entry.tobytes()

    def program(self, mode: str) -> np.ndarray:
        lay, desc, D = self.layout, self.layout.desc, self.layout.dim
        e = desc["embed"]
        ops = [encode("embed", D, {
            "image_size": e["image_size"], "patch": e["patch"], "chans": e["chans"],
            "grid": e["grid"], "tokens": lay.n_tok, "cls": e["cls_off"], "pos": e["pos_off"],
            "w": e["lin"]["w_off"], "b": self._b(e["lin"]), "frac_acc": e["lin"]["frac_acc"],
            "frac_cls": e["frac_cls"], "frac_pos": e["frac_pos"], "frac_out": e["frac_out"],
            "wlist": self.wlist_base, "sc_init": int(self.method in MERGE_METHODS)})]
        stage_blocks = desc["sel_block"]
        in_block = mode == "reduce"           # EViT / CP-ViT: the stages run inside blocks
        keep = (keep_per_stage(lay.b.config)
                if in_block and self.method not in MERGE_METHODS else [])
        for i in range(lay.m["depth"]):
            here = in_block and i in stage_blocks
            if self.method == "heatvit" and mode != "none" and i in stage_blocks:
                s = stage_blocks.index(i)
                ops += [self._score(desc["sel"][s]),
                        encode("prune", D, {"mode": PRUNE_MODES[mode],
                                            "k": desc["topk_keep"][s], "heads": 0})]
            a = desc["attn"][i]
            lins = [a["q"], a["k"], a["v"], a["proj"]]
            ops.append(encode("attn", D, {
                "heads": a["heads"], "head_dim": a["head_dim"],
                "w": [d["w_off"] for d in lins], "b": [self._b(d) for d in lins],
                "frac_acc": [d["frac_acc"] for d in lins], "frac_out": [d["frac_out"] for d in lins],
                "frac_res": a["proj"]["frac_res"], "frac_s": a["frac_s"], "frac_v": a["frac_v"],
                "frac_attn_out": a["frac_attn_out"], **self._attn_reduce_fields(i, in_block),
                **self._ln(desc["ln1"][i])}))
            if here and self.method in MERGE_METHODS:  # merge (PPT: or drop); the MLP runs on the rest
                ops.append(encode("merge", D, self._merge_fields(a["head_dim"])))
            elif here:  # the block's attention scores pick the rows; the MLP runs on them
                ops.append(encode("prune", D, {
                    "mode": PRUNE_MODES["evit" if self.method == "evit" else "drop"],
                    "k": keep[stage_blocks.index(i)], "heads": lay.heads}))
            fc1, fc2 = desc["mlp"][i]["fc1"], desc["mlp"][i]["fc2"]
            ops.append(encode("mlp", D, {
                "hidden": fc1["n_out"], "fc1_w": fc1["w_off"], "fc1_b": self._b(fc1),
                "fc1_frac_acc": fc1["frac_acc"], "fc1_frac_gelu_in": fc1["frac_gelu_in"],
                "fc1_frac_out": fc1["frac_out"], "fc2_w": fc2["w_off"], "fc2_b": self._b(fc2),
                "fc2_frac_acc": fc2["frac_acc"], "fc2_frac_res": fc2["frac_res"],
                "fc2_frac_out": fc2["frac_out"], **self._ln(desc["ln2"][i])}))
        h = desc["head"]
        ops.append(encode("head", D, {
            "classes": h["fc"]["n_out"], "g": h["ln"]["g_off"], "b": self._b(h["ln"]),
            "gamma_frac": h["ln"]["gamma_frac"], "ln_frac_out": h["ln"]["frac_out"],
            "w": h["fc"]["w_off"], "fc_b": self._b(h["fc"]), "frac_acc": h["fc"]["frac_acc"]}))
        ops.append(encode("end", D, {}))
        return np.stack(ops)

    def _attn_reduce_fields(self, i: int, in_block: bool) -> dict[str, int]:
        """Block i's attention fields of the method modes: the score source it writes to SC
        (EViT at its stage blocks; CP-ViT's cumulative score up to the last stage) and
        CP-ViT's heads (mass over the blocks before head_block, then the mask)."""
        red = self.layout.b.config["reduction"]
        blocks = self.layout.desc["sel_block"]
        evit = in_block and self.method == "evit"
        cp = in_block and self.method == "cpvit"
        # ToMe / PPT: proportional attention in every block; the stage blocks also write
        # the unit keys (3) and PPT's scores (4) for the merge op after them
        prop = in_block and self.method in MERGE_METHODS
        pruned = red["heads_pruned"] if cp else 0
        stage_code = {"tome": 3, "ppt": 4}.get(self.method, 5)
        return {"score_out": (stage_code if i in blocks else 5) if prop
                else 1 if evit and i in blocks
                else 2 if cp and i <= max(blocks, default=-1) else 0,
                "head_reset": int(cp and i == 0),
                "head_track": int(pruned > 0 and i < red["head_block"]),
                "head_select": pruned if i == red.get("head_block") else 0,
                "head_apply": int(pruned > 0 and i >= red["head_block"])}

    def _merge_fields(self, head_dim: int) -> dict[str, int | list[int]]:
        """The merge op of a ToMe / PPT stage. PPT's τ is clamped to 1 (as 2^40): the
        variance of normalised scores is below 1, so τ >= 1 always pools either way."""
        red = self.layout.b.config["reduction"]
        tau = min(round(float(red.get("tau", 0.0)) * (1 << PPT_TAU_FRAC)), 1 << PPT_TAU_FRAC)
        return {"r": red["r"], "head_dim": head_dim, "ppt": int(self.method == "ppt"),
                "tau": [tau & 0xFFFFFFFF, tau >> 32]}

    def _ln(self, d: dict) -> dict[str, int]:
        """The fields of the LayerNorm in front of an attn / mlp descriptor."""
        return {"ln_g": d["g_off"], "ln_b": self._b(d), "ln_gamma_frac": d["gamma_frac"],
                "ln_frac_out": d["frac_out"]}

    def _score(self, s: dict) -> np.ndarray:
        per_head = [(s["local"][h], s["mlp1"][h], s["mlp2"][h]) for h in range(s["heads"])]
        return encode("score", self.layout.dim, {
            "heads": s["heads"], "hid": s["hid"], "ln_g": s["ln"]["g_off"],
            "ln_b": self._b(s["ln"]), "ln_gamma_frac": s["ln"]["gamma_frac"],
            "ln_frac_out": s["ln"]["frac_out"],
            "local_in": s["local"][0]["frac_gelu_in"], "local_out": s["local"][0]["frac_out"],
            "mlp1_in": s["mlp1"][0]["frac_gelu_in"], "mlp1_out": s["mlp1"][0]["frac_out"],
            "hw_w": s["head_w"]["w_off"], "hw_b": self._b(s["head_w"]),
            "hw_frac_acc": s["head_w"]["frac_acc"],
            "w": [d["w_off"] for ds in per_head for d in ds],
            "b": [self._b(d) for ds in per_head for d in ds],
            "frac_acc": [d["frac_acc"] for ds in per_head for d in ds]})

    def memory_hex(self) -> str:
        """The memory image as $readmemh text."""
        return readmemh_text(self.image, self.hw.beat_bytes)

    def describe(self) -> dict:
        return {"hw": asdict(self.hw), "ops": {m: len(p) for m, p in self.programs.items()},
                "memory_bytes": len(self.image)}


def _align(addr: int, step: int) -> int:
    return -(-addr // step) * step


def keep_per_stage(cfg: dict) -> list[int]:
    """Kept candidates per stage: EViT k = ceil(keep_rate * M) (quant/budgets.py), CP-ViT
    k = min(keep_tokens[s], M). The same for every image, because M is: all patches at the
    first stage, then the k kept (EViT: plus the fused token, present whenever k < M)."""
    from sievit.quant.budgets import evit_keep_count
    r = cfg["reduction"]
    m_cand = (cfg["model"]["image_size"] // cfg["model"]["patch_size"]) ** 2
    out = []
    for s in range(len(r["blocks"])):
        if r["method"] == "evit":
            k = int(evit_keep_count(r["keep_rate"], np.array([m_cand]))[0])
        else:
            k = min(int(r["keep_tokens"][s]), m_cand)
        out.append(k)
        m_cand = k + (r["method"] == "evit" and k < m_cand)   # EViT's fused token
    return out


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
