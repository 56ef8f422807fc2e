"""Static checks of the synthesizable HLS sources (what a Vitis user reads): every loop whose
trip count is not a compile-time constant carries LOOP_TRIPCOUNT (so csynth reports a
latency, not "?"), pragmas are plain `#pragma HLS`, no 64-bit C types, weights come in wide
m_axi words, and the MAC loops are pipelined at II = 1 over partitioned buffers."""
import re

import pytest

from conftest import ROOT

HLS = ROOT / "hls"
SOURCES = sorted((HLS / "include" / "sievit").glob("*.h")) + sorted((HLS / "firmware").glob("*.cpp"))
# a compile-time bound: literals, kConstants, CFG::/cfg:: members, template parameters (CAPS),
# sizeof-free arithmetic on them
CONST = re.compile(r"^[\s\d()+\-*/]*((k[A-Z]\w*|(CFG|cfg)::\w+|[A-Z][A-Z0-9_]*|\d+)[\s()+\-*/]*)*$")
FOR = re.compile(r"for \((?:const )?int (\w+) = ([^;]+); \1 (?:<|<=|>=|>) ([^;]+);")


def loops(text: str):
    """(line number, init, bound, pragma lines directly after the loop header)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = FOR.search(line)
        if not m:
            continue
        pragmas = []
        for nxt in lines[i + 1:]:
            if not nxt.strip().startswith("#pragma"):
                break
            pragmas.append(nxt.strip())
        yield i + 1, m.group(2).strip(), m.group(3).strip(), pragmas


def test_scanner_sees_every_loop():
    """The regex finds every `for` header in the sources (a loop it missed would go unchecked)."""
    for path in SOURCES:
        text = path.read_text()
        assert len(list(loops(text))) == len(re.findall(r"\bfor \(", text)), path.name


def test_the_scanner_fails_a_variable_loop_without_tripcount():
    bad = "for (int i = 0; i < d.n; ++i) {\n#pragma HLS PIPELINE II = 1\n  x += 1;\n}\n"
    good = "for (int i = 0; i < d.n; ++i) {\n#pragma HLS LOOP_TRIPCOUNT min = 1 max = 8\n}\n"
    const = "for (int l = 0; l < CFG::lanes; ++l) {\n#pragma HLS UNROLL\n}\n"
    assert missing_tripcount(bad) == [1]
    assert missing_tripcount(good) == [] and missing_tripcount(const) == []


def missing_tripcount(text: str) -> list[int]:
    out = []
    for line, init, bound, pragmas in loops(text):
        constant = CONST.match(init) and CONST.match(bound)
        if not constant and not any("LOOP_TRIPCOUNT" in p for p in pragmas):
            out.append(line)
    return out


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_every_variable_loop_has_a_tripcount(path):
    assert missing_tripcount(path.read_text()) == [], f"{path.name}: loops without LOOP_TRIPCOUNT"


def test_generated_top_and_parameters(tmp_path):
    from sievit.hls.project import TOP_CPP
    assert missing_tripcount(TOP_CPP) == []
    assert "#pragma HLS INTERFACE m_axi port = weights" in TOP_CPP


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_plain_pragmas_and_no_64_bit_c_types(path):
    text = path.read_text()
    assert "SIEVIT_HLS" not in text and "_Pragma" not in text
    # compile-time helpers (constexpr) may use wide C types; no datapath value may
    code = "\n".join(line.split("//")[0] for line in text.splitlines() if "constexpr" not in line
                     and "255ULL" not in line)
    for bad in ("long long", "int64", "i64", "uint64", "int64_t"):
        assert not re.search(rf"\b{bad}\b", code), f"{path.name} uses {bad}"
    for line in text.splitlines():
        if "pragma" in line and "GCC diagnostic" not in line:
            assert line.strip().startswith("#pragma HLS "), line


def test_weights_are_wide_words_read_into_reused_tiles():
    linear = (HLS / "include" / "sievit" / "linear.h").read_text()
    mem = (HLS / "include" / "sievit" / "mem.h").read_text()
    tops = (HLS / "firmware" / "engine_tops.cpp").read_text()
    # the m_axi pointers are ap_uint<word_bits>, never int8 element pointers
    for path in SOURCES:
        assert "const wgt_t* wmem" not in path.read_text() and "const bias_t* bmem" not in path.read_text()
    assert "const ap_uint<CFG::word_bits>* wmem" in linear
    # the tile is loaded before the token-row loop, and the MAC loop reads only the tile
    core = linear[linear.index("void linear_core"):linear.index("// int8 write-back")]
    assert core.index("load_chunks") < core.index("for (int t = 0; t < n; ++t)")
    mac = core[core.index("for (int it = 0"):]
    assert "wmem" not in mac and "wt[it][l]" in mac
    assert "#pragma HLS PIPELINE II = 1" in mac.split("\n", 3)[2] + mac.split("\n", 3)[1]
    assert "ARRAY_PARTITION variable = wt complete dim = 2" in linear
    assert "#pragma HLS PIPELINE II = 1" in mem
    # every top is a DATAFLOW region with m_axi weights in wide words
    for top in ("linear_top", "layernorm_top", "softmax_top", "gelu_top", "attention_top",
                "mlp_top", "pruning_top", "patch_embed_top", "head_top"):
        body = tops[tops.index(f"void {top}("):]
        body = body[:body.index("\n}\n")]
        assert "#pragma HLS DATAFLOW" in body, top


def test_activation_buffers_are_partitioned_by_lanes():
    """Every buffer the MAC loops read LANES elements of per cycle is split into LANES banks."""
    for name, arrays in (("attention.h", "qkva"), ("model.h", ("x", "h", "x1", "x2"))):
        text = (HLS / "include" / "sievit" / name).read_text()
        for a in arrays:
            assert f"ARRAY_PARTITION variable = {a} cyclic factor = CFG::lanes dim = 2" in text, (name, a)
