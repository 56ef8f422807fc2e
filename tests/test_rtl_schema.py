"""The RTL program schema (rtl/schema.py) is the one source of descriptor words, opcodes and
codes: the generated SystemVerilog constants and docs table are current, sievit_top and the
program generator use names only, and the encoder refuses wrong field sets."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from sievit.errors import SievitError
from sievit.quant.bundle import load_bundle
from sievit.rtl import schema
from sievit.rtl.program import PRESETS, Program

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "checkpoints" / "fmnist_heatvit_b40" / "bundle"


def test_generated_regions_are_current():
    assert schema.stale(ROOT) == [], "run: python -m sievit.rtl.schema --write"


def test_stale_region_is_detected(tmp_path):
    for rel in schema.TARGETS:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text((ROOT / rel).read_text())
    pkg = tmp_path / "rtl/sievit_pkg.sv"
    pkg.write_text(pkg.read_text().replace("D_ATTN_HEADS = 2;", "D_ATTN_HEADS = 3;"))
    assert schema.stale(tmp_path) == ["rtl/sievit_pkg.sv"]
    assert schema.write(tmp_path) == ["rtl/sievit_pkg.sv"]
    assert schema.stale(tmp_path) == []


def test_sv_constants_equal_schema_words():
    text = (ROOT / "rtl/sievit_pkg.sv").read_text()
    consts = {k: int(v) for k, v in re.findall(r"localparam int (D_\w+) = (\d+);", text)}
    want = {f"D_{op.upper()}_{f.upper()}": w for op, fields in schema.WORD.items()
            for f, w in fields.items()}
    assert consts == want


def test_top_indexes_descriptors_by_name_only():
    text = (ROOT / "rtl/sievit_top.sv").read_text()
    literal = [m for m in re.findall(r"\bd\[(\d+)\]", text) if m not in ("0", "1")]
    assert literal == [], f"literal descriptor words in sievit_top.sv: {literal}"
    assert "OP_END = " not in text and "B_X = " not in text  # codes come from the package


def test_program_generator_has_no_word_indices():
    tree = ast.parse((ROOT / "rtl/program.py").read_text())
    int_keys = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Dict)
                and any(isinstance(k, ast.Constant) and isinstance(k.value, int) for k in n.keys)]
    assert int_keys == [], f"dicts keyed by word index at lines {int_keys}"


def test_encoder_refuses_wrong_fields():
    with pytest.raises(SievitError, match=r"unknown fields \['bogus'\]"):
        schema.encode("end", 96, {"bogus": 1})
    with pytest.raises(SievitError, match=r"missing \['frac_out'\]"):
        schema.encode("embed", 96, {f.name: 0 for f in schema.OPS["embed"].fields
                                    if f.name != "frac_out"})
    with pytest.raises(SievitError, match="5 values for 4 words"):
        schema.encode("attn", 96, {f.name: [0] * 5 if f.count == 4 else 0
                                   for f in schema.OPS["attn"].fields})


def test_program_decodes_by_schema():
    """Every descriptor of the deployed program is a schema opcode, and named fields read
    back the layout's values (negative fracs as two's complement words)."""
    prog = Program(load_bundle(BUNDLE), PRESETS["fmnist"])
    codes = {op.code: name for name, op in schema.OPS.items()}
    desc = prog.layout.desc
    for mode, p in prog.programs.items():
        names = [codes[int(d[0])] for d in p]
        assert names[0] == "embed" and names[-2:] == ["head", "end"]
        attn = [d for d in p if codes[int(d[0])] == "attn"]
        for i, d in enumerate(attn):
            a = desc["attn"][i]
            assert schema.field(d, "attn", "heads") == a["heads"]
            assert schema.field(d, "attn", "w", 3) == a["proj"]["w_off"]
            assert schema.field(d, "attn", "frac_out", 1) == a["k"]["frac_out"] & 0xFFFFFFFF
        prunes = [d for d in p if codes[int(d[0])] == "prune"]
        assert len(prunes) == (0 if mode == "none" else len(desc["sel_block"]))
        for d in prunes:
            assert schema.field(d, "prune", "mode") == schema.PRUNE_MODES[mode]


def test_wide_preset_pads_the_patch_rows_with_zero_weights():
    """At 32-byte stream words the shipped model's 16-byte patch rows become 32: the RTL
    layout appends 16 zero weights per output, the first 16 are the bundle's, unchanged."""
    bundle = load_bundle(BUNDLE)
    w = bundle.w("patch_embed.weight")
    lin = Program(bundle, PRESETS["fmnist_wide"]).layout.desc["embed"]["lin"]
    narrow = Program(bundle, PRESETS["fmnist"]).layout.desc["embed"]["lin"]
    assert (w.shape[1], narrow["n_in"], lin["n_in"]) == (16, 16, 32)
    mem = Program(bundle, PRESETS["fmnist_wide"]).layout.mem.weight_bytes()
    got = mem[lin["w_off"]: lin["w_off"] + lin["n_out"] * 32].reshape(lin["n_out"], 32)
    assert (got[:, :16] == w).all() and not got[:, 16:].any()
