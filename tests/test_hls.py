"""HLS engines and generated project: g++ C-simulation equals the golden model bit for bit
(whole model on real test images, every engine on >= 1000 cases), the testbench catches a
wrong engine, hls4ml agrees, and bad input fails cleanly. (The deit_tiny shape's C-simulation
is in test_train_and_shapes.py, next to the bundle it needs.)"""
import json
import re
import shutil

import numpy as np
import pytest

from conftest import CKPT, ROOT
from test_cli import fail_line, run

BUNDLE = CKPT / "bundle"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from sievit.hls.project import export_hls
    prj = tmp_path_factory.mktemp("hls") / "prj"
    summary = export_hls(BUNDLE, prj)
    assert summary["linears"] > 0 and (prj / "build_prj.tcl").is_file()
    return prj


def test_csim_whole_model_is_bit_exact_on_test_images(project):
    from sievit.hls.csim import csim
    res = csim(project, 200, False, ["none", "threshold", "topk"])
    assert res["images"] == 200
    assert res["mismatches"] == 0, res
    for mode in ("none", "threshold", "topk"):
        assert res["modes"][mode]["mismatches"] == 0


def test_csim_every_engine_on_1000_cases(project):
    from sievit.hls.csim import csim
    from sievit.hls.project import ENGINE_TOPS
    res = csim(project, 0, True, [], cases_per_engine=1000)
    assert res["images"] == 0 and res["mismatches"] == 0
    assert set(res["engines"]) == set(ENGINE_TOPS)
    for name, r in res["engines"].items():
        assert r["cases"] >= 1000, name
        assert r["mismatches"] == 0, (name, r)


def test_testbench_catches_a_wrong_engine(project, tmp_path):
    """The same testbench fails when one rounding rule in the engines is off by one bit."""
    from sievit.hls.csim import csim
    bad = tmp_path / "bad"
    shutil.copytree(project, bad, ignore=shutil.ignore_patterns("build"))
    sm = bad / "firmware" / "sievit" / "softmax.h"
    sm.write_text(sm.read_text().replace("kExpB = 1385", "kExpB = 1386"))
    res = csim(bad, 16, False, ["none"])
    assert res["modes"]["none"]["logit_mismatches"] > 0


