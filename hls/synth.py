"""`sievit synth`: run Vitis HLS on a generated project (Tcl flow: vitis_hls -f build_prj.tcl,
or the unified flow: v++ -c --mode hls --config hls_config*.cfg) and collect its latency /
resource report as JSON; read an existing report of either flow (csynth.xml or csynth.rpt);
or print the analytic latency estimate (no Vitis needed). Without the tool on PATH it fails
with exit code 3 and says which one is missing."""
from __future__ import annotations

import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from sievit.errors import CheckFailed, SievitError, ToolMissing
from sievit.hls.csim import check_project
from sievit.hls.project import ENGINE_TOPS

FLOWS = {"tcl": "vitis_hls", "vitis": "v++"}
RESOURCES = ("BRAM_18K", "DSP", "FF", "LUT", "URAM")


def find_tool(flow: str) -> str:
    tool = FLOWS[flow]
    path = shutil.which(tool)
    if path is None:
        raise ToolMissing(f"Vitis HLS is not installed: `{tool}` is not on PATH (the {flow} flow "
                          "needs it). Install AMD Vitis (2023.2 or newer), source its "
                          "settings64.sh, and rerun; `sievit csim` checks the project without "
                          "it and `sievit synth PRJ --estimate` prints the analytic estimate.")
    return path


def _int(text: str | None) -> int | None:
    t = (text or "").strip()
    return int(t) if t.lstrip("-").isdigit() else None


