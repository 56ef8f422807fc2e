"""Multi-stage training: dense float -> dense QAT -> HeatViT selectors inserted stage by stage
(Gumbel keep masks, keep-ratio loss toward per-stage targets from the MAC budget)."""
from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
import yaml
from tqdm import tqdm

from sievit.atomic import atomic_dir
from sievit.checkpoint import read_state
from sievit.data import class_names, config_split
from sievit.errors import SievitError
from sievit.model.layers import ActQuant
from sievit.model.vit import ViT


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)


def augment(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random 2-pixel shift (zero padding) and horizontal flip of uint8 [B, H, W(, C)]."""
    b, h, w = images.shape[:3]
    pad = 2
    padded = F.pad(images, (0, 0, pad, pad, pad, pad) if images.dim() == 4 else (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen, device=gen.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen, device=gen.device)
    rows = (dy[:, None] + torch.arange(h, device=images.device)[None])[:, :, None]
    cols = (dx[:, None] + torch.arange(w, device=images.device)[None])[:, None, :]
    flip = torch.rand(b, generator=gen, device=gen.device) < 0.5
    cols = torch.where(flip[:, None, None], cols.flip(-1), cols)
    bidx = torch.arange(b, device=images.device)[:, None, None]
    return padded[bidx, rows, cols]


def distill_loss(logits: torch.Tensor, teacher: torch.Tensor, temp: float) -> torch.Tensor:
    """KL(student || teacher) at temperature temp, scaled by temp^2 (teacher detached)."""
    return temp * temp * F.kl_div(F.log_softmax(logits / temp, -1), F.log_softmax(teacher / temp, -1),
                                  reduction="batchmean", log_target=True)


def evaluate(model: ViT, images: torch.Tensor, labels: torch.Tensor, prune: str,
             batch: int = 1000) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(labels), batch):
            out = model(images[i:i + batch], prune=prune)
            correct += int((out.logits.argmax(-1) == labels[i:i + batch]).sum())
    model.train()
    return correct / len(labels)


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of data-parallel processes (0, 1 without torchrun)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _step_loss(model: ViT, x: torch.Tensor, y: torch.Tensor, prune: str, t: dict,
               teacher: ViT | None, targets: list[float]) -> torch.Tensor:
    """The training loss of one batch (mean over its images)."""
    out = model(x, prune=prune)
    loss = F.cross_entropy(out.logits, y, label_smoothing=t["label_smoothing"])
    if prune != "none":
        # keep the dense path as good as before the selectors came in, and teach the
        # pruned path to match it (DynamicViT-style distillation, teacher detached)
        dense = None
        if t["dense_loss_weight"] > 0:
            dense = model(x, prune="none").logits
            loss = loss + t["dense_loss_weight"] * F.cross_entropy(
                dense, y, label_smoothing=t["label_smoothing"])
        if t["distill_weight"] > 0:
            with torch.no_grad():
                if teacher is not None or dense is None:
                    dense = (teacher if teacher is not None else model)(x, prune="none").logits
            loss = loss + t["distill_weight"] * distill_loss(
                out.logits, dense.detach(), t["distill_temperature"])
    for s, pol in enumerate(out.policies if prune == "gumbel" else []):
        kept = pol[:, 1:-1].sum(dim=1) / model.n_patch
        loss = loss + t["ratio_loss_weight"] * ((kept - targets[s]) ** 2).mean()
    return loss


def shard_seed(t: dict, step_key: int, shard: int) -> None:
    """Seed the global RNG for one gradient shard, so that its random draws (Gumbel noise,
    sampled widths and actions) depend on the shard alone, not on which process runs it."""
    torch.manual_seed(t["seed"] * 1_000_003 + step_key * 1024 + shard)


def own_shards(n: int, t: dict, device=None) -> list[tuple[int, torch.Tensor]]:
    """This process's (shard number, batch indices): the batch of n images cut into
    max(train.grad_shards, world) contiguous shards, dealt round-robin over the processes."""
    rank, world = rank_and_world()
    parts = torch.tensor_split(torch.arange(n, device=device), max(t["grad_shards"], world))
    return [(k, parts[k]) for k in range(rank, len(parts), world) if len(parts[k])]


def all_reduce_grads(params: list) -> None:
    """Sum the gradients over the processes (as DistributedDataParallel does); parameters no
    shard reached anywhere keep no gradient (AdamW then leaves them alone)."""
    if rank_and_world()[1] <= 1:
        return
    used = torch.tensor([p.grad is not None for p in params], dtype=torch.int32)
    dist.all_reduce(used, op=dist.ReduceOp.MAX)
    for p, u in zip(params, used.tolist()):
        if u:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)


def shard_backward(shard_loss, n: int, params: list, t: dict, step_key: int = 0,
                   device=None) -> torch.Tensor:
    """Gradient of a batch's mean loss, the batch cut into max(train.grad_shards, world)
    contiguous shards: each process backpropagates its shards (shard_loss(indices) is the
    shard's mean loss, scaled by shard size / batch size so that the sum over shards is the
    batch mean), then the gradients are summed over the processes. The same shards
    accumulated in one process give the same sums; with two processes, bit for bit
    (a + b == b + a). Returns the loss of this process's shards."""
    total = torch.zeros((), dtype=torch.float32, device=device)
    sharded = max(t["grad_shards"], rank_and_world()[1]) > 1
    for k, part in own_shards(n, t, device):
        if sharded:
            shard_seed(t, step_key, k)
        loss = shard_loss(part) * (len(part) / n)
        loss.backward()
        total = total + loss.detach()
    all_reduce_grads(params)
    return total


def _shard_backward(model: ViT, x: torch.Tensor, y: torch.Tensor, prune: str, t: dict,
                    teacher: ViT | None, targets: list[float], params: list,
                    step_key: int = 0) -> torch.Tensor:
    """shard_backward of the selector/backbone training loss."""
    return shard_backward(lambda p: _step_loss(model, x[p], y[p], prune, t, teacher, targets),
                          len(y), params, t, step_key, y.device)


def run_stage(model: ViT, name: str, epochs: int, lr: float, cfg: dict, data: dict,
              prune: str, device: torch.device, log: dict, max_steps: int | None,
              teacher: ViT | None = None) -> None:
    """teacher: a frozen dense model whose logits the pruned path is distilled toward
    (default: the model's own dense path)."""
    t = cfg["train"]
    params = [p for p in model.parameters() if p.requires_grad]
    sel_ids = {id(p) for p in model.selectors.parameters()}
    groups = [{"params": [p for p in params if id(p) not in sel_ids], "lr": lr},
              {"params": [p for p in params if id(p) in sel_ids],
               "lr": lr * t["selector_lr_scale"]}]
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=t["weight_decay"])
    n = len(data["train_y"])
    steps_per_epoch = math.ceil(n / t["batch_size"])
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    warm = min(total // 10, 5 * steps_per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, warm) if s < warm
        else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm))))
    gen = torch.Generator(device=device).manual_seed(t["seed"] + len(log))
    targets = model.cfg["reduction"]["keep_ratios"]
    step = 0
    # stop_after_steps ends the stage early; the schedule stays planned for `total`
    stop = min(total, t["stop_after_steps"]) if t["stop_after_steps"] > 0 else total
    bar = tqdm(total=stop, desc=name, file=sys.stderr, mininterval=2.0,
               disable=rank_and_world()[0] != 0)
    model.train()
    while step < stop:
        perm = torch.randperm(n, generator=gen, device=device)
        for i in range(0, n, t["batch_size"]):
            if step >= stop:
                break
            idx = perm[i:i + t["batch_size"]]
            x = augment(data["train_x"][idx], gen)
            y = data["train_y"][idx]
            opt.zero_grad(set_to_none=True)
            loss = _shard_backward(model, x, y, prune, t, teacher, targets, params,
                                   step_key=len(log) * 10_000_000 + step)
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            sched.step()
            step += 1
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    val_mode = {"none": "none", "topk": "topk"}.get(prune, "threshold")
    smoke = max_steps is not None and device.type == "cpu"
    n_val = 64 if smoke else len(data["val_y"])  # smoke runs: a quick look, not a figure
    acc = evaluate(model, data["val_x"][:n_val], data["val_y"][:n_val], val_mode)
    entry = {"stage": name, "epochs": epochs, "steps": step, "planned_steps": total, "val_acc": acc}
    if prune != "none":
        model.eval()
        with torch.no_grad():
            out = model(data["val_x"][:n_val if smoke else 1000], prune=val_mode)
        model.train()
        entry["val_tokens_per_stage"] = [float(p.sum(1).mean()) for p in out.policies]
    log[name] = entry
    print(f"[train] {name}: val_acc {acc:.4f}", file=sys.stderr)


