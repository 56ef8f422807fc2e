"""`sievit synth`: run Vitis HLS on a generated project and collect its latency / resource
report as JSON. Without Vitis HLS on PATH it fails with exit code 3 and says so."""
from __future__ import annotations

import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from sievit.errors import SievitError
from sievit.hls.csim import check_project
from sievit.hls.project import ENGINE_TOPS

TOOLS = ("vitis_hls", "vitis-run")
MISSING_TOOL_EXIT = 3


def find_vitis() -> str:
    for tool in TOOLS:
        path = shutil.which(tool)
        if path:
            return path
    raise SievitError("Vitis HLS is not installed: `vitis_hls` is not on PATH. Install AMD "
                      "Vitis HLS (2022.2 or newer), source its settings64.sh, and rerun; "
                      "`sievit csim` checks the project without it.", code=MISSING_TOOL_EXIT)


def parse_csynth_xml(path: Path) -> dict:
    """Latency (cycles) and resource estimates from Vitis HLS's csynth.xml."""
    root = ET.parse(path).getroot()

    def text(xpath: str) -> str | None:
        node = root.find(xpath)
        return node.text if node is not None else None

    def num(xpath: str) -> int | None:
        t = text(xpath)
        return int(t) if t is not None and t.strip().lstrip("-").isdigit() else None

    lat = "PerformanceEstimates/SummaryOfOverallLatency/"
    res = "AreaEstimates/Resources/"
    avail = "AreaEstimates/AvailableResources/"
    out = {"top": text("RTLDesignHierarchy/TopModule/ModuleName"),
           "part": text("UserAssignments/Part"),
           "target_clock_ns": text("UserAssignments/TargetClockPeriod"),
           "estimated_clock_ns": text("PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod"),
           "latency_cycles": {"best": num(lat + "Best-caseLatency"),
                              "worst": num(lat + "Worst-caseLatency")},
           "interval_cycles": {"min": num(lat + "Interval-min"), "max": num(lat + "Interval-max")},
           "resources": {k: num(res + k) for k in ("BRAM_18K", "DSP", "FF", "LUT", "URAM")},
           "available": {k: num(avail + k) for k in ("BRAM_18K", "DSP", "FF", "LUT", "URAM")}}
    return out


def synth(prj: Path, engine: str | None) -> dict:
    check_project(prj)
    if engine is not None and engine not in ENGINE_TOPS:
        raise SievitError(f"unknown engine {engine!r}; one of {', '.join(ENGINE_TOPS)}")
    tool = find_vitis()
    top = "sievit_top" if engine is None else f"{engine}_top"
    t0 = time.time()
    res = subprocess.run([tool, "-f", "build_prj.tcl", "-tclargs", f"top={top}", "csim=0",
                          "synth=1"], cwd=prj, capture_output=True, text=True)
    if res.returncode != 0:
        raise SievitError(f"{Path(tool).name} failed (exit {res.returncode}):\n{res.stdout[-3000:]}")
    report = prj / f"prj_{top}" / "solution1" / "syn" / "report" / "csynth.xml"
    if not report.is_file():
        raise SievitError(f"Vitis HLS finished but wrote no report at {report}")
    out = parse_csynth_xml(report)
    out["wall_s"] = round(time.time() - t0, 1)
    return out
