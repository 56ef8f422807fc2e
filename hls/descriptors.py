"""C++ emission of the shared layout (`sievit.layout`): the descriptor aggregates that the HLS
engines (hls/include/sievit/*.h) read."""
from __future__ import annotations

import numpy as np

from sievit.config import METHOD_CODES
from sievit.errors import SievitError
from sievit.layout import (EPI, LINEAR_FIELDS, LN_FIELDS, HwConfig, Layout, Memories,  # noqa: F401
                           hls_word_bits, sbits)
from sievit.quant import contract as C



class HlsLayout(Layout):
    """The HLS engines' layout: the shared one (sievit.layout) for the methods the HLS
    implements, plus CAIT's CDCP gate linears (fc1 requant to the gate's mid, fc2 raw) and
    PRANCE's actor linears (fc1, fc2 requant to their hidden fracs, fc3 raw)."""

    def __init__(self, bundle, lanes: int = 8, word_bits: int = 64):
        super().__init__(bundle, lanes, word_bits, form="hls")

    def _build(self) -> dict:
        desc = super()._build()
        b, r = self.b, self.b.config["reduction"]
        desc["gates"] = []
        for j, i in enumerate(r.get("gate_blocks", []) if r["method"] == "cait" else []):
            fx = b.f(f"blocks.{i - 1}.res2") if i > 0 else b.f("embed_out")
            p = f"gates.{j}."
            desc["gates"].append({"fc1": self.linear(p + "fc1", fx, "requant", b.f(p + "mid")),
                                  "fc2": self.linear(p + "fc2", b.f(p + "mid"), "raw")})
        desc["actors"] = []
        for s, i in enumerate(r["blocks"] if r["method"] == "prance" else []):
            p = f"actors.{s}."
            desc["actors"].append({
                "fc1": self.linear(p + "fc1", b.f(f"blocks.{i}.k_act"), "requant",
                                   b.f(p + "fc1_out"), pad_in=self.lanes),
                "fc2": self.linear(p + "fc2", b.f(p + "fc1_out"), "requant", b.f(p + "fc2_out")),
                "fc3": self.linear(p + "fc3", b.f(p + "fc2_out"), "raw")})
        return desc


def reduce_desc(layout: Layout) -> dict:
    """The reduce engine's descriptor (hls/include/sievit/reduce.h reduce_desc): method code,
    r, tau as round(tau 2^40), CP-ViT's heads, kept candidates per stage for each candidate
    count (EViT ceil(kappa M), CP-ViT min(keep_tokens, M)) and the ln(size) table."""
    from sievit.quant.budgets import evit_keep_count
    from sievit.quant.reduce import log_size_table
    r = layout.b.config["reduction"]
    method, hw = r["method"], layout.hw
    m = np.arange(hw.max_n + 1)
    keep = np.zeros((hw.stages, hw.max_n + 1), np.int64)
    for s in range(hw.stages):
        if method == "evit":
            keep[s] = evit_keep_count(r["keep_rate"], m)
        elif method == "cpvit":
            keep[s] = np.minimum(r["keep_tokens"][s], m)
    tau = round(r.get("tau", 0.0) * (1 << C.PPT_TAU_FRAC))
    if not 0 <= tau < 2 ** 31:
        raise SievitError(f"reduction.tau {r['tau']} does not fit the engine's 31-bit "
                          f"tau * 2^{C.PPT_TAU_FRAC} (tau < {2 ** 31 / 2 ** C.PPT_TAU_FRAC:.5f})")
    gate_of = [-1] * layout.m["depth"]
    for j, i in enumerate(r.get("gate_blocks", []) if method == "cait" else []):
        gate_of[i] = j
    wins = [list(w) for w in r.get("windows", [])] or [[0, 0]] * hw.stages
    return {**_prance_fields(layout, r, hw), "method": METHOD_CODES[method], "r": r.get("r", 0), "tau": tau,
            "head_block": r.get("head_block", 0), "heads_pruned": r.get("heads_pruned", 0),
            "keep_n": keep.tolist(), "log_size": log_size_table(hw.max_n).tolist(),
            "merge_r": list(r.get("merge_r", [0] * hw.stages)),
            "win_rows": [w[0] for w in wins], "win_cols": [w[1] for w in wins],
            "gate_of": gate_of, "counts": list(r.get("channel_counts", [0, 0, 0]))}


PRANCE_CHOICES = 8   # reduce.h kPranceChoices
PRANCE_OUTPUTS = 3   # reduce.h kPranceOutputs