def _resume_selectors(cfg: dict, out_dir: Path, resume: Path, device: torch.device, data: dict,
                      log: dict, max_steps: int | None, start: float, command: str,
                      device_name: str, train_backbone: bool) -> dict:
    """Continue the selector stage of a finished run. Frozen backbone: only the selectors
    learn, so the dense integer model is unchanged. With train_backbone the whole quantized
    model finetunes with all selectors active (dense loss and distillation as configured)."""
    t = cfg["train"]
    fmodel, qmodel = ViT(cfg, quant=False), ViT(cfg, quant=True)
    _load_state(fmodel, resume / "float.pt", f"--resume {resume}")
    _load_state(qmodel, resume / "model.pt", f"--resume {resume}")
    qmodel.to(device)
    sel_ids = {id(p) for p in qmodel.selectors.parameters()}
    if not train_backbone:
        for p in qmodel.parameters():
            p.requires_grad_(id(p) in sel_ids)
        t["dense_loss_weight"] = 0.0  # the backbone is frozen: the dense path cannot change
    stage = "selectors_and_backbone" if train_backbone else "selectors_frozen_backbone"
    teacher = None
    if t["teacher"]:
        teacher = ViT(cfg, quant=True)
        _load_state(teacher, Path(t["teacher"]) / "model.pt", f"train.teacher {t['teacher']}")
        teacher.to(device).eval().requires_grad_(False)
    # topk: finetune under the deployed fixed budget (hard top-k, reduction.topk_tokens)
    run_stage(qmodel, stage, t["selector_epochs"], t["qat_lr"], cfg, data, t["finetune_prune"],
              device, log, max_steps, teacher)
    metrics = {"stages": log, "resumed_from": str(resume), "device": device_name,
               "torch": torch.__version__, "command": command,
               "wall_time_s": round(time.time() - start, 1)}
    _write_run(out_dir, fmodel, qmodel, cfg, metrics)
    return metrics


