"""Shapes nobody tried: random small ViT configs (1-4 heads, widths that are multiples of 8
but not powers of two, odd token counts, depth 1-6, selectors before any block, top-k
budgets from 0 patches to all but one) with seeded random weights, checked bit for bit:
golden == Brevitas integer eval path, golden == HLS C-simulation, golden == RTL co-simulation
(for shapes the `fmnist` RTL preset holds). A shape the hardware cannot hold must be refused
with a SievitError naming the limit. `sievit bench fuzz` runs a larger draw than the tests."""
from __future__ import annotations

import copy
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sievit.errors import SievitError

DrawInt = Callable[[int, int], int]    # draw(lo, hi): an integer in lo..hi, both included
MODES = ("none", "threshold", "topk")
# a refusal by the HLS layout or the RTL parameters names the limit it hit
LIMIT_RE = re.compile(r"MAC lanes|max_n|max_d|max_h|max_in|max_pix|max_classes|MAXH|8-byte beats")
BASE_CFG = {
    "name": "fuzz",
    "model": {"image_size": 28, "in_chans": 1, "patch_size": 4, "dim": 48, "depth": 2,
              "heads": 3, "mlp_dim": 96, "num_classes": 10},
    "reduction": {"method": "heatvit", "blocks": [1], "mac_budget": 0.5, "mode": "threshold",
                  "topk_tokens": [10]},
}


def is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def draw_config(draw: DrawInt, hw_friendly: bool = False, rtl_friendly: bool = False,
                min_depth: int = 1, max_depth: int = 6) -> dict:
    """A raw (unvalidated) config. hw_friendly: every linear input width a multiple of the
    8 MAC lanes (head width a multiple of 16); rtl_friendly: also inside the `fmnist` RTL
    preset (<= 64 tokens, width <= 128, MLP <= 256, <= 4 heads)."""
    hw_friendly = hw_friendly or rtl_friendly
    heads = draw(1, 3 if rtl_friendly else 4)  # 4 x 48 = 192 > the preset's width 128
    if hw_friendly:
        choices = [dh for dh in (16, 32, 48) if not is_pow2(heads * dh)
                   and (not rtl_friendly or heads * dh <= 128)]
        dh = choices[draw(0, len(choices) - 1)]
    else:  # head width even (the selector halves it); the width a multiple of 8
        choices = [dh for dh in range(2, 50, 2) if (heads * dh) % 8 == 0 and not is_pow2(heads * dh)]
        dh = choices[draw(0, len(choices) - 1)]
    dim = heads * dh
    mlps = [w for w in range(24, 257, 8) if not is_pow2(w) and (not rtl_friendly or w <= 256)]
    mlp = mlps[draw(0, len(mlps) - 1)]
    patch, chans = [(4, 1), (4, 2), (2, 2), (4, 3)][draw(0, 0 if rtl_friendly else 3)]
    grid = draw(3, 7)   # 9..49 patches: 10..50 tokens, 12x12 .. 28x28 images at patch 4
    depth = draw(min_depth, max_depth)
    blocks = [b for b in range(1, depth) if draw(0, 1)]
    if depth > 1 and not blocks:
        blocks = [draw(1, depth - 1)]
    n_tok = grid * grid + 1
    topk, prev = [], n_tok
    for _ in blocks:  # tokens after each stage: CLS + k patches + package, k = 0 .. prev - 2
        prev = draw(2, prev)
        topk.append(prev)
    cfg = copy.deepcopy(BASE_CFG)
    cfg["model"].update(image_size=grid * patch, in_chans=chans, patch_size=patch, dim=dim,
                        depth=depth, heads=heads, mlp_dim=mlp)
    cfg["reduction"].update(blocks=blocks, topk_tokens=topk,
                            mode=("threshold", "topk")[draw(0, 1)])
    return cfg


def describe(cfg: dict) -> str:
    m, r = cfg["model"], cfg["reduction"]
    return (f"{m['image_size']}x{m['image_size']}x{m['in_chans']}/p{m['patch_size']} dim {m['dim']} "
            f"heads {m['heads']} mlp {m['mlp_dim']} depth {m['depth']} selectors {r['blocks']} "
            f"top-k {r['topk_tokens']}")


def test_images(cfg: dict, n_real: int, seed: int) -> np.ndarray:
    """n_real resized Fashion-MNIST test images, one of uniform noise, one all-white."""
    from sievit.data import first_images_for
    real = first_images_for(cfg, n_real)
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=(1, *real.shape[1:]), dtype=np.uint8)
    white = np.full((1, *real.shape[1:]), 255, dtype=np.uint8)
    return np.concatenate([real, noise, white])


def check_model(bundle, model, images: np.ndarray) -> dict:
    """Golden == Brevitas integer eval path: mismatching images per mode."""
    from sievit.quant.evaluate import compare, model_int_outputs
    from sievit.quant.golden import Golden
    golden = Golden(bundle)
    out = {}
    for mode in MODES:
        logits, kept = model_int_outputs(model, images, mode)
        out[mode] = int(compare(logits, kept, golden.run(images, mode)).sum())
    return out


