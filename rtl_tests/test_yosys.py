"""The Yosys resource report: the committed one belongs to the current RTL, a stale or
missing one is refused by name, and the counts include every instance of a submodule."""
from __future__ import annotations

import json
from pathlib import Path

from sievit.cli import main
from sievit.rtl.yosys import SYNTH_PARAMS, rtl_digest, run_yosys

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "rtl_synth.json"


def test_committed_report_was_synthesized_from_the_current_rtl(capsys):
    """Fails whenever the RTL or the synthesis script changes without a new
    `sievit rtl-synth --json > docs/rtl_synth.json`."""
    assert main(["rtl-synth", "--cached", str(REPORT), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    before_luts = report.get("stage") == "before_luts"
    assert report["rtl_sha256"] == rtl_digest(report["params"], report["family"],
                                              before_luts=before_luts)
    assert report["params"] == SYNTH_PARAMS
    assert report["ff"] > 0 and report["dsp"] > 0
    assert report["gates"] > 0 if before_luts else report["lut"] > 0


def test_stale_or_missing_report_is_refused(tmp_path, capsys):
    stale = json.loads(REPORT.read_text())
    stale["params"] = {**stale["params"], "MAX_N": 2 * stale["params"]["MAX_N"]}
    (tmp_path / "stale.json").write_text(json.dumps(stale))
    assert main(["rtl-synth", "--cached", str(tmp_path / "stale.json")]) == 1
    err = capsys.readouterr().err
    assert "synthesized from other RTL sources" in err and "sievit rtl-synth --json" in err
    # a stale report is a failed check (1); a missing file is bad input (2)
    assert main(["rtl-synth", "--cached", str(tmp_path / "none.json")]) == 2
    assert "no synthesis report" in capsys.readouterr().err


def test_counts_include_every_instance(tmp_path):
    """Two instances of an 8-bit registered adder: 16 flip-flops in the design total (the
    old text parser read both of stat's tables and counted each cell twice)."""
    work = tmp_path / "ys"
    work.mkdir()
    (work / "t.v").write_text(
        "module sub(input clk, input [7:0] a, output reg [7:0] q);\n"
        "  always @(posedge clk) q <= a + 8'd1;\nendmodule\n"
        "module top(input clk, input [7:0] a, output [7:0] q, output [7:0] r);\n"
        "  sub u1(clk, a, q);\n  sub u2(clk, q, r);\nendmodule\n")
    cells = run_yosys(work, "read_verilog t.v\nsynth_xilinx -top top\n"
                            "tee -q -o stat.json stat -tech xilinx -json\n", timeout_s=300)
    assert sum(n for c, n in cells.items() if c.startswith("FD")) == 16
    assert cells.get("sub") == 2
