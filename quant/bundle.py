"""The integer model bundle: manifest.json (schema version, config, fractional bits, array
index) + weights.npz (int8 weights, int32 biases, LayerNorm and embedding constants)."""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sievit.atomic import atomic_dir
from sievit.config import validate
from sievit.errors import SievitError

SCHEMA_VERSION = 1
FORMAT = "sievit-int-bundle"


@dataclass
class Bundle:
    config: dict
    fracs: dict[str, int]
    arrays: dict[str, np.ndarray]
    meta: dict

    def w(self, name: str) -> np.ndarray:
        try:
            return self.arrays[name]
        except KeyError:
            raise SievitError(f"bundle has no array {name!r}") from None

    def f(self, name: str) -> int:
        try:
            return self.fracs[name]
        except KeyError:
            raise SievitError(f"bundle has no fractional-bit entry {name!r}") from None


def save_bundle(bundle: Bundle, out_dir: Path, force: bool = False) -> None:
    """Write atomically: a temporary sibling directory renamed into place."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not force:
        raise SievitError(f"output directory {out_dir} exists (use a new path)")
    with atomic_dir(out_dir, replace=force) as tmp:
        np.savez_compressed(tmp / "weights.npz", **bundle.arrays)
        manifest = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "config": bundle.config,
            "fracs": bundle.fracs,
            "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype)}
                       for k, v in sorted(bundle.arrays.items())},
            "meta": bundle.meta,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))


def load_bundle(path: str | Path) -> Bundle:
    """Load and check a bundle: schema version, array index, shapes against the config."""
    path = Path(path)
    man_path, w_path = path / "manifest.json", path / "weights.npz"
    if not man_path.is_file() or not w_path.is_file():
        raise SievitError(f"{path} is not a bundle (needs manifest.json and weights.npz)")
    try:
        manifest = json.loads(man_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SievitError(f"{man_path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SievitError(f"{man_path} is not a sievit bundle manifest")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SievitError(f"bundle schema version {version} is not supported "
                          f"(this sievit reads version {SCHEMA_VERSION}); re-export it")
    try:
        with np.load(w_path) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise SievitError(f"{w_path} is not a NumPy .npz archive (truncated or another kind "
                          f"of file): {exc}") from None
    index = manifest.get("arrays", {})
    fracs = manifest.get("fracs")
    if not isinstance(index, dict) or not isinstance(fracs, dict) or "config" not in manifest:
        raise SievitError(f"{man_path} lacks its config, fracs or arrays index (a damaged manifest)")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in fracs.values()):
        raise SievitError(f"{man_path}: fractional-bit counts must be integers")
    if set(index) != set(arrays):
        raise SievitError(f"{path}: weights.npz and manifest disagree on the array names")
    for name, spec in index.items():
        if not isinstance(spec, dict) or not {"shape", "dtype"} <= set(spec):
            raise SievitError(f"{man_path}: array {name} has no shape/dtype entry")
        if list(arrays[name].shape) != spec["shape"] or str(arrays[name].dtype) != spec["dtype"]:
            raise SievitError(f"{path}: array {name} has shape {list(arrays[name].shape)} "
                              f"{arrays[name].dtype}, manifest says {spec['shape']} {spec['dtype']}")
    config = validate(manifest["config"])
    bundle = Bundle(config, {k: int(v) for k, v in fracs.items()}, arrays,
                    manifest.get("meta", {}))
    check_shapes(bundle)
    return bundle


def expected_shapes(cfg: dict) -> dict[str, tuple[int, ...]]:
    m = cfg["model"]
    d, mlp, h = m["dim"], m["mlp_dim"], m["heads"]
    dh = d // h
    hid = dh // 2
    n_patch = (m["image_size"] // m["patch_size"]) ** 2
    pdim = m["patch_size"] ** 2 * m["in_chans"]
    shapes: dict[str, tuple[int, ...]] = {
        "patch_embed.weight": (d, pdim), "patch_embed.bias": (d,),
        "cls": (1, 1, d), "pos": (1, n_patch + 1, d),
        "ln_f.gamma": (d,), "ln_f.beta": (d,),
        "head.weight": (m["num_classes"], d), "head.bias": (m["num_classes"],),
    }
    for i in range(m["depth"]):
        p = f"blocks.{i}."
        shapes.update({p + "ln1.gamma": (d,), p + "ln1.beta": (d,), p + "ln2.gamma": (d,),
                       p + "ln2.beta": (d,), p + "qkv.weight": (3 * d, d), p + "qkv.bias": (3 * d,),
                       p + "proj.weight": (d, d), p + "proj.bias": (d,),
                       p + "fc1.weight": (mlp, d), p + "fc1.bias": (mlp,),
                       p + "fc2.weight": (d, mlp), p + "fc2.bias": (d,)})
    stages = len(cfg["reduction"]["blocks"]) if cfg["reduction"]["method"] == "heatvit" else 0
    for s in range(stages):
        p = f"selectors.{s}.score."
        shapes.update({p + "ln.gamma": (d,), p + "ln.beta": (d,),
                       p + "head_w.weight": (h, hid * h), p + "head_w.bias": (h,)})
        for k in range(h):
            shapes.update({f"{p}local.{k}.weight": (hid, dh), f"{p}local.{k}.bias": (hid,),
                           f"{p}mlp1.{k}.weight": (hid, dh), f"{p}mlp1.{k}.bias": (hid,),
                           f"{p}mlp2.{k}.weight": (2, hid), f"{p}mlp2.{k}.bias": (2,)})
    return shapes


def check_shapes(bundle: Bundle) -> None:
    want = expected_shapes(bundle.config)
    missing = sorted(set(want) - set(bundle.arrays))
    if missing:
        raise SievitError(f"bundle lacks arrays for its config: {', '.join(missing[:5])}")
    for name, shape in want.items():
        if tuple(bundle.arrays[name].shape) != shape:
            raise SievitError(f"bundle array {name} has shape {bundle.arrays[name].shape}, "
                              f"the config needs {shape}")