def check_hls(bundle_dir: Path, work: Path, n_images: int) -> dict:
    """Golden == g++ C-simulation of the generated project (a refusal raises SievitError)."""
    from sievit.hls.csim import csim
    from sievit.hls.project import export_hls
    export_hls(bundle_dir, work / "prj", tb_images=1)
    res = csim(work / "prj", n_images, False, list(MODES))
    return {m: r["mismatches"] for m, r in res["modes"].items()}


def check_rtl(bundle_dir: Path, n_images: int) -> dict:
    """Golden == cocotb/Verilator co-simulation of sievit_top (preset fmnist)."""
    from sievit.rtl.cosim import cosim
    res = cosim(bundle_dir, n_images, modes=list(MODES), hw_name="fmnist", jobs=1)
    return {m: r["mismatches"] for m, r in res["modes"].items()}


def run_shape(cfg: dict, seed: int, work: Path, n_real: int = 2, hls: bool = True,
              rtl: bool = False) -> dict:
    """Every check for one config. Returns {shape, model, hls, rtl, refused}: per check
    the mismatches per mode, or None when not run; `refused` holds (stage, message) of a
    SievitError that refused the shape (a config error, or a hardware limit)."""
    from sievit.config import validate
    from sievit.quant.bundle import load_bundle, save_bundle
    from sievit.quant.export import export_random
    out: dict = {"shape": describe(cfg), "model": None, "hls": None, "rtl": None, "refused": []}
    try:
        cfg = validate(cfg)
    except SievitError as exc:
        out["refused"].append(("config", str(exc)))
        return out
    bundle, model = export_random(cfg, seed, calib_images=4, return_model=True)
    images = test_images(cfg, n_real, seed)
    out["model"] = check_model(bundle, model, images)
    save_bundle(bundle, work / "bundle")
    bundle_dir = work / "bundle"
    load_bundle(bundle_dir)  # the saved bundle reads back
    for name, run, wanted in (("hls", lambda: check_hls(bundle_dir, work, n_real), hls),
                              ("rtl", lambda: check_rtl(bundle_dir, n_real), rtl)):
        if not wanted:
            continue
        try:
            out[name] = run()
        except SievitError as exc:
            if not LIMIT_RE.search(str(exc)):
                raise
            out["refused"].append((name, str(exc)))
    return out


def mismatches(res: dict) -> int:
    return sum(sum(v.values()) for k in ("model", "hls", "rtl") if (v := res.get(k)))


def fuzz(draws: int, seed: int, rtl: int = 0, images: int = 2) -> dict:
    """`sievit bench fuzz`: `draws` random shapes (numpy seed `seed`), each checked against
    the Brevitas model and the HLS C-simulation; the first `rtl` shapes drawn inside the
    fmnist RTL preset also run on the RTL. Failures that are not a clear refusal are
    reported in checks_failed (exit 1)."""
    rng = np.random.default_rng(seed)

    def draw(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi + 1))

    t0 = time.time()
    results, failed = [], []
    rtl_left = rtl
    for i in range(draws):
        # a third free shapes (many refused by the lanes), a third sized for the HLS lanes,
        # a third inside the RTL preset (co-simulated while `rtl` wants more)
        kind = ("free", "hls", "rtl")[i % 3]
        friendly = kind == "rtl" and rtl_left > 0
        cfg = draw_config(draw, hw_friendly=kind != "free", rtl_friendly=kind == "rtl")
        with tempfile.TemporaryDirectory(prefix="sievit_fuzz_") as tmp:
            try:
                res = run_shape(cfg, seed + i, Path(tmp), n_real=images,
                                rtl=friendly and cfg["model"]["depth"] > 1)
            except Exception as exc:  # a crash on a shape is a finding, not a refusal
                res = {"shape": describe(cfg), "error": f"{type(exc).__name__}: {exc}"[:500]}
                failed.append(f"draw {i} ({res['shape']}): {res['error']}")
        if res.get("rtl") is not None:
            rtl_left -= 1
        if mismatches(res):
            failed.append(f"draw {i} ({res['shape']}): mismatches {res}")
        results.append(res)
        print(f"[fuzz] {i + 1}/{draws} {res['shape']}: model {res.get('model')} hls "
              f"{res.get('hls')} rtl {res.get('rtl')} refused {[s for s, _ in res.get('refused', [])]}",
              file=sys.stderr)
    count = {k: sum(1 for r in results if r.get(k) is not None) for k in ("model", "hls", "rtl")}
    return {"draws": draws, "seed": seed, "images_per_shape": images + 2,
            "mismatches": sum(mismatches(r) for r in results),
            "shapes_checked": count,
            "refused": sum(1 for r in results if r.get("refused")),
            "refusals": sorted({f"{s}: {m.splitlines()[0][:160]}" for r in results
                                for s, m in r.get("refused", [])}),
            "checks_failed": failed, "results": results, "wall_s": round(time.time() - t0, 1)}
