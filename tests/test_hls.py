"""HLS engines and generated project: g++ C-simulation equals the golden model bit for bit
(whole model on real test images, every engine on >= 1000 cases), the testbench catches a
wrong engine, hls4ml agrees, and bad input fails cleanly. (The deit_tiny shape's C-simulation
is in test_train_and_shapes.py, next to the bundle it needs.)"""
import json
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
    tcl = (project / "build_prj.tcl").read_text()
    assert "xczu9eg-ffvb1156-2-e" in tcl and "csynth_design" in tcl and "cosim_design" in tcl
    top = (project / "firmware" / "sievit_top.cpp").read_text()
    assert "m_axi port = weights" in top and "s_axilite port = return" in top
    meta = json.loads((project / "project.json").read_text())
    weights = np.fromfile(project / "firmware" / "weights" / "weights.bin", dtype=np.int8)
    assert weights.size == meta["weights"]
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


def test_export_hls_force_replaces(project, tmp_path):
    from sievit.hls.project import export_hls
    out = tmp_path / "p"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    export_hls(BUNDLE, out, force=True)
    assert not (out / "stale.txt").exists() and (out / "build_prj.tcl").is_file()


def test_synth_without_vitis_exits_2_and_names_the_tool(project):
    res = run("synth", project)
    assert res.returncode == 2
    assert "vitis_hls" in fail_line(res)


def test_linear_engine_equals_hls4ml_on_the_classifier_head(project):
    """Brevitas -> QONNX -> hls4ml C-simulation of the head gives the same integers as our
    linear engine (and the golden model) on real and extreme int8 inputs."""
    from sievit.hls.crosscheck import crosscheck_head
    res = crosscheck_head(CKPT, project, n_cases=400)
    assert res["cases"] == 400
    assert res["mismatches"] == 0 and res["hls4ml_vs_golden_mismatches"] == 0
