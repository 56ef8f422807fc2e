"""The token-reduction methods on the HLS engines (EViT, ToMe, PPT, CP-ViT, CAIT, PRANCE): g++ C-simulation
of the whole model equals the golden model bit for bit (logits, token counts and kept ids per
stage) on real test images of each method's shipped checkpoint, at the shipped budget and at
another one; the method engines (attention with scores and channel masks, reduce, head
choice, CAIT's gate and masked MLP, PRANCE's actor and width masks) equal the golden engine
functions of quant/reduce.py and quant/channels.py on real intermediates and edge cases; the
testbench catches a wrong rounding or tie rule; the RTL keeps refusing CAIT and PRANCE (exit 2)."""
import json
import shutil

import numpy as np
import pytest

from conftest import ROOT
from test_cli import fail_line, run

METHODS = ("evit", "tome", "ppt", "cpvit", "cait", "prance")
N_TOK = 50   # Fashion-MNIST: 7 x 7 patches + CLS


@pytest.fixture(scope="session")
def method_bundles(tmp_path_factory):
    """method -> bundle directory exported from checkpoints/fmnist_<method>."""
    from sievit.quant.bundle import save_bundle
    from sievit.quant.export import export_checkpoint
    root = tmp_path_factory.mktemp("method_bundles")
    out = {}
    for m in METHODS:
        out[m] = root / m
        save_bundle(export_checkpoint(ROOT / "checkpoints" / f"fmnist_{m}"), out[m])
    return out


def _golden(prj, images, trace: bool = False):
    from sievit.quant.bundle import load_bundle
    from sievit.quant.golden import Golden
    return Golden(load_bundle(prj / "bundle")).run(images, "reduce", trace=trace)


# (method, budget for export-hls --budget; None = the shipped one)
CASES = [("evit", None), ("tome", None), ("ppt", None), ("cpvit", None), ("cait", None),
         ("prance", None), ("evit", "0.5")]


@pytest.mark.parametrize("method,budget", CASES, ids=[f"{m}-{b or 'shipped'}" for m, b in CASES])
def test_whole_model_csim_is_bit_exact(method_bundles, tmp_path, method, budget):
    from sievit.data import first_test_images
    from sievit.hls.csim import csim
    prj = tmp_path / "prj"
    args = ["export-hls", "--bundle", method_bundles[method], "--out", prj, "--tb-images", "2"]
    res = run(*args, *(["--budget", budget] if budget else []))
    assert res.returncode == 0, res.stderr
    cfg = json.loads((prj / "project.json").read_text())
    assert cfg["method"] == method and (budget is None or cfg["budget"] == float(budget))
    out = csim(prj, 8, False, ["none", "reduce"])
    assert out["images"] == 8 and out["mismatches"] == 0, out
    assert out["modes"]["reduce"]["kept_mismatches"] == 0
    # the comparison is not vacuous: the method really reduced these images' tokens
    g = _golden(prj, first_test_images(8).images)
    assert (g.tokens_per_stage[:, -1] < N_TOK).all()
    if method == "cait":  # ... and its channels: the gates' masks drop Q/K, V and MLP channels
        assert (g.macs < 0.6 * _golden_dense_macs(prj, first_test_images(8).images)).all()
    if method == "prance":  # ... and its actor chose per image: widths and keep ratios vary
        picks = _golden(prj, first_test_images(8).images, trace=True).trace["prance_choices"]
        assert len({tuple(p.ravel()) for p in picks}) > 1
        assert (g.macs < _golden_dense_macs(prj, first_test_images(8).images)).all()
    if budget == "0.5":  # the budget reached the golden reference: EViT keeps ceil(0.5 M) at stage 0
        assert (g.tokens_per_stage[:, 0] == 1 + 25 + 1).all()


def _golden_dense_macs(prj, images):
    from sievit.quant.bundle import load_bundle
    from sievit.quant.golden import Golden
    return Golden(load_bundle(prj / "bundle")).run(images, "none").macs


@pytest.fixture(scope="module")
def cait_project(method_bundles, tmp_path_factory):
    """CAIT's project: its case files hold every method engine (the gate and the masked MLP
    included) and the reduce cases of all five methods."""
    from sievit.hls.project import export_hls
    prj = tmp_path_factory.mktemp("hls_cait") / "prj"
    export_hls(method_bundles["cait"], prj, tb_images=1)
    return prj


def test_method_engines_equal_the_golden_engine_functions(cait_project):
    """attention_method, reduce (all five methods' actions), head_mask, gate and mlp_masked
    on real intermediates and edge cases, besides the other engines on this bundle."""
    from sievit.hls.csim import run_engines
    res = run_engines(cait_project, 120, 0)
    assert res["mismatches"] == 0, res
    eng = res["engines"]
    assert "pruning" not in eng  # no selector in a method bundle
    assert eng["attention_method"]["cases"] >= 120 and eng["reduce"]["cases"] >= 120
    assert eng["head_mask"]["cases"] >= 3
    assert eng["gate"]["cases"] >= 120 and eng["mlp_masked"]["cases"] >= 120
    for name, r in eng.items():
        assert r["mismatches"] == 0, name


