"""C++ emission of the shared layout (`sievit.layout`): the descriptor aggregates that the HLS
engines (hls/include/sievit/*.h) read."""
from __future__ import annotations

from sievit.layout import (EPI, LINEAR_FIELDS, LN_FIELDS, HwConfig, Layout, Memories,  # noqa: F401
                           hls_word_bits, sbits)


# -- C++ emission ------------------------------------------------------------------------------
def c_linear(d: dict) -> str:
    return "{" + ", ".join(str(d[k]) for k in LINEAR_FIELDS) + "}"


def c_ln(d: dict) -> str:
    return "{" + ", ".join(str(d[k]) for k in LN_FIELDS) + "}"


def c_model(desc: dict) -> str:
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
                         ints(desc["sel_block"]), ints(desc["topk_keep"]), head])