def _load_state(model: torch.nn.Module, file: Path, what: str,
                map_location: torch.device | str = "cpu") -> None:
    """Load a state dict, or a clear error naming `what` (the option that named the file)."""
    try:
        state = read_state(file, map_location)
    except SievitError as exc:
        raise SievitError(f"{what}: {exc}") from None
    try:
        model.load_state_dict(state)
    except Exception as exc:
        raise SievitError(f"{what} does not load: {str(exc).splitlines()[0]}") from None


def _write_run(out_dir: Path, fmodel: ViT, qmodel: ViT, cfg: dict, metrics: dict) -> None:
    """Rank 0 writes the run (data-parallel ranks hold the same weights); the others wait."""
    rank, world = rank_and_world()
    metrics["world_size"] = world
    if rank != 0:
        dist.barrier()
        return
    with atomic_dir(out_dir) as tmp:
        torch.save(fmodel.cpu().state_dict(), tmp / "float.pt")
        torch.save(qmodel.cpu().state_dict(), tmp / "model.pt")
        (tmp / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if world > 1:
        dist.barrier()


def calibrate(model: ViT, images: np.ndarray, n_images: int, prune: str = "threshold",
              control: dict | None = None) -> None:
    """Run Brevitas's activation-statistics phase on the CPU (train-mode forwards, no
    gradients) for every activation, selectors included, so that all scales are learned
    parameters before training starts on any device."""
    steps = ActQuant.collect_stats_steps + 1
    batch = max(1, n_images // 8)
    rng = np.random.default_rng(0)
    model.train()
    with torch.no_grad():
        for _ in tqdm(range(steps), desc="calibrate", file=sys.stderr, mininterval=2.0):
            idx = rng.choice(len(images), size=batch, replace=False)
            model(torch.from_numpy(images[idx]), prune=prune, control=control)


def init_distributed(device_name: str) -> str:
    """Under torchrun (WORLD_SIZE > 1): join the process group (gloo on the CPU, NCCL on
    GPUs, one GPU per local rank); returns the device to train on."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or dist.is_initialized():
        return device_name
    if device_name == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        dist.init_process_group("nccl")
        return f"cuda:{local}"
    dist.init_process_group("gloo")
    return device_name


def train(cfg: dict, out_dir: Path, epochs: int | None, seed: int | None, device_name: str,
          max_steps: int | None = None, command: str = "", init_float: Path | None = None,
          resume: Path | None = None, train_backbone: bool = False) -> dict:
    """Train all stages and write model.pt, float.pt, config.yaml, metrics.json atomically."""
    if "train" not in cfg:
        raise SievitError(f"config '{cfg['name']}' has no 'train' section")
    if device_name == "cuda" and not torch.cuda.is_available():
        raise SievitError("--device cuda asked for, but torch sees no CUDA device")
    if out_dir.exists():
        raise SievitError(f"output directory {out_dir} exists; choose a new one")
    device_name = init_distributed(device_name)
    teacher = cfg["train"].get("teacher")
    if teacher and not (Path(teacher) / "model.pt").is_file():
        raise SievitError(f"train.teacher {teacher}: no model.pt there")
    if seed is not None:
        cfg["train"]["seed"] = seed
    t = cfg["train"]
    if epochs is not None:
        for key in ("float_epochs", "qat_epochs", "selector_epochs"):
            t[key] = epochs
    seed_everything(t["seed"])
    device = torch.device(device_name)
    start = time.time()
    # the config's data set (Fashion-MNIST or an image folder) at its input shape
    train_split, val_split = config_split(cfg, "train"), config_split(cfg, "val")
    if "data" in cfg and cfg["data"]["dataset"] == "folder":
        cfg["data"]["classes"] = list(class_names(cfg))  # predict names classes without the folder
    data = {
        "train_x": torch.from_numpy(train_split.images).to(device),
        "train_y": torch.from_numpy(train_split.labels).to(device),
        "val_x": torch.from_numpy(val_split.images).to(device),
        "val_y": torch.from_numpy(val_split.labels).to(device),
    }
    log: dict = {}
    with torch.device(device):  # Brevitas keeps some state outside registered buffers
        fmodel = ViT(cfg, quant=False)
    if resume is not None:
        return _resume_selectors(cfg, out_dir, resume, device, data, log, max_steps, start,
                                 command, device_name, train_backbone)
    if init_float is None:
        run_stage(fmodel, "float", t["float_epochs"], t["lr"], cfg, data, "none", device, log,
                  max_steps)
    else:  # resume after the float stage of an earlier run of the same config
        _load_state(fmodel, init_float, f"--init-float {init_float}", device)
        log["float"] = {"stage": "float", "init": str(init_float),
                        "val_acc": evaluate(fmodel, data["val_x"], data["val_y"], "none")}
    qmodel = ViT(cfg, quant=True)
    missing, unexpected = qmodel.load_state_dict(fmodel.cpu().state_dict(), strict=False)
    assert not unexpected, unexpected
    for sel in qmodel.selectors:  # start by keeping everything: keep logit bias > prune
        for lin in sel.score.mlp2:
            with torch.no_grad():
                lin.lin.bias.copy_(torch.tensor([0.5, -0.5]))
    calibrate(qmodel, train_split.images, t["calib_images"])
    qmodel.to(device)
    qmodel.active_selectors = 0
    run_stage(qmodel, "qat", t["qat_epochs"], t["qat_lr"], cfg, data, "none", device, log, max_steps)
    for s in range(len(qmodel.sel_blocks)):
        qmodel.active_selectors = s + 1
        run_stage(qmodel, f"selector{s + 1}", t["selector_epochs"], t["qat_lr"], cfg, data,
                  "gumbel", device, log, max_steps)
    wall = time.time() - start
    metrics = {"stages": log, "wall_time_s": round(wall, 1), "device": device_name,
               "torch": torch.__version__, "command": command,
               "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None}
    _write_run(out_dir, fmodel, qmodel, cfg, metrics)
    return metrics