def _prance_fields(layout: Layout, r: dict, hw) -> dict:
    """PRANCE's descriptor fields: the actor's cost code, choices per output, the integer
    logit thresholds of each stage's fc3 (at its accumulator frac), each choice's widths and
    kept patches per candidate count (zeros for the other methods)."""
    from sievit.quant.budgets import prance_actions
    from sievit.quant.channels import action_thresholds, cost_code, keep_count
    zeros = [0] * PRANCE_CHOICES
    out = {"cost_code": 0, "n_choices": [1] * PRANCE_OUTPUTS,
           "thr": [[zeros] * PRANCE_OUTPUTS] * hw.stages, "mlp_widths": zeros,
           "embed_widths": zeros, "keep_of": [[0] * (hw.max_n + 1)] * PRANCE_CHOICES,
           "token_merge": 0}
    if r["method"] != "prance":
        return out
    n_choices = prance_actions(layout.b.config)
    if max(n_choices) > PRANCE_CHOICES:
        raise SievitError(f"PRANCE actor outputs have {n_choices} choices; the HLS engine "
                          f"holds at most {PRANCE_CHOICES} per output")
    pad = lambda xs: list(map(int, xs)) + [0] * (PRANCE_CHOICES - len(xs))  # noqa: E731
    thr = []
    for s in range(hw.stages):
        fz = layout.desc["actors"][s]["fc3"]["frac_acc"]
        thr.append([pad(action_thresholds(n, fz)) for n in n_choices])
    m = np.arange(hw.max_n + 1)
    keeps = [keep_count([rho] * len(m), m).tolist() for rho in r["token_keeps"]]
    keeps += [[0] * (hw.max_n + 1)] * (PRANCE_CHOICES - len(keeps))
    return {"cost_code": cost_code(r["cost_weight"]), "n_choices": n_choices, "thr": thr,
            "mlp_widths": pad(r["mlp_widths"]), "embed_widths": pad(r["embed_widths"]),
            "keep_of": keeps, "token_merge": int(r["token_action"] == "merge")}


def c_reduce(d: dict) -> str:
    ints = lambda xs: "{" + ", ".join(map(str, xs)) + "}"  # noqa: E731
    return "{" + ", ".join([str(d[k]) for k in ("method", "r", "tau", "head_block", "heads_pruned")]
                           + ["{" + ", ".join(ints(row) for row in d["keep_n"]) + "}",
                              ints(d["log_size"])]
                           + [ints(d[k]) for k in ("merge_r", "win_rows", "win_cols", "gate_of",
                                                   "counts")]
                           + [str(d["cost_code"]), ints(d["n_choices"]),
                              "{" + ", ".join("{" + ", ".join(ints(t) for t in st) + "}"
                                              for st in d["thr"]) + "}",
                              ints(d["mlp_widths"]), ints(d["embed_widths"]),
                              "{" + ", ".join(ints(row) for row in d["keep_of"]) + "}",
                              str(d["token_merge"])]) + "}"


# -- C++ emission ------------------------------------------------------------------------------
def c_linear(d: dict) -> str:
    return "{" + ", ".join(str(d[k]) for k in LINEAR_FIELDS) + "}"


def c_ln(d: dict) -> str:
    return "{" + ", ".join(str(d[k]) for k in LN_FIELDS) + "}"


def c_model(desc: dict, red: dict) -> str:
    """The model_desc aggregate initializer (field order of hls/include/sievit/*.h)."""
    e = desc["embed"]
    embed = "{" + ", ".join([c_linear(e["lin"])] + [str(e[k]) for k in (
        "image_size", "patch", "chans", "grid", "cls_off", "pos_off", "frac_cls", "frac_pos",
        "frac_out", "pos_stride")]) + "}"

    def arr(items: list[str]) -> str:
        return "{" + ",\n   ".join(items) + "}"

    attn = [("{" + ", ".join([c_linear(a[k]) for k in ("q", "k", "v", "proj")]
                             + [str(a[k]) for k in ("heads", "head_dim", "frac_s", "frac_v",
                                                    "frac_attn_out")]) + "}") for a in desc["attn"]]
    mlp = ["{" + c_linear(x["fc1"]) + ", " + c_linear(x["fc2"]) + "}" for x in desc["mlp"]]
    sels = []
    for s in desc["sel"]:
        sels.append("{" + ", ".join([c_ln(s["ln"]), arr([c_linear(x) for x in s["local"]]),
                                     arr([c_linear(x) for x in s["mlp1"]]),
                                     arr([c_linear(x) for x in s["mlp2"]]), c_linear(s["head_w"]),
                                     str(s["heads"]), str(s["hid"])]) + "}")
    head = "{" + c_ln(desc["head"]["ln"]) + ", " + c_linear(desc["head"]["fc"]) + "}"
    ints = lambda xs: "{" + ", ".join(map(str, xs)) + "}"  # noqa: E731
    return ",\n  ".join([embed, arr([c_ln(x) for x in desc["ln1"]]), arr(attn),
                         arr([c_ln(x) for x in desc["ln2"]]), arr(mlp), arr(sels),
                         ints(desc["sel_block"]), ints(desc["topk_keep"]), head, c_reduce(red),
                         arr(["{" + c_linear(x["fc1"]) + ", " + c_linear(x["fc2"]) + "}"
                              for x in desc.get("gates", [])]),
                         arr(["{" + ", ".join(c_linear(x[k]) for k in ("fc1", "fc2", "fc3")) + "}"
                              for x in desc.get("actors", [])])])
