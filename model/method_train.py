"""Checkpoints of the reduction methods, built on a trained dense backbone. ToMe and PPT are
training-free (the checkpoint points at the backbone); CP-ViT calibrates each pruning
layer's attention range on training images (its layer-aware ratios); EViT finetunes the
quantized backbone with the keep rate annealed from 1 to its target (cosine); CAIT trains
its channel gates with the backbone under its MAC targets (model/cait_train.py); PRANCE
pretrains the meta-network, trains its actors with PPO, then finetunes jointly
(model/prance_train.py)."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from sievit.atomic import atomic_dir
from sievit.data import load_split
from sievit.errors import SievitError

BACKBONE_FILE = "backbone.json"
TRAINED = ("evit", "cait", "prance")   # methods whose checkpoint holds trained weights


def backbone_only(state: dict) -> dict:
    """A model state without its HeatViT selectors' weights: the dense backbone."""
    return {k: v for k, v in state.items() if not k.startswith("selectors.")}


def backbone_state(init: Path) -> dict:
    """The dense backbone of a checkpoint's model.pt."""
    path = init / "model.pt" if init.is_dir() else init
    if not path.is_file():
        raise SievitError(f"--init {init} has no model.pt")
    from sievit.checkpoint import read_state
    return backbone_only(read_state(path))


