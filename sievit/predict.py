"""`sievit predict`: classify the user's own image files with a checkpoint (or bundle) on the
golden model, the HLS C-simulation or the RTL co-simulation: class, logits, kept tokens per
stage and a PNG overlay of the kept patches per image."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from sievit.errors import SievitError
from sievit.quant.bundle import Bundle

TARGETS = ("golden", "hls", "rtl")


def load_any(path: str | Path) -> Bundle:
    """The integer bundle of a checkpoint directory (config.yaml + model.pt) or a bundle
    directory (manifest.json + weights.npz)."""
    from sievit.quant.bundle import load_bundle
    from sievit.quant.export import export_checkpoint
    path = Path(path)
    if (path / "manifest.json").is_file():
        return load_bundle(path)
    if not path.is_dir():
        raise SievitError(f"--ckpt {path} does not exist")
    return export_checkpoint(path)


def _outputs(logits: np.ndarray, kept: list[list[np.ndarray]], counts: np.ndarray) -> list[dict]:
    """Per image: logits, kept original token ids (0 = CLS) and token count per stage."""
    return [{"logits": [int(v) for v in logits[i]],
             "kept_tokens": [[int(t) for t in kept[s][i]] for s in range(len(kept))],
             "tokens_per_stage": [int(c) for c in counts[i]]} for i in range(len(logits))]


def run_golden(bundle: Bundle, images: np.ndarray, mode: str) -> list[dict]:
    """The golden model's outputs per image."""
    from sievit.quant.golden import Golden
    r = Golden(bundle).run(images, mode)
    return _outputs(r.logits, r.kept, r.tokens_per_stage)


def _hls_project(bundle: Bundle, prj: Path) -> Path:
    """An HLS project of the bundle under prj, reused while it holds the same bundle."""
    from sievit.hls.project import export_hls
    from sievit.quant.bundle import load_bundle, save_bundle
    if (prj / "project.json").is_file():
        try:
            old = load_bundle(prj / "bundle")
            if old.config == bundle.config and old.fracs == bundle.fracs and \
                    old.arrays.keys() == bundle.arrays.keys() and \
                    all(np.array_equal(old.arrays[k], v) for k, v in bundle.arrays.items()):
                return prj
        except SievitError:
            pass
    with tempfile.TemporaryDirectory(prefix="sievit_predict_") as tmp:
        save_bundle(bundle, Path(tmp) / "bundle")
        export_hls(Path(tmp) / "bundle", prj, force=True)
    return prj


def run_hls(bundle: Bundle, images: np.ndarray, mode: str, work: Path) -> tuple[list[dict], list[bool]]:
    """g++ C-simulation of the generated sievit_top on the images (hls/csim.py's build and
    testbench). The testbench checks each image against the golden vectors bit for bit, so
    a passing image's HLS outputs are the golden ones; a failing image reports the HLS
    logits the testbench printed."""
    from sievit.hls.csim import compile_target, run_testbench
    from sievit.hls.project import MODES, expected_vectors
    prj = _hls_project(bundle, work / "hls")
    exe, _ = compile_target(prj, "tb_model")
    gold = run_golden(bundle, images, mode)
    fw = prj / "firmware" / "weights"
    ok = []
    with tempfile.TemporaryDirectory(dir=prj / "build") as tmp:
        img_f, exp_f = Path(tmp) / "images.bin", Path(tmp) / "expected.bin"
        img_f.write_bytes(images.astype(np.uint8).tobytes())
        expected_vectors(bundle, images, mode).tofile(exp_f)
        for i in range(len(images)):
            res, err = run_testbench([str(exe), str(fw / "weights.bin"), str(fw / "biases.bin"),
                                      str(img_f), str(exp_f), str(MODES[mode]), str(i), "1"])
            ok.append(res["mismatches"] == 0)
            if not ok[-1]:  # "tb: first mismatch at image I: hls/golden ..."
                line = next(ln for ln in err.splitlines() if "first mismatch at image" in ln)
                pairs = line.split(":", 2)[-1].split()
                gold[i] = {**gold[i], "logits": [int(p.split("/")[0]) for p in pairs],
                           "kept_tokens": None, "tokens_per_stage": None}
    return gold, ok


