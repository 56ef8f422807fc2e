"""Where sievit finds its shipped sources and where it writes: the RTL sources ship as package
data of `sievit.rtl` (rtl/ in a source checkout); every build and run
output goes under one output directory, `out/` in the working directory unless the user picks
another (`sievit --out-dir DIR` or the SIEVIT_OUT environment variable), never into the
installed package."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
OUT_ENV = "SIEVIT_OUT"
DEFAULT_OUT = "out"


def rtl_dir() -> Path:
    """The SystemVerilog sources (package data of sievit.rtl, beside its Python modules)."""
    import sievit.rtl
    return Path(sievit.rtl.__file__).resolve().parent


def hls_dir() -> Path:
    """The HLS engine headers, firmware and testbench sources (package data of sievit.hls)."""
    import sievit.hls
    return Path(sievit.hls.__file__).resolve().parent


def output_dir() -> Path:
    """The user's output directory (default out/ in the working directory)."""
    return Path(os.environ.get(OUT_ENV) or DEFAULT_OUT)


def build_root(kind: str) -> Path:
    """A cache folder for builds of one kind (cosim, synth, yowasp) under the output directory."""
    return (output_dir() / "build" / kind).resolve()
