"""The sievit Python API: the steps of the command line as functions.

    from sievit import api
    bundle = api.export("checkpoints/fmnist_heatvit_b40")          # integer bundle (in memory)
    images = api.dataset_images(bundle, 8)                      # uint8 [8, 28, 28]
    result = api.golden_run(bundle, images, mode="threshold")   # logits, kept tokens, MACs
    api.save(bundle, "out/api/bundle")
    api.hls_export("out/api/bundle", "out/api/hls")
    api.csim("out/api/hls", images=8)["mismatches"]             # 0: C++ == golden
    api.cosim("out/api/bundle", images=2)["mismatches"]         # 0: RTL == golden

Every function raises sievit.errors.SievitError with a message naming the problem (its
`code` is the exit status the command line would use)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sievit.quant.bundle import Bundle
from sievit.quant.golden import GoldenResult

__all__ = ["load_checkpoint", "load_bundle", "export", "save", "dataset_images", "load_images",
           "golden_run", "hls_export", "csim", "cosim", "predict"]


def load_checkpoint(ckpt: str | Path, quant: bool = True):
    """The trained ViT of a checkpoint directory (config.yaml + model.pt; float.pt with
    quant=False) in eval mode, float64; `model(images, prune=mode)` runs it."""
    from sievit.quant.export import load_checkpoint as _load
    return _load(ckpt, quant=quant, which="model.pt" if quant else "float.pt")


def load_bundle(path: str | Path) -> Bundle:
    """An integer bundle written by `sievit export` (or `save`)."""
    from sievit.quant.bundle import load_bundle as _load
    return _load(path)


def export(ckpt: str | Path | None = None, config: str | Path | dict | None = None,
           seed: int = 0) -> Bundle:
    """The integer bundle of a checkpoint, or of a config with seeded random weights
    (activation scales calibrated on sample images), like `sievit export`."""
    from sievit.config import load_config, validate
    from sievit.errors import SievitError
    from sievit.quant.export import export_checkpoint, export_random
    if (ckpt is None) == (config is None):
        raise SievitError("export needs exactly one of ckpt or config")
    if ckpt is not None:
        return export_checkpoint(ckpt)
    cfg = validate(config) if isinstance(config, dict) else load_config(config)
    return export_random(cfg, seed)


def save(bundle: Bundle, out: str | Path, force: bool = False) -> Path:
    """Write a bundle directory (manifest.json + weights.npz) atomically; returns its path."""
    from sievit.quant.bundle import save_bundle
    save_bundle(bundle, Path(out), force=force)
    return Path(out)


def dataset_images(bundle_or_cfg: Bundle | dict, n: int | None = None) -> np.ndarray:
    """The first n test images (all when None) of the model's data set at its input shape."""
    from sievit.data import first_images_for
    cfg = bundle_or_cfg.config if isinstance(bundle_or_cfg, Bundle) else bundle_or_cfg
    return first_images_for(cfg, n)


def load_images(bundle_or_cfg: Bundle | dict, files: list[str | Path]) -> np.ndarray:
    """Image files (PNG/JPEG/BMP) as the model's uint8 input, converted like its data set."""
    from sievit.data import load_image
    cfg = bundle_or_cfg.config if isinstance(bundle_or_cfg, Bundle) else bundle_or_cfg
    return np.stack([load_image(f, cfg) for f in files])


def golden_run(bundle: Bundle, images: np.ndarray, mode: str | None = None) -> GoldenResult:
    """The pure-integer golden model (the numeric contract, docs/numerics.md) on uint8
    images: `.logits` int [B, classes], `.kept[stage][image]` kept token ids (0 = CLS),
    `.tokens_per_stage`, `.macs`. mode: none (dense), threshold or topk; default the
    bundle's deployment mode."""
    from sievit.quant.golden import Golden
    return Golden(bundle).run(np.asarray(images), mode or bundle.config["reduction"]["mode"])


def hls_export(bundle_dir: str | Path, out: str | Path, lanes: int = 8,
               force: bool = False) -> dict:
    """Write a Vitis HLS project of a bundle directory (`sievit hls export`); a summary."""
    from sievit.hls.project import export_hls
    return export_hls(Path(bundle_dir), Path(out), lanes=lanes, force=force)


def csim(project: str | Path, images: int | None = 100, modes: list[str] | None = None,
         engines: bool = False, cases: int = 1000) -> dict:
    """g++ C-simulation of an HLS project against the golden model (`sievit hls csim`):
    "mismatches" counts image runs (and engine cases) that differ; modes default to dense
    and the bundle's deployment mode."""
    from sievit.hls.csim import check_project, csim as _csim
    prj = Path(project)
    check_project(prj)
    if modes is None:
        modes = ["none", load_bundle(prj / "bundle").config["reduction"]["mode"]]
    return _csim(prj, images, engines, modes, cases_per_engine=cases)


def cosim(bundle_dir: str | Path, images: int | np.ndarray = 4, modes: list[str] | None = None,
          sim: str = "verilator", jobs: int = 1) -> dict:
    """Whole-model RTL co-simulation (cocotb) against the golden model (`sievit rtl
    cosim`) on the first `images` test images, or on an array of uint8 images;
    "mismatches", "cycles_per_image" and per-mode details."""
    from sievit.rtl.cosim import cosim as _cosim
    if isinstance(images, np.ndarray):
        return _cosim(Path(bundle_dir), len(images), sim=sim, modes=modes, images=images, jobs=jobs)
    return _cosim(Path(bundle_dir), images, sim=sim, modes=modes, jobs=jobs)


def predict(ckpt: str | Path, files: list[str | Path], mode: str | None = None,
            on: str = "golden", out: str | Path | None = None) -> dict:
    """`sievit predict`: class, logits, kept tokens and an overlay PNG per image file, on
    the golden model, the HLS C-simulation or the RTL (on = golden | hls | rtl)."""
    from sievit.predict import predict as _predict
    return _predict(ckpt, files, mode=mode, on=on, out=out)