def test_vitis_project_files(project):
    from sievit.hls.csim import CXX_STD, CXXFLAGS
    tcl = (project / "build_prj.tcl").read_text()
    assert "xczu9eg-ffvb1156-2-e" in tcl and "csynth_design" in tcl and "cosim_design" in tcl
    # the project directory is an option, cosim runs on cosim_images (default 1) images
    assert "prj_dir {}" in tcl and "cd $opt(prj_dir)" in tcl
    assert "cosim_images 1" in tcl and "0 $opt(cosim_images)" in tcl
    top = (project / "firmware" / "sievit_top.cpp").read_text()
    assert "m_axi port = weights" in top and "s_axilite port = return" in top
    meta = json.loads((project / "project.json").read_text())
    weights = np.fromfile(project / "firmware" / "weights" / "weights.bin", dtype=np.int8)
    assert weights.size == meta["weights"]
    # one C++ standard for g++ C-sim, the Tcl and the v++ configs
    assert f"-std={CXX_STD}" in CXXFLAGS and f"-std={CXX_STD}" in tcl
    cfgs = sorted(project.glob("hls_config*.cfg"))
    assert len(cfgs) == 1 + 9
    for c in cfgs:
        text = c.read_text()
        assert f"-std={CXX_STD}" in text and "[hls]" in text and "part=xczu9eg-ffvb1156-2-e" in text
        top_name = re.search(r"^syn\.top=(\w+)$", text, re.M).group(1)
        assert c.name == ("hls_config.cfg" if top_name == "sievit_top" else f"hls_config_{top_name}.cfg")
        for f in re.findall(r"^(?:syn|tb)\.file=(\S+)$", text, re.M):
            assert (project / f).is_file(), f
    whole = (project / "hls_config.cfg").read_text()
    assert re.search(r"^cosim\.argv=.* 0 1$", whole, re.M)  # one image by default
    assert "clock=3.3333ns" in whole
    readme = (project / "README.md").read_text()
    for cmd in ("vitis_hls -f build_prj.tcl", "v++ -c --mode hls --config hls_config.cfg",
                "vitis-run --mode hls --cosim", "csynth.rpt", "ESTIMATE"):
        assert cmd in readme
    # the weight memory holds whole m_axi words
    assert meta["word_bits"] >= 128 and weights.size % (meta["word_bits"] // 8) == 0
    # the tb_data written at export holds golden vectors for the first test images
    assert (project / "tb_data" / "expected_mode1.bin").stat().st_size > 0


def test_export_hls_bad_input(tmp_path):
    out = tmp_path / "p"
    msg = fail_line(run("export-hls", "--bundle", BUNDLE, "--out", out, "--lanes", "64"))
    assert "not a multiple of the engine's 64 MAC lanes" in msg
    assert not out.exists()
    old = tmp_path / "old"
    shutil.copytree(BUNDLE, old)
    man = json.loads((old / "manifest.json").read_text())
    man["schema_version"] = 0
    (old / "manifest.json").write_text(json.dumps(man))
    assert "schema version 0" in fail_line(run("export-hls", "--bundle", old, "--out", out))
    assert not out.exists()
    out.mkdir()
    assert "--force" in fail_line(run("export-hls", "--bundle", BUNDLE, "--out", out))
    assert "is not a sievit HLS project" in fail_line(run("csim", tmp_path / "nothing"))


def test_compile_failure_shows_the_first_compiler_error(project, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(project, bad, ignore=shutil.ignore_patterns("build"))
    (bad / "firmware" / "sievit" / "gelu.h").write_text("#error broken engine header\n")
    res = run("csim", bad, "--images", "2")
    assert res.returncode == 1
    assert "g++ failed to compile tb_model" in res.stderr and "broken engine header" in res.stderr


def test_export_hls_force_replaces_only_a_project(project, tmp_path):
    from sievit.hls.project import PROJECT_MARKER, export_hls
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    res = run("export-hls", "--bundle", BUNDLE, "--out", other, "--force")
    assert res.returncode == 2
    assert (f"--force replaces only a project written by `sievit export-hls` (one holding "
            f"{PROJECT_MARKER})") in fail_line(res)
    assert [p.name for p in other.iterdir()] == ["notes.txt"]
    out = tmp_path / "p"
    export_hls(BUNDLE, out, tb_images=1)
    assert (out / PROJECT_MARKER).is_file()
    (out / "stale.txt").write_text("old")
    export_hls(BUNDLE, out, force=True, tb_images=1)
    assert not (out / "stale.txt").exists() and (out / "build_prj.tcl").is_file()


def test_synth_without_vitis_exits_3_and_names_the_tool(project):
    res = run("synth", project)
    assert res.returncode == 3
    assert "`vitis_hls` is not on PATH" in fail_line(res)
    res = run("synth", project, "--flow", "vitis")
    assert res.returncode == 3
    assert "`v++` is not on PATH" in fail_line(res)


def test_synth_estimate_is_labelled_and_follows_the_loops(project):
    """The estimate prints without Vitis, says it is one, and scales as the loop nest does."""
    res = run("synth", project, "--estimate", "--json")
    assert res.returncode == 0, res.stderr
    est = json.loads(res.stdout)
    assert "ESTIMATE" in est["label"] and "ESTIMATE" in est["top"]
    dense, topk = est["per_image"]["none"]["cycles"], est["per_image"]["topk"]["cycles"]
    assert 0 < topk < dense
    # fewer live tokens never cost more: the linear engine's cycles grow with n
    from sievit.hls.estimate import Estimator
    from sievit.hls.project import project_layout
    from sievit.quant.bundle import load_bundle
    lay = project_layout(project, load_bundle(project / "bundle"))
    e, d = Estimator(lay), lay.desc["mlp"][0]["fc1"]
    cpr = d["n_in"] // lay.hw.lanes
    assert e.linear(d, 11) - e.linear(d, 10) == d["n_out"] * cpr + 6 * -(-d["n_out"] // lay.hw.w_tile_rows)
    # the MAC-bound part of the dense estimate: every MAC at LANES per cycle, plus overheads
    macs = lay.hw.lanes * dense
    assert macs > 25_000_000  # the model's dense MACs per image (README: 25.07 M)


def test_linear_engine_equals_hls4ml_on_the_classifier_head(project):
    """Brevitas -> QONNX -> hls4ml C-simulation of the head gives the same integers as our
    linear engine (and the golden model) on real and extreme int8 inputs."""
    from sievit.hls.crosscheck import crosscheck_head
    res = crosscheck_head(CKPT, project, n_cases=400)
    assert res["cases"] == 400
    assert res["mismatches"] == 0 and res["hls4ml_vs_golden_mismatches"] == 0
