"""`sievit bench pareto --rtl-images N`: the RTL columns (Verilator cosim of the methods the
RTL runs) and the accuracy-vs-cycles panel; `--reuse-golden` takes the golden columns of an
earlier run and refuses one that does not match."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from sievit.cli import main as sievit_main


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pareto_golden")
    from sievit.pareto import pareto
    res = pareto(["evit", "cait"], 16, 1, out)
    (out / "pareto.json").write_text(json.dumps(res))
    return out


def test_rtl_columns_and_cycles_panel(golden_run, tmp_path, capsys):
    code = sievit_main(["bench", "pareto", "--methods", "evit", "cait", "--images", "16",
                        "--reuse-golden", str(golden_run / "pareto.json"), "--rtl-images", "1",
                        "--out", str(tmp_path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["mismatches"] == 0
    rows = out["rows"]
    old = json.loads((golden_run / "pareto.json").read_text())["rows"]
    assert [(r["method"], r["top1"], r["macs"]) for r in rows] == \
           [(r["method"], r["top1"], r["macs"]) for r in old]        # golden columns reused
    with_rtl = [r for r in rows if "rtl" in r]
    assert [r["method"] for r in with_rtl] == ["dense"] + ["evit"] * 4   # CAIT: no RTL
    dense = rows[0]["rtl"]
    for r in with_rtl[1:]:
        rtl = r["rtl"]
        assert rtl["mismatches"] == 0 and rtl["cycles"] < dense["cycles"]
        assert rtl["cycle_over_mac_saving"] == pytest.approx(
            (1 - rtl["cycles"] / dense["cycles"]) / (1 - rtl["macs"] / dense["macs"]), abs=1e-3)
    # fewer kept tokens, fewer cycles
    by_budget = sorted(with_rtl[1:], key=lambda r: r["budget"])
    assert [r["rtl"]["cycles"] for r in by_budget] == sorted(r["rtl"]["cycles"] for r in by_budget)
    table = (tmp_path / "pareto.md").read_text()
    assert "RTL k cycles / image" in table and "| CAIT |" in table
    assert Image.open(tmp_path / "pareto.png").size[0] > Image.open(golden_run / "pareto.png").size[0]


def test_reuse_golden_refuses_other_points(golden_run, tmp_path, capsys):
    code = sievit_main(["bench", "pareto", "--methods", "evit", "--images", "32",
                        "--reuse-golden", str(golden_run / "pareto.json"), "--out", str(tmp_path)])
    assert code == 2 and "evaluated 16 images, this run asks for 32" in capsys.readouterr().err
    code = sievit_main(["bench", "pareto", "--methods", "cpvit", "--images", "16",
                        "--reuse-golden", str(golden_run / "pareto.json"), "--out", str(tmp_path)])
    assert code == 2 and "has no row for cpvit at budget 0.2" in capsys.readouterr().err