def test_reduce_cases_cover_the_edges(cait_project):
    """The case file holds every method with n = 1 and 2, budgets 0 and 1, identical rows,
    and both PPT choices; parsed from the file the testbench reads."""
    from sievit.config import METHOD_CODES
    case_dir = cait_project / "tb_data" / "engines"
    if not (case_dir / "reduce.bin").is_file():
        from sievit.engine_cases import write_cases
        from sievit.hls.project import project_layout
        from sievit.quant.bundle import load_bundle
        b = load_bundle(cait_project / "bundle")
        write_cases(b, case_dir, 120, 0, project_layout(cait_project, b))
    words = np.fromfile(case_dir / "reduce.bin", dtype="<i4")
    count, pos, dim, dh = int(words[0]), 1, 96, 32
    seen = set()
    for _ in range(count):
        method, n, k, r, _tau, _win_r, _win_c = (int(v) for v in words[pos:pos + 7])
        pos += 7
        x = words[pos:pos + n * dim].reshape(n, dim)
        pos += n * dim + 4 * n + n * dh
        n_new, pooled = int(words[pos]), int(words[pos + 1])
        pos += 2 + n_new * dim + 3 * n_new
        seen |= {(method, "n", n)} | {(method, "k", k)} | {(method, "r", r)}
        if n > 2 and (x == x[0]).all():
            seen.add((method, "identical"))
        if method == METHOD_CODES["ppt"]:
            seen.add(("ppt", "pooled", pooled))
    assert pos == len(words)
    for m in ("evit", "cpvit", "tome", "ppt", "cait", "prance"):
        c = METHOD_CODES[m]
        assert {(c, "n", 1), (c, "n", 2), (c, "identical")} <= seen, m
        if m in ("evit", "cpvit", "prance"):  # kept counts 0 and 1
            assert {(c, "k", 0), (c, "k", 1)} <= seen, m
        if m != "evit" and m != "cpvit":      # merges 0 and 1 (PRANCE: prune and merge)
            assert {(c, "r", 0), (c, "r", 1)} <= seen, m
    assert {("ppt", "pooled", 0), ("ppt", "pooled", 1)} <= seen


def test_prance_engines_equal_the_golden_engine_functions(method_bundles, tmp_path):
    """PRANCE's project: the actor (choices from real and random K rows, all choices made),
    the attention with embedding masks (and its K row sums), the MLP with width masks."""
    from sievit.hls.csim import run_engines
    from sievit.hls.project import export_hls
    prj = tmp_path / "prj"
    export_hls(method_bundles["prance"], prj, tb_images=1)
    res = run_engines(prj, 60, 0)
    assert res["mismatches"] == 0, res
    eng = res["engines"]
    assert eng["actor"]["cases"] >= 60 and eng["mlp_masked"]["cases"] >= 60
    assert eng["attention_method"]["cases"] >= 60
    words = np.fromfile(prj / "tb_data" / "engines" / "actor.bin", dtype="<i4")
    pos, picks = 1, set()
    for _ in range(int(words[0])):
        n = int(words[pos + 1])
        pos += 2 + n * 96
        picks.add(tuple(words[pos:pos + 3]))
        pos += 3
    assert pos == len(words) and len(picks) > 1   # the cases reach different choices


def test_testbench_catches_wrong_method_engines(cait_project, tmp_path):
    """One tie rule in the reduce engine, one rounding rule of proportional attention and
    the gate's ReLU off: the reduce, attention_method and gate cases fail."""
    from sievit.hls.csim import run_engines
    bad = tmp_path / "bad"
    shutil.copytree(cait_project, bad, ignore=shutil.ignore_patterns("build"))
    red = bad / "firmware" / "sievit" / "reduce.h"
    red.write_text(red.read_text().replace("(score[j] == score[t] && j < t)",
                                           "(score[j] == score[t] && j > t)")
                   .replace("if (mid[0][c] < 0) mid[0][c] = 0;", ""))
    sc = bad / "firmware" / "sievit" / "scores.h"
    sc.write_text(sc.read_text().replace("s > 0 ? shr_rne<32>(l, s)", "s > 0 ? shr_floor<32>(l, s)"))
    res = run_engines(bad, 40, 0)
    assert res["engines"]["reduce"]["mismatches"] > 0
    assert res["engines"]["attention_method"]["mismatches"] > 0
    assert res["engines"]["gate"]["mismatches"] > 0
    assert res["engines"]["linear"]["mismatches"] == 0  # the rest untouched


def test_rtl_refuses_the_methods_it_lacks_and_hls_takes_all(method_bundles, tmp_path):
    from sievit.layout import Layout
    from sievit.quant.bundle import load_bundle
    for m in ("cait", "prance"):
        res = run("cosim", "--bundle", method_bundles[m], "--images", "1")
        assert res.returncode == 2
        assert (f"the RTL engines implement heatvit, evit, cpvit, tome, ppt; reduction.method '{m}'"
                in fail_line(res))
    for m in METHODS:
        Layout(load_bundle(method_bundles[m]), form="hls")  # accepted


def test_export_hls_budget_errors(method_bundles, tmp_path):
    from conftest import CKPT
    out = tmp_path / "p"
    msg = fail_line(run("export-hls", "--bundle", method_bundles["tome"], "--out", out,
                        "--budget", "lots"))
    assert "--budget 'lots' is not a valid reduction.r for tome" in msg and not out.exists()
    msg = fail_line(run("export-hls", "--bundle", CKPT / "bundle", "--out", out, "--budget", "3"))
    assert "this bundle's method is heatvit" in msg and not out.exists()
