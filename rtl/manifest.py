"""The RTL manifest: which SystemVerilog files make each engine and the whole-model top, in
compile order. cosim, Yosys, lint and the engine tests all read it (the presets of the top's
parameters live beside the program generator, `sievit.rtl.program.PRESETS`)."""
from __future__ import annotations

from pathlib import Path

from sievit.paths import rtl_dir

PACKAGE = "sievit_pkg"     # numeric contract, DSP packing helpers (imported by every module)
SHARED = ("udiv",)         # the one divider module every dividing engine instantiates
# engines built from other modules (besides the package and the divider)
ENGINE_DEPS: dict[str, tuple[str, ...]] = {
    "gelu": (), "softmax": (), "layernorm": (), "linear": (), "pruning": (),
    "mlp": ("linear",), "attention": ("linear", "softmax"), "head": ("layernorm", "linear"),
    "patch_embed": ("linear",), "pruning_score": ("layernorm", "linear"),
    "bipartite_merge": (),
}
TOP = "sievit_top"
# the top's modules in compile order (the package first)
TOP_MODULES = (PACKAGE, *SHARED, "mem_narrow", "mem_arbiter", "linear", "layernorm", "softmax", "gelu",
               "attention", "mlp",
               "pruning", "bipartite_merge", "pruning_score", "head", "patch_embed", TOP)
SIM_MODULES = ("sim/sim_memory", "sim/sievit_top_tb")   # the cosim harness (not synthesizable)


def engine_modules(engine: str) -> tuple[str, ...]:
    """Module names that one stand-alone engine needs, in compile order."""
    if engine not in ENGINE_DEPS:
        raise KeyError(f"unknown RTL engine {engine!r}; known: {', '.join(ENGINE_DEPS)}")
    return (PACKAGE, *SHARED, *ENGINE_DEPS[engine], engine)


def paths(modules: tuple[str, ...], rtl: Path | None = None) -> list[Path]:
    """The .sv files of `modules` under the RTL folder (checkout or installed package)."""
    root = rtl or rtl_dir()
    return [root / f"{m}.sv" for m in modules]