def parse_csynth_xml(path: Path) -> dict:
    """Latency (cycles) and resource estimates from Vitis HLS's csynth.xml."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise SievitError(f"{path} is not a csynth.xml report: {exc}") from None

    def text(xpath: str) -> str | None:
        node = root.find(xpath)
        return node.text if node is not None else None

    lat = "PerformanceEstimates/SummaryOfOverallLatency/"
    if root.find("PerformanceEstimates") is None:
        raise SievitError(f"{path} has no PerformanceEstimates: not a csynth.xml report")
    return {"format": "csynth.xml",
            "top": text("UserAssignments/TopModelName") or text("RTLDesignHierarchy/TopModule/ModuleName"),
            "part": text("UserAssignments/Part"),
            "target_clock_ns": text("UserAssignments/TargetClockPeriod"),
            "estimated_clock_ns": text("PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod"),
            "latency_cycles": {"best": _int(text(lat + "Best-caseLatency")),
                               "worst": _int(text(lat + "Worst-caseLatency"))},
            "interval_cycles": {"min": _int(text(lat + "Interval-min")),
                                "max": _int(text(lat + "Interval-max"))},
            "resources": {k: _int(text("AreaEstimates/Resources/" + k)) for k in RESOURCES},
            "available": {k: _int(text("AreaEstimates/AvailableResources/" + k)) for k in RESOURCES}}


def _table_rows(lines: list[str], start: int) -> list[list[str]]:
    """Cells of the '|'-table rows from lines[start] to the first blank line."""
    rows = []
    for line in lines[start:]:
        s = line.strip()
        if not s:
            break
        if s.startswith("|"):
            rows.append([c.strip() for c in s.strip("|").split("|")])
    return rows


def parse_csynth_rpt(path: Path) -> dict:
    """The same fields from the text report csynth.rpt ('?' latencies become None)."""
    lines = path.read_text(errors="replace").splitlines()
    top = next((m.group(1) for line in lines
                if (m := re.match(r"== Vitis HLS Report for '([^']+)'", line.strip()))), None)
    if top is None:
        raise SievitError(f"{path} is not a csynth.rpt report (no \"Vitis HLS Report for\" line)")
    part = next((line.split(":", 1)[1].strip() for line in lines
                 if line.strip().startswith("* Target device:")), None)
    out = {"format": "csynth.rpt", "top": top, "part": part, "target_clock_ns": None,
           "estimated_clock_ns": None, "latency_cycles": {"best": None, "worst": None},
           "interval_cycles": {"min": None, "max": None},
           "resources": dict.fromkeys(RESOURCES), "available": dict.fromkeys(RESOURCES)}
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("|  Clock") and "Target" in s:
            for row in _table_rows(lines, i):
                if row and row[0] == "ap_clk":
                    out["target_clock_ns"] = row[1].replace("ns", "").strip()
                    out["estimated_clock_ns"] = row[2].replace("ns", "").strip()
        if s.startswith("|  Latency (cycles)") and out["latency_cycles"]["best"] is None:
            data = [r for r in _table_rows(lines, i) if r and re.match(r"^[\d?]", r[0])]
            if data:
                r = data[0]
                out["latency_cycles"] = {"best": _int(r[0]), "worst": _int(r[1])}
                out["interval_cycles"] = {"min": _int(r[4]), "max": _int(r[5])}
        if s.startswith("|") and "BRAM_18K" in s and "Name" in s:
            head = [c.strip() for c in s.strip("|").split("|")]
            for row in _table_rows(lines, i):
                key = {"Total": "resources", "Available": "available"}.get(row[0])
                if key:
                    for col, name in enumerate(head[1:], start=1):
                        if name in RESOURCES:
                            out[key][name] = _int(row[col])
    return out


def parse_report(path: Path) -> dict:
    """csynth.xml or csynth.rpt, by suffix."""
    if not path.is_file():
        raise SievitError(f"report {path} does not exist")
    if path.suffix == ".xml":
        return parse_csynth_xml(path)
    if path.suffix == ".rpt":
        return parse_csynth_rpt(path)
    raise SievitError(f"{path}: expected a csynth.xml or csynth.rpt report")


def report_dir(prj: Path, top: str, flow: str, work_dir: Path | None) -> Path:
    """Where each flow writes its synthesis reports."""
    if flow == "tcl":
        base = work_dir if work_dir is not None else prj / "hls_prj"
        return base / f"prj_{top}" / "solution1" / "syn" / "report"
    base = work_dir if work_dir is not None else prj / f"vitis_{top}"
    return base / "hls" / "syn" / "report"


def synth(prj: Path, engine: str | None, flow: str = "tcl", work_dir: Path | None = None) -> dict:
    """Run C synthesis with the chosen flow and parse its report."""
    check_project(prj)
    if engine is not None and engine not in ENGINE_TOPS:
        raise SievitError(f"unknown engine {engine!r}; one of {', '.join(ENGINE_TOPS)}")
    if flow not in FLOWS:
        raise SievitError(f"unknown flow {flow!r}; one of {', '.join(FLOWS)}")
    tool = find_tool(flow)
    top = "sievit_top" if engine is None else f"{engine}_top"
    wd = Path(work_dir).resolve() if work_dir is not None else None
    if flow == "tcl":
        cmd = [tool, "-f", "build_prj.tcl", "-tclargs", f"top={top}", "csim=0", "synth=1"]
        if wd is not None:
            cmd.append(f"prj_dir={wd}")
    else:
        cfg = "hls_config.cfg" if engine is None else f"hls_config_{top}.cfg"
        cmd = [tool, "-c", "--mode", "hls", "--config", cfg, "--work_dir",
               str(wd if wd is not None else prj.resolve() / f"vitis_{top}")]
    t0 = time.time()
    res = subprocess.run(cmd, cwd=prj, capture_output=True, text=True)
    if res.returncode != 0:
        raise CheckFailed(f"{Path(tool).name} failed (exit {res.returncode}):\n{res.stdout[-3000:]}")
    rdir = report_dir(prj, top, flow, wd)
    for name in ("csynth.xml", "csynth.rpt"):
        if (rdir / name).is_file():
            out = parse_report(rdir / name)
            out.update({"flow": flow, "report": str(rdir / name), "wall_s": round(time.time() - t0, 1)})
            return out
    raise CheckFailed(f"{Path(tool).name} finished but wrote no csynth report under {rdir}")


def estimate_project(prj: Path) -> dict:
    """The analytic latency estimate for a project's configuration (no Vitis needed)."""
    from sievit.hls.estimate import estimate
    from sievit.hls.project import project_layout
    from sievit.quant.bundle import load_bundle
    check_project(prj)
    bundle = load_bundle(prj / "bundle")
    out = estimate(project_layout(prj, bundle))
    out.update({"top": "sievit_top ESTIMATE (not a Vitis report)",
                "latency_cycles": {m: r["cycles"] for m, r in out["per_image"].items()},
                "resources": "n/a in the estimate"})
    return out
