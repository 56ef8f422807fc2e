"""An analytic latency ESTIMATE of the HLS engines from their loop structure: every loop's trip
count x its initiation interval, plus an assumed pipeline depth per pipelined loop and an
assumed m_axi read latency per burst. It mirrors the loops of hls/include/sievit/*.h for the
project's configuration (lanes, m_axi word, weight tile). It is not a Vitis report: csynth's
numbers replace it once Vitis HLS has run (`sievit synth`)."""
from __future__ import annotations

from dataclasses import dataclass

from sievit.layout import Layout

# Assumptions (cycles). Pipelined loops pay their depth once per entry; bursts their latency.
DEPTH = {"mac": 6, "load": 3, "elem": 4, "softmax": 8, "ln": 8}
AXI_LATENCY = 64          # first word of an m_axi burst after its request
DIV_CYCLES = 36           # one sequential (non-pipelined) 33-bit divider


@dataclass
class Estimator:
    layout: Layout

    def __post_init__(self) -> None:
        hw = self.layout.hw
        self.lanes, self.wb, self.tr = hw.lanes, hw.word_bits // 8, hw.w_tile_rows
        self.bw = hw.word_bits // 32

    def burst(self, words: int) -> int:
        return AXI_LATENCY + words + DEPTH["load"]

    def linear(self, d: dict, n: int) -> int:
        """linear_core: per weight tile a weight and a bias burst, then n rows x (rows x chunks)."""
        total, cpr = 0, d["n_in"] // self.lanes
        for r0 in range(0, d["n_out"], self.tr):
            rows = min(self.tr, d["n_out"] - r0)
            total += self.burst(-(-rows * d["n_in"] // self.wb)) + self.burst(-(-rows // self.bw))
            total += n * (rows * cpr + DEPTH["mac"])
        return total

    def layernorm(self, dim: int, n: int) -> int:
        params = self.burst(-(-dim // self.wb)) + self.burst(-(-dim // self.bw))
        vbits = (255 * 255 * self.layout.hw.max_w ** 3).bit_length()
        row = 3 * (dim + DEPTH["ln"]) + 2 * DIV_CYCLES + (vbits + 1) // 2 + DEPTH["ln"]
        return params + n * row

    def softmax(self, n: int) -> int:
        return 3 * (n + DEPTH["softmax"]) + DIV_CYCLES

    def attention(self, a: dict, n: int) -> int:
        cpr = a["head_dim"] // self.lanes
        per_row = 2 * (n * cpr + DEPTH["mac"]) + self.softmax(n)
        return (sum(self.linear(a[k], n) for k in ("q", "k", "v")) + a["heads"] * n * per_row
                + self.linear(a["proj"], n))

    def mlp(self, m: dict, n: int) -> int:
        return self.linear(m["fc1"], n) + self.linear(m["fc2"], n)

    def pruning(self, s: dict, n: int, mode: str, dim: int) -> int:
        heads, hid = s["heads"], s["hid"]
        score = self.layernorm(dim, n) + sum(self.linear(d, n) for d in s["local"])
        score += heads * hid * (n + DEPTH["elem"] + DIV_CYCLES)          # global mean
        for h in range(heads):
            score += n * (hid + DEPTH["elem"]) + self.linear(s["mlp1"][h], n)
            score += self.linear(s["mlp2"][h], n) + n + DEPTH["elem"]
        score += self.linear(s["head_w"], 1) + heads + n * (DEPTH["elem"] + DIV_CYCLES)
        rank = n * (n + DEPTH["elem"]) if mode == "topk" else n
        select = rank + n * (dim + DEPTH["elem"]) + dim * (n + DEPTH["elem"] + DIV_CYCLES)
        return score + select

    def patch_embed(self, e: dict) -> int:
        hw, n_patch = self.layout.hw, e["grid"] ** 2
        pos = n_patch * -(-e["lin"]["n_out"] // self.tr)  # a position burst per row and tile
        return (hw.image_pixels + DEPTH["elem"] + self.linear(e["lin"], n_patch)
                + pos * AXI_LATENCY + 2 * self.burst(-(-e["lin"]["n_out"] // self.wb))
                + e["lin"]["n_out"] + DEPTH["elem"])

    def head(self, h: dict) -> int:
        return self.layernorm(h["ln"]["dim"], 1) + self.linear(h["fc"], 1) + h["fc"]["n_out"]


def estimate(layout: Layout, tokens: dict[str, list[int]] | None = None) -> dict:
    """Estimated cycles per engine and per image for dense and top-k (and any given token
    counts per stage), at the project's clock-independent cycle level."""
    est, desc = Estimator(layout), layout.desc
    n_tok, dim = layout.n_tok, layout.dim
    modes = {"none": []}
    if desc["sel"]:  # HeatViT: CLS + kept + package (the methods' reduce mode is not estimated)
        modes["topk"] = [k + 2 for k in desc["topk_keep"]]
    for name, counts in (tokens or {}).items():
        modes[name] = list(counts)
    out: dict = {"label": "ESTIMATE from loop trip counts x II (not a Vitis report)",
                 "assumptions": {"pipeline_depth": DEPTH, "axi_latency": AXI_LATENCY,
                                 "divider_cycles": DIV_CYCLES},
                 "lanes": layout.hw.lanes, "word_bits": layout.hw.word_bits,
                 "w_tile_rows": layout.hw.w_tile_rows, "engines_at_full_tokens": {},
                 "per_image": {}}
    blk = 0
    out["engines_at_full_tokens"] = {
        "patch_embed": est.patch_embed(desc["embed"]),
        "layernorm": est.layernorm(dim, n_tok),
        "attention": est.attention(desc["attn"][blk], n_tok),
        "softmax_row": est.softmax(n_tok),
        "mlp": est.mlp(desc["mlp"][blk], n_tok),
        "pruning_threshold": est.pruning(desc["sel"][0], n_tok, "threshold", dim) if desc["sel"] else 0,
        "pruning_topk": est.pruning(desc["sel"][0], n_tok, "topk", dim) if desc["sel"] else 0,
        "head": est.head(desc["head"]),
    }
    for mode, counts in modes.items():
        n, stage, total = n_tok, 0, est.patch_embed(desc["embed"])
        for i in range(layout.m["depth"]):
            if mode != "none" and stage < len(desc["sel_block"]) and desc["sel_block"][stage] == i:
                total += est.pruning(desc["sel"][stage], n, "topk" if mode == "topk" else "threshold", dim)
                n = counts[stage]
                stage += 1
            total += (2 * est.layernorm(dim, n) + est.attention(desc["attn"][i], n)
                      + est.mlp(desc["mlp"][i], n))
        total += est.head(desc["head"])
        out["per_image"][mode] = {"cycles": int(total), "tokens_per_stage": counts}
    return out