def run_rtl(bundle: Bundle, images: np.ndarray, mode: str, sim: str = "verilator",
            hw_name: str = "fmnist") -> tuple[list[dict], list[bool]]:
    """The whole-model RTL (rtl/cosim.py's harness): its own logits and kept ids."""
    from sievit.rtl.cosim import build, mismatches, parse_results, run_images
    from sievit.quant.golden import Golden
    from sievit.rtl.program import PRESETS, Program
    if hw_name not in PRESETS:
        raise SievitError(f"unknown --hw {hw_name!r}; choose from {', '.join(PRESETS)}")
    hw = PRESETS[hw_name]
    prog = Program(bundle, hw)
    runner = build(sim, hw)
    stages = len(bundle.config["reduction"]["blocks"]) if mode != "none" else 0
    with tempfile.TemporaryDirectory(prefix="sievit_predict_rtl_") as tmp:
        text, _ = run_images([runner], sim, prog, images, mode, watchdog_cycles=50_000_000,
                             stall_pct=0, latency=0, work=Path(tmp), progress=False)
    res = parse_results(text, len(images), stages, bundle.config["model"]["num_classes"])
    bad = mismatches(res, Golden(bundle).run(images, mode))
    kept = [[r["ids"][s][r["ids"][s] >= 0] for r in res] for s in range(stages)]
    counts = np.array([r["n_new"] for r in res]).reshape(len(res), stages)
    out = _outputs(np.stack([r["logits"] for r in res]), kept, counts)
    for o, r in zip(out, res):
        o["cycles"] = int(r["cycles"])
    return out, [not b for b in bad]


def overlay_png(image: np.ndarray, row: dict, cfg: dict, title: str, path: Path) -> None:
    """The model's input, then per stage the kept patches (pruned ones dimmed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    m = cfg["model"]
    p, g = m["patch_size"], m["image_size"] // m["patch_size"]
    stages = row["kept_tokens"] or []
    fig, axes = plt.subplots(1, len(stages) + 1, figsize=(2.2 * (len(stages) + 1), 2.6),
                             squeeze=False)
    grey = image.ndim == 2
    axes[0, 0].imshow(image, cmap="gray" if grey else None, vmin=0, vmax=255)
    axes[0, 0].set_title("input", fontsize=8)
    for s, kept in enumerate(stages):
        mask = np.zeros((g, g), dtype=bool)
        for tok in kept:
            if 0 < tok <= g * g:
                mask[(tok - 1) // g, (tok - 1) % g] = True
        big = np.kron(mask, np.ones((p, p), dtype=bool))
        if not grey:
            big = big[..., None]
        axes[0, s + 1].imshow(np.where(big, image, image // 5), cmap="gray" if grey else None,
                              vmin=0, vmax=255)
        axes[0, s + 1].set_title(f"stage {s + 1}: {row['tokens_per_stage'][s]} tokens", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def predict(ckpt: str | Path, files: list[str | Path], mode: str | None = None,
            on: str = "golden", out: str | Path | None = None, sim: str = "verilator",
            hw_name: str = "fmnist") -> dict:
    """Classify image files: per image the class, logits, kept tokens per stage and an
    overlay PNG under `out` (default: predict/ in the output directory, sievit.paths); with
    on='hls'/'rtl' the outputs of that implementation and
    whether they equal the golden model's ("mismatches" counts the images that differ)."""
    from sievit.config import require_heatvit
    from sievit.data import class_names, load_image
    if on not in TARGETS:
        raise SievitError(f"--on must be one of {', '.join(TARGETS)}, got {on!r}")
    if not files:
        raise SievitError("predict needs at least one image file")
    from sievit.paths import output_dir
    out = Path(out) if out is not None else output_dir() / "predict"
    if out.exists() and not out.is_dir():
        raise SievitError(f"--out {out} exists and is not a directory")
    bundle = load_any(ckpt)
    cfg = bundle.config
    method = cfg["reduction"]["method"]
    modes = ("none", "threshold", "topk") if method == "heatvit" else ("none", "reduce")
    mode = mode or cfg["reduction"]["mode"]
    if mode not in modes:
        raise SievitError(f"--mode {mode!r} does not apply to a {method} model: use one of "
                          f"{', '.join(modes)}")
    if on != "golden":
        require_heatvit(cfg, f"--on {on}: the {'HLS' if on == 'hls' else 'RTL'} engines")
    images = np.stack([load_image(f, cfg) for f in files])  # every file read before any output
    names = class_names(cfg)
    if on == "golden":
        rows, ok = run_golden(bundle, images, mode), None
    elif on == "hls":
        out.mkdir(parents=True, exist_ok=True)
        rows, ok = run_hls(bundle, images, mode, out)
    else:
        rows, ok = run_rtl(bundle, images, mode, sim, hw_name)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for i, (f, row) in enumerate(zip(files, rows)):
        cls = int(np.argmax(row["logits"]))
        label = names[cls] if cls < len(names) else str(cls)
        entry = {"file": str(f), "class": cls, "label": label, **row}
        if ok is not None:
            entry["matches_golden"] = bool(ok[i])
        if row["kept_tokens"] is not None:
            png = out / f"{i:03d}_{Path(f).stem}_overlay.png"
            overlay_png(images[i], row, cfg, f"{Path(f).name}: {label} ({on}, {mode})", png)
            entry["overlay"] = str(png)
        results.append(entry)
        print(f"[predict] {f}: {label} (class {cls})", file=sys.stderr)
    summary = {"on": on, "mode": mode, "images": len(results), "results": results}
    if ok is not None:
        summary["mismatches"] = int(sum(not x for x in ok))
    return summary
