"""CAIT training: the CDCP gates (new) and the quantized backbone finetune together with
ATME and CDCP active. Each step takes one MAC target from the config's Pareto budgets (so
one set of gates serves them all): the target fixes the kept channels per group (hard
top-k forward), and the loss pulls the gates' soft expected MACs to the same target."""
from __future__ import annotations

import math
import random
import sys

import torch
from tqdm import tqdm

from sievit.data import load_split
from sievit.model.method_train import (batches, capped_steps, cosine_lr, distilled_loss, frozen_teacher,
                                       quiet, setup, sharded_step, val_tensors)
from sievit.quant.macs import dense_macs, masked_attention_macs, masked_mlp_macs


def soft_macs(out, cfg: dict) -> torch.Tensor:
    """[B] MACs of the blocks with the gates' sigmoid keep probabilities in place of the
    hard masks (gated blocks) and full widths elsewhere, plus the embedding and head."""
    m = cfg["model"]
    dim, heads, mlp_dim = m["dim"], m["heads"], m["mlp_dim"]
    n_patch = (m["image_size"] // m["patch_size"]) ** 2
    total = float(n_patch * m["patch_size"] ** 2 * m["in_chans"] * dim + dim * m["num_classes"])
    gates = iter(out.aux["gates"])
    gate_blocks = cfg["reduction"]["gate_blocks"]
    for i, (n_in, n_mlp, _) in enumerate(out.aux["tokens"]):
        n_in, n_mlp = n_in.double(), n_mlp.double()
        if i in gate_blocks:
            _, (qk, v, hid) = next(gates)
            total = total + masked_attention_macs(n_in, dim, heads * qk, heads * v) \
                + masked_mlp_macs(n_mlp, dim, hid)
        else:
            total = total + masked_attention_macs(n_in, dim, dim, dim) + masked_mlp_macs(n_mlp, dim, mlp_dim)
    return total


def train_cait(cfg: dict, state: dict, device_name: str, epochs: int | None,
               max_steps: int | None) -> tuple[dict, dict]:
    from sievit.model.train import augment, evaluate
    from sievit.quant.budgets import with_budget
    t, device, model = setup(cfg, state, device_name, max_steps)
    teacher_model = frozen_teacher(model)
    r = model.cfg["reduction"]
    budgets = {target: with_budget(cfg, target)["reduction"]["channel_counts"]
               for target in r.get("pareto", [r["mac_target"]])}
    own = (r["mac_target"], r["channel_counts"])
    dense = dense_macs(cfg)
    tr = load_split("train")
    x_all, y_all = torch.from_numpy(tr.images).to(device), torch.from_numpy(tr.labels).to(device)
    gate_ids = {id(p) for p in model.gates.parameters()}
    opt = torch.optim.AdamW([
        {"params": [p for p in model.parameters() if id(p) not in gate_ids], "lr": t["qat_lr"]},
        {"params": list(model.gates.parameters()), "lr": t["qat_lr"] * t["selector_lr_scale"]}],
        weight_decay=t["weight_decay"])
    ep = epochs if epochs is not None else t["selector_epochs"]
    n = len(y_all)
    total = capped_steps(ep, math.ceil(n / t["batch_size"]), max_steps)
    sched = cosine_lr(opt, total)
    gen = torch.Generator(device=device).manual_seed(t["seed"])
    pick = random.Random(t["seed"])
    model.train()
    bar = tqdm(batches(n, t["batch_size"], total, gen, device), total=total,
               desc="cait gates + backbone", file=sys.stderr, mininterval=2.0, disable=quiet())
    params = list(model.parameters())
    for step, idx in bar:
        target = pick.choice(sorted(budgets))
        r["mac_target"], r["channel_counts"] = target, budgets[target]
        x, y = augment(x_all[idx], gen), y_all[idx]

        def shard_loss(p: torch.Tensor, x=x, y=y, target=target) -> torch.Tensor:
            out = model(x[p], prune="reduce")
            return distilled_loss(out.logits, y[p], teacher_model, x[p], t) \
                + t["ratio_loss_weight"] * ((soft_macs(out, cfg) / dense - target) ** 2).mean()
        loss = sharded_step(opt, sched, shard_loss, len(idx), params, t, step, device)
        if (step + 1) % 25 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    r["mac_target"], r["channel_counts"] = own
    vx, vy = val_tensors(device, max_steps)
    log = {"cait_train": {"epochs": ep, "steps": total, "mac_targets": sorted(budgets),
                          "val_acc": evaluate(model, vx, vy, "reduce"),
                          "val_acc_dense": evaluate(model, vx, vy, "none")}}
    return {k: v.cpu() for k, v in model.state_dict().items()}, log
