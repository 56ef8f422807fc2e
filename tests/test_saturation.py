"""Saturation counters of the golden model: exact at the limits of requant (round half to
even, then clip to int8), softmax (probability 256 clamped to 255) and the PLAN sigmoid
(flat for |d| >= 5); counting changes no result; `sievit eval --json` reports them."""
import json
import subprocess
import sys

import numpy as np

from conftest import CKPT, ROOT
from sievit.quant import contract as C
from sievit.quant import intops as op


def test_requant_counts_exactly_the_values_rounded_past_the_int8_limits():
    # at frac 1 -> 0: 127.5 rounds (half to even) to 128: clipped; 126.5 -> 126: not;
    # -128.5 -> -128 (even): not clipped; -129.5 -> -130: clipped
    acc = np.array([254, 255, 253, 256, -257, -259, -256, 0])   # x 2^-1
    with op.count_saturation() as sat:
        out = op.requant(acc, 1, 0, name="t")
    assert out.tolist() == [127, 127, 126, 127, -128, -128, -128, 0]
    assert sat.report()["tensors"]["t"] == {"saturated": 3, "elements": 8}   # 255, 256, -259
    assert np.array_equal(out, op.requant(acc, 1, 0))                        # same without counting


def test_counting_is_off_outside_the_block_and_needs_a_name():
    with op.count_saturation() as sat:
        op.requant(np.array([1000]), 0, 0)          # unnamed: not counted
    op.requant(np.array([1000]), 0, 0, name="x")    # outside the block: not counted
    assert sat.report() == {"saturated": 0, "elements": 0, "tensors": {}}


def test_live_rows_restrict_the_count():
    x = np.full((2, 3, 4), 1000)                    # every value saturates
    rows = np.array([[True, True, False], [True, False, False]])
    with op.count_saturation() as sat:
        op.set_live_rows(rows)
        op.requant(x, 0, 0, name="r")
        op.requant(x[:, 0], 0, 0, name="cls", per_row=False)
    t = sat.report()["tensors"]
    assert t["r"] == {"saturated": 3 * 4, "elements": 3 * 4}
    assert t["cls"] == {"saturated": 2 * 4, "elements": 2 * 4}


def test_softmax_clamp_counted_when_one_key_takes_everything():
    frac = 4
    logits = np.array([[0, -4000, -4000], [0, 0, 0]])  # one dominant key; uniform
    with op.count_saturation() as sat:
        p = op.softmax(logits, frac, name="sm")
    assert p[0, 0] == C.SOFTMAX_OUT_MAX and p[0, 1:].tolist() == [0, 0]
    assert sat.report()["tensors"]["sm"]["saturated"] == 1


def test_sigmoid_tails_counted_from_five():
    frac = 3
    one = 1 << frac
    d = np.array([5 * one - 1, 5 * one, -5 * one, -(5 * one - 1), 0, 40 * one])
    with op.count_saturation() as sat:
        s = op.sigmoid(d, frac, name="sg")
    assert s[1] == s[5] == 1 << C.SIGMOID_OUT_FRAC and s[2] == 0
    assert s[0] < s[1] and s[3] > s[2]                 # just inside the tails: not flat yet
    assert sat.report()["tensors"]["sg"] == {"saturated": 3, "elements": 6}


def test_golden_counts_are_bounded_by_the_values_at_the_limits(golden):
    """Every counted saturation left a value at -128 or 127 in the traced tensor (live rows),
    and results are the same with and without counting."""
    from sievit.data import first_test_images
    imgs = first_test_images(6).images
    plain = golden.run(imgs, "threshold", trace=True)
    with op.count_saturation() as sat:
        counted = golden.run(imgs, "threshold", trace=True)
    assert np.array_equal(plain.logits, counted.logits)
    t = sat.report()["tensors"]
    assert sum(v["saturated"] for v in t.values()) > 0
    traced_as = {"blocks.0.ln1_out": "blocks.0.ln1_out", "blocks.0.res1": "blocks.0.res1",
                 "blocks.5.res2": "blocks.5.out", "blocks.2.gelu_out": "blocks.2.gelu_out"}
    for name, key in traced_as.items():
        traced = counted.trace[key]
        at_limit = int(((traced == 127) | (traced == -128)).sum())
        assert t[name]["saturated"] <= at_limit, name
        assert t[name]["elements"] <= traced.size


def test_eval_json_reports_saturation_per_mode_and_tensor():
    res = subprocess.run([sys.executable, "-m", "sievit.cli", "eval", "--ckpt", str(CKPT),
                          "--images", "24", "--min-acc", "0.999", "--json"], capture_output=True,
                         text=True, cwd=ROOT)
    out = json.loads(res.stdout)
    low = [k for k in ("int_dense_acc", "int_pruned_acc") if out[k] < 0.999]
    assert low, "24 test images hold misclassified ones: the floor must fail"
    assert res.returncode == 1, res.stderr     # the accuracy floor is a check; JSON still printed
    assert [c.split()[0] for c in out["checks_failed"]] == low
    sat = out["saturation"]
    assert set(sat) == {"none", "threshold", "topk"}
    dense = sat["none"]["tensors"]
    assert "blocks.0.q_act" in dense and "blocks.5.attn_probs" in dense
    assert not any(k.startswith("selectors.") for k in dense)          # no selector when dense
    assert "selectors.0.score.keep_prob" in sat["threshold"]["tensors"]
    for mode in sat.values():
        assert mode["saturated"] == sum(v["saturated"] for v in mode["tensors"].values())
        assert all(0 <= v["saturated"] <= v["elements"] for v in mode["tensors"].values())
    # 24 images x 50 tokens x 96 channels: the dense model's q of block 0 sees every value once
    assert dense["blocks.0.q_act"]["elements"] == 24 * 50 * 96
    assert "golden saturations:" in res.stderr


def test_hls_engines_equal_golden_on_cases_that_saturate(tmp_path, monkeypatch):
    """The engine cases (extreme int8 inputs, 1-token and full-length rows) drive every
    saturating step past its limit, and the C-simulated engines still equal the golden
    functions there: requant clipping, the softmax clamp, the sigmoid tails."""
    from sievit.hls.csim import csim
    from sievit.hls.project import export_hls
    prj = tmp_path / "prj"
    export_hls(CKPT / "bundle", prj, tb_images=1)
    real = {f: getattr(op, f) for f in ("requant", "softmax", "sigmoid")}
    monkeypatch.setattr(op, "requant", lambda *a, name=None, **k: real["requant"](*a, name=name or "requant", **k))
    monkeypatch.setattr(op, "softmax", lambda *a, name=None, **k: real["softmax"](*a, name=name or "softmax", **k))
    monkeypatch.setattr(op, "sigmoid", lambda *a, name=None, **k: real["sigmoid"](*a, name=name or "sigmoid", **k))
    with op.count_saturation() as sat:
        res = csim(prj, 0, True, [], cases_per_engine=60)
    assert res["mismatches"] == 0, res["engines"]
    t = sat.report()["tensors"]

    def clipped(*ends: str) -> int:
        return sum(v["saturated"] for k, v in t.items() if k.endswith(ends))

    assert clipped("requant") > 0                      # linear / gelu / layernorm epilogues
    assert clipped("softmax", "attn_probs") > 0        # 256 -> 255 (1-token rows, peaked rows)
    assert clipped("keep_prob", "head_weight", "sigmoid") > 0   # the selector's sigmoid tails
    assert all(r["cases"] >= 60 for r in res["engines"].values())
