"""Checkpoint -> integer bundle. Integer weights come from Brevitas's own quantizers
(quant_weight().int(), bias_quant(...).int()), fractional bits from the learned power-of-two
scales, LayerNorm/embedding constants from the model's integer parameter quantizer."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import yaml

from sievit.checkpoint import read_state
from sievit.config import validate
from sievit.data import first_images_for, load_split, resize_to
from sievit.errors import SievitError
from sievit.model.layers import Act, Fx, LayerNorm, Linear, pot_param_frac, quant_param
from sievit.model.vit import ViT
from sievit.quant.bundle import Bundle


def load_checkpoint(ckpt: str | Path, quant: bool = True, which: str = "model.pt") -> ViT:
    """A trained model in eval mode, float64 (exact integer arithmetic on the CPU)."""
    from sievit.model.method_train import BACKBONE_FILE, backbone_only
    ckpt = Path(ckpt)
    cfg_path, w_path = ckpt / "config.yaml", ckpt / which
    ref = ckpt / BACKBONE_FILE
    if which == "model.pt" and not w_path.is_file() and ref.is_file():
        w_path = (ckpt / json.loads(ref.read_text())["backbone"]).resolve()  # training-free
    if not cfg_path.is_file() or not w_path.is_file():
        raise SievitError(f"{ckpt} is not a checkpoint (needs config.yaml and {which})")
    from sievit.config import load_config
    cfg = load_config(cfg_path)  # names a file that is not YAML
    model = ViT(cfg, quant=quant)
    try:
        state = read_state(w_path)
        if cfg["reduction"]["method"] != "heatvit":
            state = backbone_only(state)
        model.load_state_dict(state, strict=True)
    except SievitError:
        raise
    except Exception as exc:  # torch raises several types for mismatched state dicts
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SievitError(f"checkpoint {w_path} does not load into its config: {first}") from None
    model.eval()
    return model.double()


def _record_input_fracs(model: ViT, images: np.ndarray) -> dict[str, Fx]:
    inputs: dict[str, Fx] = {}
    hooks = []
    for name, mod in model.named_modules():
        if isinstance(mod, Linear):
            hooks.append(mod.register_forward_pre_hook(
                lambda m, args, name=name: inputs.setdefault(name, args[0])))
    with torch.no_grad():
        model(torch.from_numpy(np.array(images)), prune=model.cfg["reduction"]["mode"])
    for h in hooks:
        h.remove()
    return inputs


def bundle_from_model(model: ViT, sample_images: np.ndarray, meta: dict) -> Bundle:
    """Read every integer constant out of a quantized model in eval mode."""
    if not model.quant:
        raise SievitError("only a quantized model exports to an integer bundle")
    model.eval()
    inputs = _record_input_fracs(model, sample_images)
    arrays: dict[str, np.ndarray] = {}
    fracs: dict[str, int] = {}
    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, Linear):
                qw = mod.lin.quant_weight()
                arrays[f"{name}.weight"] = qw.int().numpy().astype(np.int8)
                qb = mod.lin.bias_quant(mod.lin.bias, inputs[name].qt, qw)
                arrays[f"{name}.bias"] = qb.int().numpy().astype(np.int32)
                fracs[f"{name}.weight_frac"] = mod.weight_frac()
            elif isinstance(mod, Act):
                fracs[name] = mod.frac()
            elif isinstance(mod, LayerNorm):
                g, b, fg = mod.int_params()
                arrays[f"{name}.gamma"] = g.numpy().astype(np.int8)
                arrays[f"{name}.beta"] = b.numpy().astype(np.int32)
                fracs[f"{name}.gamma_frac"] = fg
        for pname in ("cls", "pos"):
            p = getattr(model, pname)
            f = pot_param_frac(p)
            arrays[pname] = quant_param(p, f)[1].numpy().astype(np.int8)
            fracs[pname] = f
    return Bundle(model.cfg, fracs, arrays, meta)


def export_checkpoint(ckpt: str | Path, model: ViT | None = None) -> Bundle:
    """Bundle of a checkpoint; pass `model` when it is already loaded (load_checkpoint)."""
    if model is None:
        model = load_checkpoint(ckpt)
    sample = first_images_for(model.cfg, 8)  # at the model's input shape and data set
    return bundle_from_model(model, sample, {"source": "checkpoint", "checkpoint": str(ckpt)})


def _sample_images(cfg: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """Calibration inputs at the config's shape: Fashion-MNIST test images resized
    (nearest) and repeated over channels, so the statistics are those of real pictures."""
    return resize_to(cfg, load_split("test").images[rng.choice(10000, size=n, replace=False)])


def export_random(cfg: dict, seed: int, calib_images: int = 8, return_model: bool = False):
    """Seeded random weights (std 1/sqrt(fan_in), so signals neither vanish nor explode)
    with power-of-two activation scales calibrated on sample inputs."""
    from sievit.model.train import calibrate
    from sievit.quant.golden_reduce import PROPORTIONAL
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = ViT(cfg, quant=True)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, Linear):
                fan_in = mod.lin.weight.shape[1]
                mod.lin.weight.normal_(0.0, fan_in ** -0.5)
                mod.lin.bias.normal_(0.0, 0.02)
        model.pos.normal_(0.0, 0.5)
        model.cls.normal_(0.0, 0.5)
    images = _sample_images(cfg, calib_images, rng)
    # a reduction method's forward has modes none | reduce (HeatViT's: threshold | topk); the
    # proportional-attention methods calibrate dense: before the statistics settle, their
    # logits' frac is not yet a scale, so ln(size) at that frac overflows
    method = cfg["reduction"]["method"]
    prune = "threshold" if method == "heatvit" else "none" if method in PROPORTIONAL else "reduce"
    calibrate(model, images, n_images=16, prune=prune)
    model.eval()
    bundle = bundle_from_model(model, images[:2], {"source": "random", "seed": seed})
    return (bundle, model.double()) if return_model else bundle
