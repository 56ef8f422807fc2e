"""cocotb testbenches of the RTL engines: every case of the engine's case file through the
AXI4-Stream ports with random TVALID/TREADY and memory-port stalls (made in the generated
SystemVerilog harness, rtl_tests/engine_harness.py), outputs compared bit for bit with the
golden model's; then a reset in the middle of a tensor followed by a correct run."""
from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

from case_files import (attention_cls_cases, attention_tome_cases, merge_cases, method_pruning_cases, block_cases, gelu_cases, head_cases, patch_embed_cases, layernorm_cases, linear_cases, pruning_cases, pack_i32, pack_i8, softmax_cases,
                        unpack_i8, unpack_i32, unpack_u8)

CASES = Path(os.environ.get("SIEVIT_CASE_DIR", "."))
MAX_CASES = int(os.environ.get("SIEVIT_MAX_CASES", "1000"))
# 1: a cut-down run takes the first and last halves of the case file, else its first cases
BOTH_ENDS = os.environ.get("SIEVIT_CASES_BOTH_ENDS", "1") == "1"


def layout() -> dict:
    """Descriptors and the unified memory image (weights, then biases at bias_base)."""
    return json.loads((CASES / "layout.json").read_text())


async def setup(dut):
    """The harness (rtl_tests/engine_harness.py) makes its own clock and serves the memory
    port and both streams, with random stalls, in SystemVerilog."""
    dut.go.value = 0
    dut.in_beats.value = 0
    await reset(dut)


async def reset(dut):
    dut.rst_n.value = 0
    await ClockCycles(dut.clk, 3)
    dut.rst_n.value = 1
    await RisingEdge(dut.clk)


async def start(dut, words: list[int]) -> None:
    for i, w in enumerate(words):
        dut.src_mem[i].value = w
    dut.in_beats.value = len(words)
    dut.go.value = 1
    await RisingEdge(dut.clk)
    dut.go.value = 0


async def transfer(dut, words: list[int], timeout_ns: int) -> list[int]:
    """One message in, one message (up to TLAST) out."""
    await start(dut, words)
    await with_timeout(RisingEdge(dut.done), timeout_ns, "ns")
    return [int(dut.snk_mem[i].value) for i in range(int(dut.out_beats.value))]


