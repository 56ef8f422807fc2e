"""`sievit csim`: C-simulate a generated HLS project with g++ (and hls4ml's ap_types) against
the golden model, bit for bit: the whole model on test images, and each engine on golden
intermediates plus random and extreme cases."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from sievit import fanout
from sievit.errors import CheckFailed, SievitError, ToolMissing

CXX = "g++"
CXX_STD = "c++14"   # the one C++ standard: g++ C-sim, build_prj.tcl and hls_config.cfg
# The sources carry plain `#pragma HLS` lines; g++ ignores them, without the warning.
CXXFLAGS = [f"-std={CXX_STD}", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas"]
TARGETS = {"tb_model": ["tb/tb_model.cpp", "firmware/sievit_top.cpp"],
           "tb_engines": ["tb/tb_engines.cpp", "firmware/engine_tops.cpp"]}


def ap_types_dir() -> Path:
    """The ap_types headers shipped inside the installed hls4ml (no vendored copy)."""
    try:
        import hls4ml
    except ImportError:
        raise ToolMissing("hls4ml is not installed (pip install hls4ml==1.3.0): its ap_types "
                          "headers are needed for C-simulation") from None
    path = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    if not (path / "ap_int.h").is_file():
        raise SievitError(f"hls4ml's ap_types headers are missing under {path}")
    return path


def check_project(prj: Path) -> None:
    if not (prj / "project.json").is_file() or not (prj / "firmware" / "parameters.h").is_file():
        raise SievitError(f"{prj} is not a sievit HLS project (run `sievit export-hls` first)")


def compile_target(prj: Path, target: str) -> tuple[Path, float]:
    """Compile once: the binary is reused while sources and flags are unchanged, in this
    project and in any other project with the same sources (a cache under the output
    directory keyed by their content: the weights are files read at run time, so the
    projects of one bundle share one binary). Returns the binary and the compile seconds
    (0 when reused)."""
    from filelock import FileLock
    from sievit.paths import build_root
    if shutil.which(CXX) is None:
        raise ToolMissing(f"{CXX} not found: install it (apt-get install g++)")
    inc = ap_types_dir()
    sources = [prj / s for s in TARGETS[target]]
    deps = sorted((prj / "firmware").rglob("*.h")) + sorted((prj / "tb").glob("*")) + sources
    h = hashlib.sha256(" ".join([CXX, *CXXFLAGS, str(inc)]).encode())
    for d in deps:
        h.update(d.relative_to(prj).as_posix().encode() + b"\0" + d.read_bytes())
    key = h.hexdigest()
    build = prj / "build"
    build.mkdir(exist_ok=True)
    exe, stamp = build / target, build / f"{target}.sha256"
    if exe.is_file() and stamp.is_file() and stamp.read_text() == key:
        return exe, 0.0
    shared = build_root("csim") / key[:16] / target
    shared.parent.mkdir(parents=True, exist_ok=True)
    compile_s = 0.0
    with FileLock(str(shared) + ".lock"):  # parallel workers compile one source set once
        if not shared.is_file():
            t0 = time.time()
            tmp = shared.with_name(f".{target}.tmp")
            cmd = [CXX, *CXXFLAGS, "-isystem", str(inc), "-I", str(prj / "firmware"),
                   *map(str, sources), "-o", str(tmp)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                tmp.unlink(missing_ok=True)
                lines = res.stderr.splitlines()
                first = next((i for i, line in enumerate(lines) if "error" in line), 0)
                raise CheckFailed(f"g++ failed to compile {target}: "
                                  + "\n".join(lines[first:first + 8]))
            tmp.replace(shared)
            compile_s = time.time() - t0
    part = build / f".{target}.tmp"
    shutil.copy2(shared, part)
    part.replace(exe)
    stamp.write_text(key)
    return exe, compile_s


def run_testbench(cmd: list[str]) -> tuple[dict, str]:
    """Run a compiled testbench; returns its JSON line and stderr (exit 1 = mismatches)."""
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode not in (0, 1):
        raise CheckFailed(f"testbench {Path(cmd[0]).name} failed (exit {res.returncode}): "
                          f"{res.stderr.strip()[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1]), res.stderr


_MODEL_DIFF = re.compile(r"tb: first difference: image (\d+), (.+?)\[(\d+)\]: "
                         r"hls (-?\d+), golden (-?\d+)")
_ENGINE_DIFF = re.compile(r"tb: first (\w+) difference at case (\d+), element (\d+): "
                          r"hls (-?\d+), golden (-?\d+)")
_ENGINE_CASE = re.compile(r"tb: first (\w+) mismatch at case (\d+)")


def model_difference(stderr: str, config: dict, pruned: bool) -> dict | None:
    """The testbench's first differing output (stage token count, stage kept ids, logits) of
    the first mismatching image, with both values (a kept id of -2 is no token: None) and
    the engines upstream of it; None when the testbench named none."""
    from sievit.rtl.cosim import upstream_engines
    m = _MODEL_DIFF.search(stderr)
    if m is None:
        return None
    image, output, element, got, want = m.groups()
    vals = [None if "kept" in output and int(v) == -2 else int(v) for v in (got, want)]
    stage = int(output.split()[1]) if output.startswith("stage ") else None
    blocks = config["reduction"]["blocks"] if pruned else []  # dense: no selector runs
    return {"image": int(image), "output": output, "element": int(element), "hls": vals[0],
            "golden": vals[1], "upstream_engines": upstream_engines(
                stage, blocks, config["model"]["depth"])}


def engine_differences(stderr: str) -> dict:
    """Per failing engine: its first mismatching case and, where the testbench compared one
    output vector, the first differing element with both values."""
    out: dict = {}
    for engine, case in _ENGINE_CASE.findall(stderr):
        out[engine] = {"case": int(case)}
    for engine, case, element, got, want in _ENGINE_DIFF.findall(stderr):
        out.setdefault(engine, {"case": int(case)}).update(
            element=int(element), hls=int(got), golden=int(want))
    return out


def run_model(prj: Path, images: int | None, modes: list[str], pool: fanout.Pool) -> dict:
    """The whole-model testbench on the first test images, per mode; chunks of images run on
    `pool` (in this process: one testbench per core at once)."""
    from sievit.data import first_images_for
    from sievit.hls.project import MODES, expected_vectors
    from sievit.quant.bundle import load_bundle
    bundle = load_bundle(prj / "bundle")
    exe, compile_s = compile_target(prj, "tb_model")
    imgs = first_images_for(bundle.config, images)
    fw = prj / "firmware" / "weights"
    out: dict = {"images": len(imgs), "mismatches": 0, "compile_s": round(compile_s, 1),
                 "modes": {}}
    cores = os.cpu_count() or 1
    parts = fanout.split(len(imgs), cores if pool.client is None else pool.workers)
    with tempfile.TemporaryDirectory(dir=prj / "build") as tmp:
        (Path(tmp) / "images.bin").write_bytes(imgs.astype(np.uint8).tobytes())
        for mode in modes:
            t0 = time.time()
            expected_vectors(bundle, imgs, mode).tofile(Path(tmp) / f"expected_{mode}.bin")
            golden_s = time.time() - t0
            t0 = time.time()
            cmds = [([str(exe), str(fw / "weights.bin"), str(fw / "biases.bin"),
                      str(Path(tmp) / "images.bin"), str(Path(tmp) / f"expected_{mode}.bin"),
                      str(MODES[mode]), str(a), str(b - a)],) for a, b in parts]
            results = pool.map(run_testbench, cmds, f"csim {mode}", [b - a for a, b in parts],
                               threads=cores)
            wall = time.time() - t0
            mism = sum(r["mismatches"] for r, _ in results)
            out["modes"][mode] = {
                "mismatches": mism,
                "logit_mismatches": sum(r["logit_mismatches"] for r, _ in results),
                "kept_mismatches": sum(r["kept_mismatches"] for r, _ in results),
                "csim_wall_s": round(wall, 1), "golden_s": round(golden_s, 1),
                "ms_per_image": round(1000 * wall * len(parts) / len(imgs), 2),
                "first_error": next((e.strip() for _, e in results if e.strip()), None)}
            out["modes"][mode]["first_difference"] = model_difference(
                out["modes"][mode]["first_error"] or "", bundle.config, mode != "none")
            out["mismatches"] += mism
    return out


def run_engines(prj: Path, cases_per_engine: int, seed: int) -> dict:
    from sievit.engine_cases import write_cases
    from sievit.quant.bundle import load_bundle
    exe, compile_s = compile_target(prj, "tb_engines")
    bundle = load_bundle(prj / "bundle")
    case_dir = prj / "tb_data" / "engines"
    t0 = time.time()
    from sievit.hls.project import project_layout
    write_cases(bundle, case_dir, cases_per_engine, seed, project_layout(prj, bundle))
    gen_s = time.time() - t0
    fw = prj / "firmware" / "weights"
    t0 = time.time()
    res, err = run_testbench([str(exe), str(fw / "weights.bin"), str(fw / "biases.bin"), str(case_dir)])
    res.update({"compile_s": round(compile_s, 1), "cases_gen_s": round(gen_s, 1),
                "csim_wall_s": round(time.time() - t0, 1)})
    if err.strip():
        res["first_error"] = err.strip()
        res["engine_differences"] = engine_differences(err)
    return res


def csim(prj: Path, images: int | None, engines: bool, modes: list[str],
         cases_per_engine: int = 1000, seed: int = 0, where: fanout.Where = fanout.Where()) -> dict:
    """C-simulate `prj`: the whole model on the first `images` test images per mode (chunks
    of images on `where`: this process, a local Dask cluster or a scheduler's workers, which
    must see `prj` at the same path), and with `engines` every engine alone."""
    check_project(prj)
    t0 = time.time()
    out: dict = {"project": str(prj), "images": 0, "mismatches": 0}
    if images != 0:
        with fanout.open_pool(where) as pool:
            out.update(run_model(prj.resolve(), images, modes, pool))
    if engines:
        res = run_engines(prj, cases_per_engine, seed)
        out["engines"] = res.pop("engines")
        out["engine_run"] = res
        out["mismatches"] += res["mismatches"]
    out["wall_s"] = round(time.time() - t0, 1)
    return out