def attention_range(cfg: dict, state: dict, images: np.ndarray) -> list[float]:
    """CP-ViT's layer-aware range: per pruning block, the mean grid distance (in patches)
    between a query patch and the key patch it attends most, over heads and images
    (dense integer model)."""
    from sievit.model.vit import ViT
    from sievit.quant.export import bundle_from_model
    from sievit.quant.golden import Golden
    model = ViT({**cfg, "reduction": {**cfg["reduction"]}}, quant=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    model = model.double()
    g = Golden(bundle_from_model(model, images[:8], {}))
    grid = g.grid
    rows, cols = np.divmod(np.arange(grid * grid), grid)
    blocks = cfg["reduction"]["blocks"]
    dists: dict[int, list[float]] = {i: [] for i in blocks}
    for k in range(0, len(images), 250):
        trace = g.run(images[k:k + 250], "none", trace=True).trace
        for i in blocks:
            best = trace[f"blocks.{i}.attn_probs"][:, :, 1:, 1:].argmax(axis=-1)  # [B, H, P]
            dists[i].append(np.hypot(rows[best] - rows[None, None], cols[best] - cols[None, None]).mean())
    out = [round(float(np.mean(dists[i])), 4) for i in blocks]
    return out


def require_train(cfg: dict) -> dict:
    if "train" not in cfg:
        raise SievitError(f"config '{cfg['name']}' has no 'train' section "
                          f"({cfg['reduction']['method']} trains)")
    return cfg["train"]


def method_model(cfg: dict, state: dict, device: torch.device, calib: int):
    """The quantized ViT of a method on the dense backbone; its new units (CAIT gates,
    PRANCE actors) get their activation scales calibrated on the CPU first."""
    from sievit.model.train import calibrate
    from sievit.model.vit import ViT
    model = ViT(cfg, quant=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    new = [k for k in missing if not k.startswith(("gates.", "actors."))]
    if new or unexpected:
        raise SievitError(f"backbone does not fit the config: missing {new[:3]}, unexpected {unexpected[:3]}")
    if missing:
        control = {"mode": "random"} if cfg["reduction"]["method"] == "prance" else None
        calibrate(model, load_split("train").images, calib, prune="reduce", control=control)
    return model.to(device)


def setup(cfg: dict, state: dict, device_name: str, max_steps: int | None):
    """(train section, device, model) of a method's training run, seeded."""
    from sievit.model.train import init_distributed, seed_everything
    t = require_train(cfg)
    seed_everything(t["seed"])
    device = torch.device(init_distributed(device_name))
    calib = t["calib_images"] if max_steps is None else 32     # smoke runs: 32
    return t, device, method_model(cfg, state, device, calib)


def frozen_teacher(model: torch.nn.Module) -> torch.nn.Module:
    """A frozen copy of the model as it starts training: its dense path is the distillation
    teacher (a teacher that trains along with the student drifts with it)."""
    import copy
    return copy.deepcopy(model).eval().requires_grad_(False)


def cosine_lr(opt: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Cosine decay from the optimizer's learning rates to 0 over `total` steps."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / max(1, total))))


def distilled_loss(model_logits: torch.Tensor, y: torch.Tensor, teacher: torch.nn.Module,
                   x: torch.Tensor, t: dict) -> torch.Tensor:
    """Cross-entropy plus KL to the frozen teacher's dense logits on the same images."""
    import torch.nn.functional as F
    from sievit.model.train import distill_loss
    with torch.no_grad():
        soft = teacher(x, prune="none").logits
    return F.cross_entropy(model_logits, y, label_smoothing=t["label_smoothing"]) \
        + t["distill_weight"] * distill_loss(model_logits, soft, t["distill_temperature"])


def sharded_step(opt: torch.optim.Optimizer, sched, shard_loss, n: int, params: list, t: dict,
                 step_key: int, device) -> torch.Tensor:
    """One optimizer step on a batch of n images: the gradient of shard_loss over the batch's
    shards (`sievit.model.train.shard_backward`: data-parallel under torchrun, bit for bit the
    one-process run with the same train.grad_shards), the norm clipped at 5, then the
    optimizer and the schedule step. Returns this process's loss."""
    from sievit.model.train import shard_backward
    opt.zero_grad(set_to_none=True)
    loss = shard_backward(shard_loss, n, params, t, step_key, device)
    torch.nn.utils.clip_grad_norm_(params, 5.0)
    opt.step()
    sched.step()
    return loss


def quiet() -> bool:
    """True in every data-parallel process but rank 0 (their progress bars stay off)."""
    from sievit.model.train import rank_and_world
    return rank_and_world()[0] != 0


def capped_steps(epochs: int, steps_per_epoch: int, max_steps: int | None) -> int:
    return epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)


def batches(n: int, batch: int, total: int, gen: torch.Generator, device):
    """(step, indices) for `total` steps of shuffled batches, reshuffled every epoch."""
    step = 0
    while step < total:
        perm = torch.randperm(n, generator=gen, device=device)
        for i in range(0, n, batch):
            if step >= total:
                return
            yield step, perm[i:i + batch]
            step += 1


def val_tensors(device: torch.device, max_steps: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The validation split on the device (64 images in smoke runs: a look, not a figure)."""
    val = load_split("val")
    n = 64 if max_steps is not None else len(val.labels)
    return torch.from_numpy(val.images[:n]).to(device), torch.from_numpy(val.labels[:n]).to(device)


def prepare(cfg: dict, init: Path, out_dir: Path, device_name: str, epochs: int | None,
            max_steps: int | None, command: str) -> dict:
    """Build the method's checkpoint in out_dir (atomically)."""
    method = cfg["reduction"]["method"]
    if out_dir.exists():
        raise SievitError(f"output directory {out_dir} exists; choose a new one")
    start = time.time()
    state = backbone_state(init)
    metrics: dict = {"method": method, "init": str(init), "command": command}
    cfg = {k: v for k, v in cfg.items() if k != "train" or method in TRAINED}
    if method == "cpvit":
        calib = load_split("train").images[:32 if max_steps is not None else 512]  # smoke: 32
        cfg["reduction"]["layer_range"] = attention_range(cfg, state, calib)
        metrics["calibration"] = {"images": len(calib), "layer_range": cfg["reduction"]["layer_range"]}
        from sievit.config import validate
        cfg = validate(cfg)
    trained = None
    if method == "evit":
        trained, log = finetune_evit(cfg, state, device_name, epochs, max_steps)
        metrics["stages"] = log
    if method == "cait":
        from sievit.model.cait_train import train_cait
        trained, metrics["stages"] = train_cait(cfg, state, device_name, epochs, max_steps)
    if method == "prance":
        from sievit.model.prance_train import train_prance
        trained, metrics["stages"] = train_prance(cfg, state, device_name, epochs, max_steps)
    metrics["wall_time_s"] = round(time.time() - start, 1)
    from sievit.model.train import rank_and_world
    rank, world = rank_and_world()
    metrics["world_size"] = world
    if rank != 0:  # data-parallel ranks hold the same weights: rank 0 writes, the others wait
        torch.distributed.barrier()
        return metrics
    with atomic_dir(out_dir) as tmp:
        (tmp / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        if trained is None:
            rel = os.path.relpath(init.resolve() / "model.pt" if init.is_dir() else init.resolve(),
                                  out_dir.resolve())
            (tmp / BACKBONE_FILE).write_text(json.dumps({"backbone": rel}) + "\n")
        else:
            torch.save(trained, tmp / "model.pt")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if world > 1:
        torch.distributed.barrier()
    return metrics


def finetune_evit(cfg: dict, state: dict, device_name: str, epochs: int | None,
                  max_steps: int | None) -> tuple[dict, dict]:
    """QAT finetune with EViT active; keep rate kappa goes 1 -> the step's budget over the
    first half (cosine), then stays (EViT's schedule). The budget is drawn per step from
    reduction.pareto, so one checkpoint serves every keep rate it is measured at; CE plus
    KL to a frozen copy of the starting backbone; cosine learning-rate decay."""
    import random
    from tqdm import tqdm
    from sievit.model.train import augment, evaluate
    t, device, model = setup(cfg, state, device_name, max_steps)
    teacher = frozen_teacher(model)
    ep = epochs if epochs is not None else t["selector_epochs"]
    tr = load_split("train")
    x_all = torch.from_numpy(tr.images).to(device)
    y_all = torch.from_numpy(tr.labels).to(device)
    model.train()
    target = cfg["reduction"]["keep_rate"]
    budgets = list(cfg["reduction"].get("pareto", [target]))
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=t["qat_lr"], weight_decay=t["weight_decay"])
    n = len(y_all)
    total = capped_steps(ep, math.ceil(n / t["batch_size"]), max_steps)
    sched = cosine_lr(opt, total)
    anneal = max(1, total // 2)
    gen = torch.Generator(device=device).manual_seed(t["seed"])
    pick = random.Random(t["seed"])
    for step, idx in tqdm(batches(n, t["batch_size"], total, gen, device), total=total,
                          desc="evit finetune", file=sys.stderr, mininterval=2.0, disable=quiet()):
        frac = min(1.0, step / anneal)
        budget = pick.choice(budgets)
        cfg["reduction"]["keep_rate"] = budget + (1 - budget) * 0.5 * (1 + math.cos(math.pi * frac))
        x, y = augment(x_all[idx], gen), y_all[idx]
        sharded_step(opt, sched, lambda p: distilled_loss(model(x[p], prune="reduce").logits, y[p],
                                                          teacher, x[p], t),
                     len(idx), params, t, step, device)
    cfg["reduction"]["keep_rate"] = target
    acc = evaluate(model, *val_tensors(device, max_steps), "reduce")
    return {k: v.cpu() for k, v in model.state_dict().items()}, {
        "evit_finetune": {"epochs": ep, "steps": total, "val_acc": acc}}