async def run_cases(dut, cases, configure, send_words, check, timeout_ns=10**9):
    assert cases, "no cases for this engine"
    await setup(dut)
    bad = 0
    if len(cases) > MAX_CASES and BOTH_ENDS:  # the real intermediates and the random / extreme cases
        cases = cases[:MAX_CASES - MAX_CASES // 2] + cases[len(cases) - MAX_CASES // 2:]
    cases = cases[:MAX_CASES]
    for i, case in enumerate(cases):
        configure(dut, case)
        got = await transfer(dut, send_words(case), timeout_ns)
        if not check(case, got):
            if bad == 0:
                dut._log.error(f"case {i}: mismatch")
            bad += 1
    assert bad == 0, f"{bad} of {len(cases)} cases mismatch"
    dut._log.info(f"{len(cases)} cases, 0 mismatches")


async def reset_mid_tensor(dut, case, configure, send_words, check, timeout_ns=10**9):
    """Start a tensor, reset while it streams, then run it again and check the result."""
    await setup(dut)
    configure(dut, case)
    words = send_words(case)
    await start(dut, words)
    await ClockCycles(dut.clk, max(2, len(words) // 2))
    await reset(dut)
    await ClockCycles(dut.clk, 5)
    got = await transfer(dut, words, timeout_ns)
    assert check(case, got), "wrong result after a reset in the middle of a tensor"


# -- gelu -------------------------------------------------------------------------------------
def gelu_cfg(dut, c):
    dut.frac_in.value = c["frac_in"]
    dut.frac_out.value = c["frac_out"]


def gelu_words(c):
    return pack_i8(c["x"])


def gelu_check(c, got):
    return len(got) == len(pack_i8(c["x"])) and np.array_equal(unpack_i8(got, len(c["y"])), c["y"])


@cocotb.test()
async def gelu_cases_bit_exact(dut):
    await run_cases(dut, gelu_cases(CASES / "gelu.bin"), gelu_cfg, gelu_words, gelu_check)


@cocotb.test()
async def gelu_reset_mid_tensor(dut):
    case = max(gelu_cases(CASES / "gelu.bin")[:50], key=lambda c: len(c["x"]))
    await reset_mid_tensor(dut, case, gelu_cfg, gelu_words, gelu_check)


# -- softmax ----------------------------------------------------------------------------------
def softmax_cfg(dut, c):
    dut.n.value = len(c["x"])
    dut.frac.value = c["frac"]


def softmax_words(c):
    return pack_i32(c["x"])


def softmax_check(c, got):
    return len(got) == -(-len(c["x"]) // 8) and np.array_equal(unpack_u8(got, len(c["y"])), c["y"])


@cocotb.test()
async def softmax_cases_bit_exact(dut):
    await run_cases(dut, softmax_cases(CASES / "softmax.bin"), softmax_cfg, softmax_words,
                    softmax_check)


@cocotb.test()
async def softmax_reset_mid_tensor(dut):
    case = max(softmax_cases(CASES / "softmax.bin")[:200], key=lambda c: len(c["x"]))
    await reset_mid_tensor(dut, case, softmax_cfg, softmax_words, softmax_check)


# -- layernorm --------------------------------------------------------------------------------
def layernorm_cfg(dut, c):
    lay = layout()
    d = lay["layernorms"][c["layer"]]
    dut.dim.value = d["dim"]
    dut.n_rows.value = len(c["x"])
    dut.gamma_addr.value = d["g_off"]
    dut.beta_addr.value = lay["bias_base"] + 4 * d["b_off"]
    dut.gamma_frac.value = d["gamma_frac"]
    dut.frac_out.value = d["frac_out"]


def layernorm_words(c):
    return [w for row in c["x"] for w in pack_i8(row)]


def layernorm_check(c, got):
    n, dim = c["y"].shape
    if len(got) != n * dim // 8:
        return False
    return np.array_equal(unpack_i8(got, n * dim).reshape(n, dim), c["y"])


def _ln_cases():
    return layernorm_cases(CASES / "layernorm.bin", layout()["dim"])


@cocotb.test()
async def layernorm_cases_bit_exact(dut):
    await run_cases(dut, _ln_cases(), layernorm_cfg, layernorm_words, layernorm_check)


@cocotb.test()
async def layernorm_reset_mid_tensor(dut):
    case = max(_ln_cases()[:100], key=lambda c: len(c["x"]))
    await reset_mid_tensor(dut, case, layernorm_cfg, layernorm_words, layernorm_check)


# -- linear -----------------------------------------------------------------------------------
def linear_cfg(dut, c):
    lay = layout()
    d = lay["linears"][c["layer"]]
    dut.n_in.value = d["n_in"]
    dut.n_out.value = d["n_out"]
    dut.n_rows.value = len(c["x"])
    dut.w_addr.value = d["w_off"]
    dut.b_addr.value = lay["bias_base"] + 4 * d["b_off"]
    dut.epi.value = d["epi"]
    for name in ("frac_acc", "frac_out", "frac_gelu_in", "frac_res"):
        getattr(dut, name).value = d[name]


def linear_words(c):
    """Per row its x words, then (residual epilogue) its residual words."""
    res = c["res"] if c["res"] is not None else [None] * len(c["x"])
    return [w for row, r in zip(c["x"], res)
            for w in [*pack_i8(row), *(pack_i8(r) if r is not None else [])]]


def linear_check(c, got):
    n, n_out = c["y"].shape
    raw = layout()["linears"][c["layer"]]["epi"] == 3
    per_row = -(-n_out // 2) if raw else n_out // 8
    if len(got) != n * per_row:
        return False
    rows = [got[t * per_row:(t + 1) * per_row] for t in range(n)]
    y = np.stack([unpack_i32(r, n_out) if raw else unpack_i8(r, n_out) for r in rows])
    return np.array_equal(y, c["y"])


def _lin_cases():
    return linear_cases(CASES / "linear.bin", layout()["linears"])


@cocotb.test()
async def linear_cases_bit_exact(dut):
    await run_cases(dut, _lin_cases(), linear_cfg, linear_words, linear_check, timeout_ns=5_000_000)


@cocotb.test()
async def linear_reset_mid_tensor(dut):
    cases = sorted(_lin_cases()[:100], key=lambda c: c["x"].size * c["y"].shape[1])
    case = cases[len(cases) // 2]  # a mid-sized layer: the reset lands inside real work
    await reset_mid_tensor(dut, case, linear_cfg, linear_words, linear_check, 10_000_000)


# -- pruning (decision half) ------------------------------------------------------------------
def pruning_cfg(dut, c):
    dut.n.value = c["n"]
    dut.dim.value = layout()["dim"]
    dut.mode.value = c["mode"]
    dut.k.value = c["k"]
    dut.heads.value = c.get("heads", 0)


def pruning_words(c):
    return ([w for row in c["x"] for w in pack_i8(row)] + pack_i32(c["ids"])
            + pack_i32(c["score"]))


def pruning_check(c, got):
    """Header, the score output (the input scores; drop: the kept rows' scores), rows, ids."""
    n, n_new, dim = c["n"], c["n_new"], layout()["dim"]
    want_scores = c.get("score_out", c["score"])
    new_pairs, row = -(-n_new // 2), dim // 8
    pairs = -(-len(want_scores) // 2)
    if len(got) != 1 + pairs + n_new * row + new_pairs:
        return False
    head = unpack_i32(got[:1], 2)
    score = unpack_i32(got[1:1 + pairs], len(want_scores))
    xs = got[1 + pairs:1 + pairs + n_new * row]
    x_new = np.stack([unpack_i8(xs[r * row:(r + 1) * row], dim) for r in range(n_new)])
    ids = unpack_i32(got[1 + pairs + n_new * row:], n_new)
    return (list(head) == [n_new, c["fused"]] and np.array_equal(score, want_scores)
            and np.array_equal(x_new, c["x_new"]) and np.array_equal(ids, c["ids_new"]))


def _prune_cases():
    return pruning_cases(CASES / "pruning.bin", layout()["dim"])


@cocotb.test()
async def pruning_cases_bit_exact(dut):
    await run_cases(dut, _prune_cases(), pruning_cfg, pruning_words, pruning_check,
                    timeout_ns=2_000_000)


def _method_cases(method: str):
    lay = layout()
    return method_pruning_cases(CASES / "reduce.bin", lay["dim"], lay["attn"][0]["heads"], method)


@cocotb.test()
async def pruning_evit_cases_bit_exact(dut):
    """EViT (mode 3): the top-k by CLS attention and the fused token of rd.evit_fuse."""
    await run_cases(dut, _method_cases("evit"), pruning_cfg, pruning_words, pruning_check,
                    timeout_ns=2_000_000)


@cocotb.test()
async def pruning_drop_cases_bit_exact(dut):
    """CP-ViT (mode 4): rd.drop_topk on the cumulative scores, which follow the kept rows."""
    await run_cases(dut, _method_cases("cpvit"), pruning_cfg, pruning_words, pruning_check,
                    timeout_ns=2_000_000)


@cocotb.test()
async def pruning_reset_mid_tensor(dut):
    case = max(_prune_cases()[:100], key=lambda c: c["n"])
    await reset_mid_tensor(dut, case, pruning_cfg, pruning_words, pruning_check, 2_000_000)


# -- mlp --------------------------------------------------------------------------------------
def _lin(name: str) -> dict:
    lay = layout()
    return lay["linears"][lay["linear_names"].index(name)]


def mlp_cfg(dut, c):
    lay = layout()
    fc1, fc2 = _lin(f"blocks.{c['block']}.fc1"), _lin(f"blocks.{c['block']}.fc2")
    dut.n.value = len(c["a"])
    dut.dim.value = lay["dim"]
    dut.hidden.value = fc1["n_out"]
    dut.fc1_w_addr.value = fc1["w_off"]
    dut.fc1_b_addr.value = lay["bias_base"] + 4 * fc1["b_off"]
    dut.fc1_frac_acc.value = fc1["frac_acc"]
    dut.fc1_frac_gelu_in.value = fc1["frac_gelu_in"]
    dut.fc1_frac_out.value = fc1["frac_out"]
    dut.fc2_w_addr.value = fc2["w_off"]
    dut.fc2_b_addr.value = lay["bias_base"] + 4 * fc2["b_off"]
    dut.fc2_frac_acc.value = fc2["frac_acc"]
    dut.fc2_frac_res.value = fc2["frac_res"]
    dut.fc2_frac_out.value = fc2["frac_out"]


def block_words(c):
    return [w for t in (c["a"], c["b"]) for row in t for w in pack_i8(row)]


def block_check(c, got):
    n, dim = c["y"].shape
    return len(got) == n * dim // 8 and np.array_equal(unpack_i8(got, n * dim).reshape(n, dim), c["y"])


def _small_block_cases(name: str):
    return block_cases(CASES / f"{name}.bin", layout()["dim"])


@cocotb.test()
async def mlp_cases_bit_exact(dut):
    await run_cases(dut, _small_block_cases("mlp"), mlp_cfg, block_words, block_check,
                    timeout_ns=20_000_000)


@cocotb.test()
async def mlp_reset_mid_tensor(dut):
    case = max(_small_block_cases("mlp")[:50], key=lambda c: len(c["a"]))
    await reset_mid_tensor(dut, case, mlp_cfg, block_words, block_check, 20_000_000)


# -- attention --------------------------------------------------------------------------------
def _packed(values: list[int], bits: int) -> int:
    return sum((int(v) & ((1 << bits) - 1)) << (bits * i) for i, v in enumerate(values))


def attention_cfg(dut, c):
    lay = layout()
    a = lay["attn"][c["block"]]
    descs = [a["q"], a["k"], a["v"], a["proj"]]
    dut.n.value = len(c["a"])
    dut.dim.value = lay["dim"]
    dut.heads.value = a["heads"]
    dut.head_dim.value = a["head_dim"]
    dut.w_addr.value = _packed([d["w_off"] for d in descs], 32)
    dut.b_addr.value = _packed([lay["bias_base"] + 4 * d["b_off"] for d in descs], 32)
    dut.frac_acc.value = _packed([d["frac_acc"] for d in descs], 8)
    dut.frac_out.value = _packed([d["frac_out"] for d in descs], 8)
    dut.frac_res.value = a["proj"]["frac_res"]
    dut.frac_s.value = a["frac_s"]
    dut.frac_v.value = a["frac_v"]
    dut.frac_attn_out.value = a["frac_attn_out"]
    dut.score_out.value = c.get("score_out", 0)
    dut.head_reset.value = 1
    dut.head_track.value = 0
    dut.head_select.value = 0
    dut.head_apply.value = 0


def attention_score_check(c, got):
    """The rows, then the score source (int32 pairs in the low half of each beat)."""
    n, dim = c["y"].shape
    rows = n * dim // 8
    return (len(got) == rows + -(-n // 2) and block_check(c, got[:rows])
            and np.array_equal(unpack_i32(got[rows:], n), c["scores"]))


def attention_score_words(c):
    return block_words(c) + (pack_i32(c["cum_in"]) if c["score_out"] == 2 else [])


def _cls_cases():
    """EViT: score_out 1, the CLS attention (rd.cls_attention)."""
    lay = layout()
    cases = attention_cls_cases(CASES / "attention_method.bin", lay["dim"], lay["attn"][0]["heads"])
    return [{**c, "score_out": 1, "scores": c["cls"]} for c in cases]


def _cum_cases():
    """CP-ViT: score_out 2, cum_in + sum_h max_i A_h[i, j] (rd.cpvit_accumulate), with
    random cumulative scores coming in (CLS's stays 0)."""
    lay = layout()
    cases = attention_cls_cases(CASES / "attention_method.bin", lay["dim"], lay["attn"][0]["heads"])
    rng = np.random.default_rng(5)
    out = []
    for c in cases:
        n = len(c["a"])
        cum = rng.integers(0, 255 * lay["attn"][0]["heads"] * 4, size=n)
        cum[0] = 0
        out.append({**c, "score_out": 2, "cum_in": cum, "scores": cum + c["max_sum"]})
    return out


@cocotb.test()
async def attention_cls_cases_bit_exact(dut):
    """score_out = 1 (EViT's score source): rd.cls_attention after the block's output."""
    await run_cases(dut, _cls_cases(), attention_cfg, attention_score_words,
                    attention_score_check, timeout_ns=20_000_000)


@cocotb.test()
async def attention_cum_cases_bit_exact(dut):
    """score_out = 2 (CP-ViT's score source): the cumulative scores in, plus this block's."""
    await run_cases(dut, _cum_cases(), attention_cfg, attention_score_words,
                    attention_score_check, timeout_ns=20_000_000)


def _tome_cases():
    """ToMe: score_out 3, token sizes in (proportional attention), unit keys out."""
    lay = layout()
    cases = attention_tome_cases(CASES / "attention_method.bin", lay["dim"], lay["attn"][0]["heads"])
    return [{**c, "score_out": 3} for c in cases]


def attention_tome_words(c):
    return block_words(c) + pack_i32(c["size"])


def attention_tome_check(c, got):
    """The rows, then each row's unit key as int16 (four a beat)."""
    n, dim = c["y"].shape
    rows = n * dim // 8
    u = c["u"]
    want = [_packed(u.reshape(-1)[i:i + 4], 16) for i in range(0, u.size, 4)]
    return len(got) == rows + len(want) and block_check(c, got[:rows]) and got[rows:] == want


def _ppt_cases():
    """PPT: score_out 4, as ToMe, and rd.ppt_score after the unit keys."""
    lay = layout()
    cases = attention_tome_cases(CASES / "attention_method.bin", lay["dim"], lay["attn"][0]["heads"])
    return [{**c, "score_out": 4} for c in cases]


def attention_ppt_check(c, got):
    """The rows, the unit keys, then the PPT scores (int32 pairs; CLS 0)."""
    n = len(c["y"])
    want = pack_i32(np.concatenate([[0], c["ppt"][1:]]))
    return attention_tome_check(c, got[:-len(want)]) and got[-len(want):] == want


@cocotb.test()
async def attention_ppt_cases_bit_exact(dut):
    """score_out = 4 (PPT): as ToMe, then rd.ppt_score (CLS attention x isqrt(|v|^2))."""
    await run_cases(dut, _ppt_cases(), attention_cfg, attention_tome_words,
                    attention_ppt_check, timeout_ns=20_000_000)


@cocotb.test()
async def attention_tome_cases_bit_exact(dut):
    """score_out = 3 (ToMe): ln(size) on the logits, rd.unit_keys after the block's output."""
    await run_cases(dut, _tome_cases(), attention_cfg, attention_tome_words,
                    attention_tome_check, timeout_ns=20_000_000)


@cocotb.test()
async def attention_cases_bit_exact(dut):
    await run_cases(dut, _small_block_cases("attention"), attention_cfg, block_words, block_check,
                    timeout_ns=20_000_000)


@cocotb.test()
async def attention_reset_mid_tensor(dut):
    case = max(_small_block_cases("attention")[:50], key=lambda c: len(c["a"]))
    await reset_mid_tensor(dut, case, attention_cfg, block_words, block_check, 20_000_000)


# -- head -------------------------------------------------------------------------------------
def head_cfg(dut, c):
    lay = layout()
    ln = lay["layernorms"][lay["layernorm_names"].index("ln_f")]
    fc = _lin("head")
    dut.dim.value = lay["dim"]
    dut.n_classes.value = fc["n_out"]
    dut.gamma_addr.value = ln["g_off"]
    dut.beta_addr.value = lay["bias_base"] + 4 * ln["b_off"]
    dut.gamma_frac.value = ln["gamma_frac"]
    dut.ln_frac_out.value = ln["frac_out"]
    dut.w_addr.value = fc["w_off"]
    dut.b_addr.value = lay["bias_base"] + 4 * fc["b_off"]
    dut.frac_acc.value = fc["frac_acc"]


def head_words(c):
    return pack_i8(c["x"])


def head_check(c, got):
    return len(got) == -(-len(c["y"]) // 2) and np.array_equal(unpack_i32(got, len(c["y"])), c["y"])


def _head_cases():
    return head_cases(CASES / "head.bin", layout()["dim"], _lin("head")["n_out"])


@cocotb.test()
async def head_cases_bit_exact(dut):
    await run_cases(dut, _head_cases(), head_cfg, head_words, head_check)


@cocotb.test()
async def head_reset_mid_tensor(dut):
    await reset_mid_tensor(dut, _head_cases()[0], head_cfg, head_words, head_check)


# -- patch_embed ------------------------------------------------------------------------------
def patch_embed_cfg(dut, c):
    lay = layout()
    e = lay["embed"]
    for name in ("image_size", "patch", "chans", "grid", "frac_cls", "frac_pos", "frac_out"):
        getattr(dut, name).value = e[name]
    dut.dim.value = lay["dim"]
    dut.cls_addr.value = e["cls_off"]
    dut.pos_addr.value = e["pos_off"]
    dut.w_addr.value = e["lin"]["w_off"]
    dut.b_addr.value = lay["bias_base"] + 4 * e["lin"]["b_off"]
    dut.frac_acc.value = e["lin"]["frac_acc"]


def patch_embed_words(c):
    return pack_i8(c["x"])


def _pe_cases():
    e, dim = layout()["embed"], layout()["dim"]
    return patch_embed_cases(CASES / "patch_embed.bin", e["image_size"] ** 2 * e["chans"],
                             e["grid"] ** 2 + 1, dim)


@cocotb.test()
async def patch_embed_cases_bit_exact(dut):
    await run_cases(dut, _pe_cases(), patch_embed_cfg, patch_embed_words, block_check,
                    timeout_ns=2_000_000)


@cocotb.test()
async def patch_embed_reset_mid_tensor(dut):
    await reset_mid_tensor(dut, _pe_cases()[0], patch_embed_cfg, patch_embed_words, block_check,
                           2_000_000)


# -- pruning, score half ----------------------------------------------------------------------
def pruning_score_cfg(dut, c):
    lay = layout()
    sel = lay["sel"][c["stage"]]
    layers = [[sel["local"][h], sel["mlp1"][h], sel["mlp2"][h]] for h in range(sel["heads"])]
    base = lay["bias_base"]
    dut.n.value = c["n"]
    dut.dim.value = lay["dim"]
    dut.heads.value = sel["heads"]
    dut.hid.value = sel["hid"]
    dut.ln_g_addr.value = sel["ln"]["g_off"]
    dut.ln_b_addr.value = base + 4 * sel["ln"]["b_off"]
    dut.ln_gamma_frac.value = sel["ln"]["gamma_frac"]
    dut.ln_frac_out.value = sel["ln"]["frac_out"]
    dut.w_addr.value = _packed([d["w_off"] for hl in layers for d in hl], 32)
    dut.b_addr.value = _packed([base + 4 * d["b_off"] for hl in layers for d in hl], 32)
    dut.frac_acc.value = _packed([d["frac_acc"] for hl in layers for d in hl], 8)
    dut.local_in.value = sel["local"][0]["frac_gelu_in"]
    dut.local_out.value = sel["local"][0]["frac_out"]
    dut.mlp1_in.value = sel["mlp1"][0]["frac_gelu_in"]
    dut.mlp1_out.value = sel["mlp1"][0]["frac_out"]
    dut.hw_w_addr.value = sel["head_w"]["w_off"]
    dut.hw_b_addr.value = base + 4 * sel["head_w"]["b_off"]
    dut.hw_frac_acc.value = sel["head_w"]["frac_acc"]


def pruning_score_words(c):
    return [w for row in c["x"] for w in pack_i8(row)]


def pruning_score_check(c, got):
    return len(got) == -(-c["n"] // 2) and np.array_equal(unpack_i32(got, c["n"]), c["score"])


def _score_cases():
    return [c for c in _prune_cases() if c["score_in"] == 0]


@cocotb.test()
async def pruning_score_cases_bit_exact(dut):
    await run_cases(dut, _score_cases(), pruning_score_cfg, pruning_score_words,
                    pruning_score_check, timeout_ns=20_000_000)


@cocotb.test()
async def pruning_score_reset_mid_tensor(dut):
    case = max(_score_cases()[:50], key=lambda c: c["n"])
    await reset_mid_tensor(dut, case, pruning_score_cfg, pruning_score_words, pruning_score_check,
                           20_000_000)


# -- bipartite_merge (ToMe) -------------------------------------------------------------------
# the harness builds the engine with its defaults (MAX_N 64, MAX_D 256, MAX_DH 64, SIM_LANES 8,
# SIM_ROWS 1, SIZE_W 8, BEAT 64) or the run's build parameters (SIEVIT_ENGINE_PARAMS, JSON).
# Configuration rule checked for every case: n in 1..MAX_N, dim a multiple of BEAT/8 <= MAX_D,
# head_dim a multiple of BEAT/16 and of 4 <= MAX_DH (SIM_LANES, a power of two <= MAX_DH, need
# not divide it: the last chunk's lanes past head_dim are masked), every size sum < 2^SIZE_W
MERGE_PRM = {"MAX_N": 64, "MAX_D": 256, "MAX_DH": 64, "SIM_LANES": 8, "SIM_ROWS": 1, "BEAT": 64,
             **json.loads(os.environ.get("SIEVIT_ENGINE_PARAMS", "{}"))}
MERGE_MAX = {"n": MERGE_PRM["MAX_N"], "dim": MERGE_PRM["MAX_D"], "head_dim": MERGE_PRM["MAX_DH"],
             "size": 1 << 8}
MERGE_BEAT = MERGE_PRM["BEAT"]
M8, M16 = MERGE_BEAT // 8, MERGE_BEAT // 16       # int8 / int16 a beat
MW = MERGE_BEAT // 64                             # 64-bit words a beat


def _widen(words: list[int]) -> list[int]:
    """64-bit words -> BEAT-bit beats, word i in bits [64 (i % MW) +: 64] of beat i // MW."""
    assert len(words) % MW == 0
    return [sum(w << (64 * k) for k, w in enumerate(words[i:i + MW]))
            for i in range(0, len(words), MW)]


def _narrow(beats: list[int]) -> list[int]:
    return [(b >> (64 * k)) & ((1 << 64) - 1) for b in beats for k in range(MW)]


def merge_cfg(dut, c):
    assert 1 <= c["n"] <= MERGE_MAX["n"], c["n"]
    assert c["dim"] % M8 == 0 and c["dim"] <= MERGE_MAX["dim"], c["dim"]
    assert c["head_dim"] % max(4, M16) == 0 and c["head_dim"] <= MERGE_MAX["head_dim"], c["head_dim"]
    assert np.abs(c["u"]).max(initial=0) <= 128
    assert c["size_new"].max(initial=0) < MERGE_MAX["size"] and c["size"].min(initial=1) >= 0
    dut.n.value = c["n"]
    dut.dim.value = c["dim"]
    dut.head_dim.value = c["head_dim"]
    dut.r.value = c["r"]
    dut.ppt.value = c.get("ppt", 0)
    dut.tau.value = min(c.get("tau_i", 0), 1 << 40)   # rtl/program.py clamps τ to 1 likewise


def merge_words(c):
    """Rows (BEAT/8 a beat), ids, sizes (an int32 pair in the low 64 bits of a beat), then the
    unit keys as int16 (BEAT/16 a beat)."""
    u = [_packed(row[i:i + M16], 16) for row in c["u"] for i in range(0, len(row), M16)]
    ppt = pack_i32(c["score"]) if c.get("ppt") else []
    return ([w for row in c["x"] for w in _widen(pack_i8(row))] + pack_i32(c["ids"])
            + pack_i32(c["size"]) + u + ppt)


def merge_check(c, got):
    """Header {r_img, n_new}, the new sizes (pad 0), the new rows, the new ids (pad 0); the
    header and pair beats' bits past 64 are 0."""
    n_new, dim = c["n_new"], c["dim"]
    pairs, row = -(-n_new // 2), dim // M8
    if len(got) != 1 + pairs + n_new * row + pairs:
        return False
    xs = got[1 + pairs:1 + pairs + n_new * row]
    x_new = np.stack([unpack_i8(_narrow(xs[i * row:(i + 1) * row]), dim) for i in range(n_new)])
    return (got[0] == (((c["r_img"] | c.get("pooled", 0) << 16) << 32) | n_new)
            and got[1:1 + pairs] == pack_i32(c["size_new"])
            and np.array_equal(x_new, c["x_new"])
            and got[1 + pairs + n_new * row:] == pack_i32(c["ids_new"]))


def _merge_file_cases(method: str = "tome"):
    lay = layout()
    return merge_cases(CASES / "reduce.bin", lay["dim"], lay["attn"][0]["heads"], method)


def _merge_case(rng, n: int, dim: int, dh: int, r: int, kind: int, total: int) -> dict:
    """One case with the golden rd.bipartite_merge; sizes sum to `total` (>= n)."""
    from sievit.quant import reduce as rd
    if kind == 0:                                 # extremes: rounding of -128 / 127 mixes
        x = rng.choice(np.array([-128, 127, -127, 0, 1, -1]), size=(n, dim))
    else:
        x = rng.integers(-128, 128, size=(n, dim))
    if kind == 2:                                 # few distinct keys: ties, shared targets
        u = rng.choice(np.array([-128, 0, 128]), size=(3, dh))[rng.integers(0, 3, n)]
    else:
        u = rng.integers(-128, 129, size=(n, dh))
    size = np.ones(n, np.int64)
    size += rng.multinomial(total - n, rng.dirichlet(np.full(n, 0.3)))
    ids = np.concatenate([[0], np.sort(rng.choice(np.arange(1, 1000), n - 1, replace=False))])
    t = rd.Tokens(x[None].astype(np.int64), ids[None], np.array([n]), size[None],
                  np.zeros((1, n), np.int64), np.arange(1000)[None])
    new = rd.bipartite_merge(t, u[None].astype(np.int64), r)[0]
    m = int(new.n[0])
    return {"n": n, "r": r, "dim": dim, "head_dim": dh, "x": x, "ids": ids,
            "size": size, "u": u, "r_img": min(r, (n - 1) // 2), "n_new": m,
            "x_new": new.x[0, :m], "ids_new": new.ids[0, :m], "size_new": new.size[0, :m]}


def _merge_synthetic_cases(count: int = 60, seed: int = 5) -> list[dict]:
    """Shapes and sizes the checkpoint's cases do not reach, with the golden rd.bipartite_merge:
    every dim / head_dim corner (BEAT/8 .. MAX_D, the smallest head_dim .. MAX_DH, head_dim not
    a multiple of SIM_LANES), n up to MAX_N, size sums up to 2^SIZE_W - 1 (the reciprocal
    division's bound), saturated rows (negative numerators), keys from few values (ties, many
    sources per destination). At BEAT 64 the shapes of the first version."""
    rng = np.random.default_rng(seed)
    dstep, hstep = M8, max(4, M16)
    dmax, hmax = MERGE_MAX["dim"] // dstep, MERGE_MAX["head_dim"] // hstep
    out = []
    for i in range(count):
        n = int(rng.choice([MERGE_MAX["n"], int(rng.integers(3, MERGE_MAX["n"] + 1))]))
        if MERGE_BEAT == 64:
            dim = int(rng.choice([8, 96, 256, 8 * int(rng.integers(1, 33))]))
            dh = int(rng.choice([4, 12, 36, MERGE_MAX["head_dim"], 4 * int(rng.integers(1, 17))]))
        else:
            dim = int(rng.choice([dstep, dmax * dstep, dstep * int(rng.integers(1, dmax + 1))]))
            dh = int(rng.choice([hstep, 3 * hstep if 3 <= hmax else hstep, hmax * hstep,
                                 hstep * int(rng.integers(1, hmax + 1))]))
        r = int(rng.choice([n, int(rng.integers(0, n // 2 + 1)), n // 2 - 1]))
        out.append(_merge_case(rng, n, dim, dh, r, i % 4, MERGE_MAX["size"] - 1))
    return out


async def _merge_cycles(dut, cases) -> list[int]:
    """Cycles from the message's first beat offered to TLAST out, under the harness's stalls
    (+stall=0: none)."""
    from cocotb.utils import get_sim_time
    out = []
    for c in cases:
        merge_cfg(dut, c)
        t0 = get_sim_time("ns")
        got = await transfer(dut, merge_words(c), 10**7)
        assert merge_check(c, got)
        out.append(int(get_sim_time("ns") - t0) // 10)
    return out


@cocotb.test()
async def bipartite_merge_cases_bit_exact(dut):
    """rd.bipartite_merge on the ToMe checkpoint's reduce cases, then synthetic corners; the
    cycles of the fmnist-shaped cases (n 50, dim 96, head_dim 32, r 6) are logged."""
    cases = [c for c in _merge_file_cases() if c["dim"] % M8 == 0]
    assert any(c["r_img"] > 0 for c in cases) and any(c["n"] <= 2 for c in cases)
    await run_cases(dut, cases, merge_cfg, merge_words, merge_check, timeout_ns=10_000_000)
    await run_cases(dut, _merge_synthetic_cases(), merge_cfg, merge_words, merge_check,
                    timeout_ns=10_000_000)
    shaped = [c for c in cases if (c["n"], c["r"], c["head_dim"]) == (50, 6, 32)][:5]
    if shaped:
        cyc = await _merge_cycles(dut, shaped)
        dut._log.info(f"fmnist-shaped cases (n 50, dim 96, head_dim 32, r 6): cycles {cyc}")


@cocotb.test()
async def bipartite_merge_ppt_cases_bit_exact(dut):
    """rd.ppt_reduce on the PPT checkpoint's reduce cases: per image the score-variance test,
    then the merge (pool) or the drop of the r_img lowest scores (prune); both occur."""
    cases = [c for c in _merge_file_cases("ppt") if c["dim"] % M8 == 0]
    assert {c["pooled"] for c in cases if c["r_img"] > 0} == {0, 1}
    await run_cases(dut, cases, merge_cfg, merge_words, merge_check, timeout_ns=10_000_000)


@cocotb.test()
async def bipartite_merge_shape_cycles(dut):
    """Synthetic cases of one shape (SIEVIT_MERGE_SHAPE "n,dim,head_dim,r"), checked bit-exact;
    their cycles logged (run with +stall=0 for the stall-free count)."""
    n, dim, dh, r = (int(v) for v in os.environ["SIEVIT_MERGE_SHAPE"].split(","))
    rng = np.random.default_rng(9)
    cases = [_merge_case(rng, n, dim, dh, r, k % 4, max(n, min(255, 2 * n))) for k in range(4)]
    await setup(dut)
    cyc = await _merge_cycles(dut, cases)
    dut._log.info(f"shape n {n} dim {dim} head_dim {dh} r {r}: cycles {cyc}")


@cocotb.test()
async def bipartite_merge_reset_mid_tensor(dut):
    case = max(_merge_file_cases()[:100], key=lambda c: (c["r_img"], c["n"]))
    await reset_mid_tensor(dut, case, merge_cfg, merge_words, merge_check, 10_000_000)
