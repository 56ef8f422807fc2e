"""Projects exported at other lane counts (issue 19): the engine cases follow the project's
lanes and m_axi word, and both the engines and the whole model stay bit-exact at lanes 1 and
16; a shape whose widths need fewer than 8 lanes exports and checks at 4."""
import json

import pytest

from conftest import CKPT, ROOT
from test_cli import fail_line, run

BUNDLE = CKPT / "bundle"


@pytest.mark.parametrize("lanes", [1, 16])  # 4 lanes: test_narrow_shape_needs_four_lanes
def test_engines_and_model_bit_exact_at_lanes(lanes, tmp_path):
    from sievit.hls.csim import csim
    prj = tmp_path / f"prj{lanes}"
    res = run("export-hls", "--bundle", BUNDLE, "--out", prj, "--lanes", lanes, "--tb-images", 1)
    assert res.returncode == 0, res.stderr
    meta = json.loads((prj / "project.json").read_text())
    assert meta["lanes"] == lanes and meta["word_bits"] == max(128, 8 * lanes)
    assert f"lanes = {lanes};" in (prj / "firmware" / "parameters.h").read_text()
    out = csim(prj, 4, True, ["none", "threshold"], cases_per_engine=30)
    assert out["mismatches"] == 0, out
    assert all(r["mismatches"] == 0 and r["cases"] >= 30 for r in out["engines"].values()), out


def test_narrow_shape_needs_four_lanes(tmp_path):
    """dim 48, 2 heads: the selector's mlp2 reads 12 inputs, so 8 lanes are refused with a clear
    error while 4 lanes export and C-simulate bit-exactly (cases written for 4 lanes)."""
    from sievit.config import load_config
    from sievit.hls.csim import csim
    from sievit.quant.bundle import save_bundle
    from sievit.quant.export import export_random
    cfg = load_config(ROOT / "configs/fmnist.yaml")
    cfg["model"].update(dim=48, heads=2, mlp_dim=96)
    save_bundle(export_random(cfg, seed=3), tmp_path / "b")
    msg = fail_line(run("export-hls", "--bundle", tmp_path / "b", "--out", tmp_path / "p8"))
    assert "not a multiple of the engine's 8 MAC lanes" in msg
    assert not (tmp_path / "p8").exists()
    prj = tmp_path / "p4"
    res = run("export-hls", "--bundle", tmp_path / "b", "--out", prj, "--lanes", 4, "--tb-images", 1)
    assert res.returncode == 0, res.stderr
    out = csim(prj, 2, True, ["threshold"], cases_per_engine=30)
    assert out["mismatches"] == 0, out
    assert out["engines"]["pruning"]["cases"] >= 30
