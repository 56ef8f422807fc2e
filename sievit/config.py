"""Config files (configs/*.yaml): load, validate, resolve keep ratios from a MAC budget."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from sievit.errors import SievitError

SCHEMA: dict[str, dict[str, type | tuple]] = {
    "model": {"image_size": int, "in_chans": int, "patch_size": int, "dim": int, "depth": int,
              "heads": int, "mlp_dim": int, "num_classes": int},
    "reduction": {"method": str, "blocks": list},
    "train": {"seed": int, "batch_size": int, "lr": float, "weight_decay": float,
              "float_epochs": int, "qat_epochs": int, "selector_epochs": int,
              "qat_lr": float, "selector_lr_scale": float, "ratio_loss_weight": float, "dense_loss_weight": float, "label_smoothing": float,
              "calib_images": int},
}
OPTIONAL_SECTIONS = {"train"}
# keys a config may leave out (older resolved configs lack them): name -> (type, default)
OPTIONAL_KEYS: dict[str, dict[str, tuple[type, Any]]] = {
    "train": {"distill_weight": (float, 0.0), "distill_temperature": (float, 1.0),
              "finetune_prune": (str, "gumbel"), "joint_epochs": (int, 1),
              "stop_after_steps": (int, 0),  # > 0: a stage ends there, lr schedule unchanged
              "teacher": (str, ""),  # resume runs: a frozen dense checkpoint to distill from
              # each batch's gradient as the sum over this many contiguous shards (at least
              # the torchrun world size): a one-process run equal to a data-parallel one
              "grad_shards": (int, 1)},
}
# the optional data section (absent: Fashion-MNIST); folder = torchvision ImageFolder layout
DATA_DEFAULTS: dict[str, Any] = {"dataset": "fmnist", "train": "", "val": "", "test": "",
                                 "val_fraction": 0.1, "classes": []}
DATASETS = ("fmnist", "folder")
MODES = ("threshold", "topk")
# reduction keys computed by validate(), never read from a file
DERIVED = ("keep_ratios", "keep_tokens", "channel_keep", "channel_counts")
# per method: its own reduction keys (name -> type); every method also has method, blocks, mode
METHOD_KEYS: dict[str, dict[str, type]] = {
    "heatvit": {"mac_budget": float, "topk_tokens": list},
    "evit": {"keep_rate": float},
    "tome": {"r": int},
    "ppt": {"r": int, "tau": float},
    "cpvit": {"keep": float, "head_block": int, "heads_pruned": int},
    "cait": {"windows": list, "merge_r": list, "gate_blocks": list, "gate_hidden": int,
             "mac_target": float},
    "prance": {"mlp_widths": list, "embed_widths": list, "token_keeps": list,
               "token_action": str, "actor_hidden": int, "cost_weight": float},
}
# optional per-method keys: name -> (type, default)
METHOD_OPTIONAL: dict[str, dict[str, tuple[type, Any]]] = {
    "cpvit": {"layer_range": (list, [])},
}


def _check_section(name: str, section: Any, keys: dict[str, type | tuple],
                   optional: dict[str, tuple[type, Any]] | None = None,
                   extra: set[str] | None = frozenset(), where: str = "") -> None:
    """Keys present, typed (ints widen to floats), nothing foreign. `optional` keys get
    their defaults; `extra` names keys checked elsewhere (None: any key may be present)."""
    if not isinstance(section, dict):
        raise SievitError(f"config section '{name}' must be a mapping")
    optional = OPTIONAL_KEYS.get(name, {}) if optional is None else optional
    for key, (typ, default) in optional.items():
        section.setdefault(key, copy.deepcopy(default))
    keys = {**keys, **{k: typ for k, (typ, _) in optional.items()}}
    unknown = sorted(set(section) - set(keys) - (extra or set()))
    if unknown and extra is not None:
        raise SievitError(f"unknown config key(s) in '{name}'{where}: {', '.join(unknown)}")
    missing = sorted(set(keys) - set(section))
    if missing:
        raise SievitError(f"missing config key(s) in '{name}'{where}: {', '.join(missing)}")
    for key, typ in keys.items():
        val = section[key]
        if typ is float and isinstance(val, int) and not isinstance(val, bool):
            section[key] = float(val)
        elif not isinstance(val, typ) or isinstance(val, bool):
            raise SievitError(f"config key '{name}.{key}' must be {typ.__name__}, got {val!r}")


def validate(cfg: dict) -> dict:
    """Check keys, types and shapes; returns a deep copy with the derived keep ratios."""
    if not isinstance(cfg, dict):
        raise SievitError("config must be a mapping")
    cfg = copy.deepcopy(cfg)
    if isinstance(cfg.get("reduction"), dict):
        for derived in DERIVED:  # derived below, never read from a file
            cfg["reduction"].pop(derived, None)
    allowed = {"name", "data", *SCHEMA}
    unknown = sorted(set(cfg) - allowed)
    if unknown:
        raise SievitError(f"unknown config section(s): {', '.join(unknown)}")
    if not isinstance(cfg.get("name"), str):
        raise SievitError("missing config key 'name' (a string)")
    for sec, keys in SCHEMA.items():
        if sec not in cfg:
            if sec in OPTIONAL_SECTIONS:
                continue
            raise SievitError(f"missing config section '{sec}'")
        # the reduction section's method keys are checked once the method is known
        _check_section(sec, cfg[sec], keys, extra=None if sec == "reduction" else frozenset())
    if "data" in cfg:
        _check_data(cfg["data"])
    m, r = cfg["model"], cfg["reduction"]
    for key in ("image_size", "in_chans", "patch_size", "dim", "depth", "heads", "mlp_dim",
                "num_classes"):
        if m[key] <= 0:
            raise SievitError(f"model.{key} must be positive, got {m[key]}")
    if m["image_size"] % m["patch_size"]:
        raise SievitError(f"model.patch_size {m['patch_size']} does not divide "
                          f"model.image_size {m['image_size']}")
    if m["dim"] % m["heads"]:
        raise SievitError(f"model.heads {m['heads']} does not divide model.dim {m['dim']}")
    if (m["dim"] // m["heads"]) % 2:
        raise SievitError(f"head width {m['dim'] // m['heads']} must be even (selector uses d_h/2)")
    method = r["method"]
    if method not in METHOD_KEYS:
        raise SievitError(f"reduction.method {method!r} is not implemented "
                          f"(one of {', '.join(METHOD_KEYS)})")
    blocks = r["blocks"]
    if not blocks or any(not isinstance(b, int) for b in blocks) or sorted(set(blocks)) != blocks:
        raise SievitError(f"reduction.blocks must be increasing block indices, got {blocks}")
    lowest = 1 if method == "heatvit" else 0
    if blocks[0] < lowest or blocks[-1] >= m["depth"]:
        raise SievitError(f"reduction.blocks must lie in {lowest}..{m['depth'] - 1}, got {blocks}")
    _check_method_keys(r, method)
    if "train" in cfg and cfg["train"]["grad_shards"] < 1:
        raise SievitError(f"train.grad_shards must be >= 1, got {cfg['train']['grad_shards']}")
    if "train" in cfg and cfg["train"]["finetune_prune"] not in ("gumbel", "topk"):
        raise SievitError("train.finetune_prune must be gumbel or topk, got "
                          f"{cfg['train']['finetune_prune']!r}")
    if method != "heatvit":
        from sievit.quant.budgets import resolve
        resolve(cfg)
        return cfg
    if len(r["topk_tokens"]) != len(blocks):
        raise SievitError("reduction.topk_tokens needs one token count per selector")
    n_tokens = num_patches(cfg) + 1
    prev = n_tokens
    for t in r["topk_tokens"]:
        if not isinstance(t, int) or t < 2 or t > prev:
            raise SievitError(f"reduction.topk_tokens must decrease from {n_tokens} and stay "
                              f">= 2 (CLS + package), got {r['topk_tokens']}")
        prev = t
    if not 0.0 < r["mac_budget"] <= 1.0:
        raise SievitError(f"reduction.mac_budget must be in (0, 1], got {r['mac_budget']}")
    from sievit.quant.macs import keep_ratios_for_budget
    r["keep_ratios"] = keep_ratios_for_budget(cfg)
    return cfg


def _check_data(d: Any) -> None:
    """data: dataset fmnist | folder; a folder data set names its train and test folders
    (root/<class>/*.png), optionally a val folder (else val_fraction of train)."""
    opt = {k: (type(v), v) for k, v in DATA_DEFAULTS.items()}
    _check_section("data", d, {}, optional=opt)
    if d["dataset"] not in DATASETS:
        raise SievitError(f"data.dataset must be one of {', '.join(DATASETS)}, got {d['dataset']!r}")
    if d["dataset"] == "folder":
        for key in ("train", "test"):
            if not d[key]:
                raise SievitError(f"data.dataset folder needs data.{key} (an image folder: "
                                  f"<{key}>/<class name>/*.png)")
    if not 0.0 < d["val_fraction"] < 1.0:
        raise SievitError(f"data.val_fraction must be in (0, 1), got {d['val_fraction']}")
    if not all(isinstance(c, str) for c in d["classes"]):
        raise SievitError("data.classes must be a list of class names")


def _check_method_keys(r: dict, method: str) -> None:
    """The method's own keys: present, typed, nothing foreign. `mode` is threshold|topk for
    HeatViT and `reduce` (the method's one inference rule) for the others."""
    r.setdefault("mode", "threshold" if method == "heatvit" else "reduce")
    modes = MODES if method == "heatvit" else ("reduce",)
    if r["mode"] not in modes:
        raise SievitError(f"reduction.mode must be one of {modes} for {method}, got {r['mode']!r}")
    common = {"method", "blocks", "mode", "pareto", *DERIVED}
    _check_section("reduction", r, METHOD_KEYS[method], METHOD_OPTIONAL.get(method, {}),
                   extra=common, where=f" for {method}")
    if "pareto" in r and (not isinstance(r["pareto"], list) or not r["pareto"]):
        raise SievitError("reduction.pareto must be a non-empty list of budgets")


def num_patches(cfg: dict) -> int:
    m = cfg["model"]
    return (m["image_size"] // m["patch_size"]) ** 2


def load_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise SievitError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SievitError(f"config file {path} is not valid YAML: {exc}") from None
    return validate(raw)


# the reduction methods each hardware form implements (docs/methods.md, "On the hardware")
HARDWARE_METHODS = {"hls": ("heatvit", "evit", "tome", "ppt", "cpvit", "cait", "prance"), "rtl": ("heatvit", "evit", "cpvit", "tome", "ppt")}
METHOD_CODES = {"heatvit": 0, "evit": 1, "tome": 2, "ppt": 3, "cpvit": 4, "cait": 5,
                "prance": 6}  # reduce.h Method


def require_hardware(cfg: dict, form: str) -> None:
    """The bundle's method runs on this hardware form (hls | rtl), else SievitError (exit 2)."""
    method = cfg["reduction"]["method"]
    if method in HARDWARE_METHODS[form]:
        return
    if form == "rtl":
        raise SievitError(f"the RTL engines implement {', '.join(HARDWARE_METHODS['rtl'])}; "
                          f"reduction.method {method!r} runs in the golden model and HLS "
                          "(docs/methods.md, hardware mapping)")
    raise SievitError(f"the HLS engines implement {', '.join(HARDWARE_METHODS['hls'])}; "
                      f"reduction.method {method!r} runs in the golden model only (docs/methods.md, "
                      "hardware mapping)")


def require_heatvit(cfg: dict, what: str) -> None:
    """The HLS and RTL engines implement the HeatViT selector only (docs/methods.md)."""
    method = cfg["reduction"]["method"]
    if method != "heatvit":
        raise SievitError(f"{what} implement the HeatViT selector only; reduction.method "
                          f"{method!r} runs in the golden model (docs/methods.md, hardware mapping)")
