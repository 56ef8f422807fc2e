"""PRANCE training in three stages (the paper's order):
1. meta-network pretraining: the shared-weight backbone learns with a random width / token
   configuration per image (a quarter of the images at the full configuration), distilled
   from the full network;
2. actors by PPO (backbone frozen): per image, Gaussian exploration around the actors' mean
   actions, reward = p(true class) - cost_weight * MACs / dense at the end, less the same
   image's reward under the mean actions (a per-image baseline), given to every decision
   as its result-to-go (gamma, GAE lambda 0.9, clip 0.2); a float critic per decision (used
   in training only); the cost weight is drawn per image from the Pareto budgets and read
   by the actor, so one actor serves every budget;
3. joint finetuning: the backbone trains under the actors' deterministic choices."""
from __future__ import annotations

import math
import random
import sys

import torch
from torch import nn
from tqdm import tqdm

from sievit.data import load_split
from sievit.model.layers import fixed_input
from sievit.model.method_train import (batches, capped_steps, cosine_lr, distilled_loss, frozen_teacher,
                                       quiet, setup, sharded_step, val_tensors)
from sievit.model.train import all_reduce_grads, own_shards, rank_and_world, shard_seed
from sievit.quant.macs import dense_macs, masked_attention_macs, masked_mlp_macs

GAMMA, LAMBDA, CLIP, PPO_EPOCHS = 0.9, 0.9, 0.2, 4
SIGMA = (0.3, 0.05)
PPO_KEY, JOINT_KEY = 1_000_000, 2_000_000  # step keys of the shard seeds, one range per stage


def _world() -> int:
    return rank_and_world()[1]


def block_macs(out, cfg: dict) -> torch.Tensor:
    """[B] MACs of the encoder blocks at each image's token counts and widths (the reward's
    cost; the golden model's count adds the actor and the merge, a near-constant)."""
    m = cfg["model"]
    dim, mlp_dim = m["dim"], m["mlp_dim"]
    total = 0
    for n_in, n_mlp, chan in out.aux["tokens"]:
        e = chan["embed"].sum(1).double() if chan else dim
        hid = chan["mlp"].sum(1).double() if chan else mlp_dim
        total = total + masked_attention_macs(n_in.double(), e, dim, dim) + masked_mlp_macs(n_mlp.double(), e, hid)
    return total


def _reward(out, y: torch.Tensor, cost: torch.Tensor, cfg: dict, dense: float) -> torch.Tensor:
    """[B] the probability given to the true class (a soft "correct": the 0/1 outcome
    of one image is too noisy a signal for cost weights of a few hundredths) minus
    cost_weight * MACs / dense MACs."""
    p_true = torch.softmax(out.logits.double(), -1).gather(1, y[:, None]).squeeze(1)
    return p_true - cost * block_macs(out, cfg) / dense


def _finetune(model, teacher_model, cfg, data, steps: int, control_fn, desc: str, gen,
              key: int = 0) -> None:
    """Backbone training (actors frozen) under a control; CE + distillation from the frozen
    full network."""
    from sievit.model.train import augment
    t = cfg["train"]
    params = [p for n, p in model.named_parameters() if not n.startswith("actors.")]
    opt = torch.optim.AdamW(params, lr=t["qat_lr"], weight_decay=t["weight_decay"])
    sched = cosine_lr(opt, steps)
    model.train()
    x_all, y_all = data
    for step, idx in tqdm(batches(len(y_all), t["batch_size"], steps, gen, x_all.device), total=steps,
                          desc=desc, file=sys.stderr, mininterval=2.0, disable=quiet()):
        x, y = augment(x_all[idx], gen), y_all[idx]
        control = control_fn(len(idx))  # drawn for the whole batch: the same in every process

        def shard_loss(p: torch.Tensor, x=x, y=y, control=control) -> torch.Tensor:
            part = {k: (v[p.to(v.device)] if torch.is_tensor(v) else v) for k, v in control.items()}
            out = model(x[p], prune="reduce", control=part)
            return distilled_loss(out.logits, y[p], teacher_model, x[p], t)
        sharded_step(opt, sched, shard_loss, len(idx), params, t, key + step, x_all.device)


def _rollout(model, critics, x: torch.Tensor, y: torch.Tensor, cost: torch.Tensor, sigma: float,
             cfg: dict, dense: float) -> dict:
    """One PPO rollout of a batch (no gradients): the actors' sampled decisions, their
    log-probabilities, the critics' values, and per decision the advantage (GAE of the
    result-to-go) and the return."""
    record: list = []
    with torch.no_grad():
        out = model(x, prune="reduce",
                    control={"mode": "sample", "sigma": sigma, "cost": cost, "record": record})
        reward = _reward(out, y, cost, cfg, dense)
        greedy = model(x, prune="reduce", control={"mode": "deterministic", "cost": cost})
        # the same image under the actors' mean choices is the baseline: an exploration
        # that picks the same configuration gets advantage 0, whatever the image's outcome
        advantage_reward = reward - _reward(greedy, y, cost, cfg, dense)
    r = {"reward": reward, "states": [fixed_input(rec["state"], rec["frac"], True) for rec in record],
         "acts": [rec["a"] for rec in record]}
    n_dec = len(r["states"])
    with torch.no_grad():
        r["old"] = [_log_prob(model, r, s, sigma) for s in range(n_dec)]
        values = [critics[s](r["states"][s].value).squeeze(-1).double() for s in range(n_dec)]
    # result-to-go: the final reward reaches every decision, discounted by GAMMA per step
    r["adv"], r["ret"], gae = [None] * n_dec, [None] * n_dec, torch.zeros_like(reward)
    for s in reversed(range(n_dec)):
        nxt = advantage_reward if s == n_dec - 1 else GAMMA * values[s + 1]
        delta = nxt - values[s]
        gae = delta + (GAMMA * LAMBDA * gae if s < n_dec - 1 else 0)
        r["adv"][s], r["ret"][s] = gae, gae + values[s]
    return r


def _log_prob(model, r: dict, s: int, sigma: float) -> torch.Tensor:
    z, _ = model.actors[s](r["states"][s])
    mu = (torch.tanh(z) + 1) / 2
    return torch.distributions.Normal(mu, sigma).log_prob(r["acts"][s]).sum(-1)


def _batch_stats(rolls: list[dict], n: int, sharded: bool) -> tuple[float, list]:
    """The whole batch's mean reward and, per decision, the advantages' mean and (unbiased)
    std: over every process's shards when the batch is sharded, else torch's own."""
    if not sharded:
        r = rolls[0]
        return float(r["reward"].mean()), [(a.mean(), a.std()) for a in r["adv"]]
    from sievit.model.train import rank_and_world
    n_dec = len(rolls[0]["adv"])
    sums = torch.zeros(1 + 2 * n_dec, dtype=torch.float64)
    for r in rolls:
        sums[0] += r["reward"].double().sum().cpu()
        for s, a in enumerate(r["adv"]):
            sums[1 + 2 * s] += a.double().sum().cpu()
            sums[2 + 2 * s] += (a.double() ** 2).sum().cpu()
    if rank_and_world()[1] > 1:
        torch.distributed.all_reduce(sums)
    stats = []
    for s in range(n_dec):
        mean = sums[1 + 2 * s] / n
        var = (sums[2 + 2 * s] - n * mean ** 2) / max(1, n - 1)
        stats.append((mean.item(), var.clamp(min=0).sqrt().item()))
    return float(sums[0] / n), stats


def _ppo(model, cfg, data, steps: int, costs: list[float], gen, device) -> dict:
    """PPO on the actors; returns the mean reward of the first and last tenth of rollouts."""
    t = cfg["train"]
    n_state = model.n_patch + 2
    if max(t["grad_shards"], _world()) > 1:  # every process draws the same critics, whichever
        torch.manual_seed(t["seed"] + PPO_KEY)  # shard it ran last
    critics = nn.ModuleList(nn.Sequential(nn.Linear(n_state, 128), nn.ReLU(), nn.Linear(128, 1))
                            for _ in model.actors).to(device)
    opt = torch.optim.Adam([{"params": model.actors.parameters(), "lr": t["qat_lr"] * t["selector_lr_scale"]},
                            {"params": critics.parameters(), "lr": 1e-3}])
    ppo_params = [*model.actors.parameters(), *critics.parameters()]
    dense = dense_macs(cfg)
    x_all, y_all = data
    rewards = []
    pick = random.Random(t["seed"])
    model.train()
    sharded = max(t["grad_shards"], _world()) > 1
    for step, idx in tqdm(batches(len(y_all), t["batch_size"], steps, gen, device), total=steps,
                          desc="prance ppo", file=sys.stderr, mininterval=2.0, disable=quiet()):
        sigma = SIGMA[0] + (SIGMA[1] - SIGMA[0]) * step / max(1, steps - 1)
        cost = torch.tensor([pick.choice(costs) for _ in range(len(idx))], dtype=torch.float64, device=device)
        rolls, parts = [], own_shards(len(idx), t, device)
        for k, p in parts:  # each process rolls out its own shards of the batch
            if sharded:
                shard_seed(t, PPO_KEY + step, k)
            rolls.append(_rollout(model, critics, x_all[idx[p]], y_all[idx[p]], cost[p], sigma, cfg, dense))
        mean_reward, stats = _batch_stats(rolls, len(idx), sharded)
        rewards.append(mean_reward)
        for _ in range(PPO_EPOCHS):
            opt.zero_grad(set_to_none=True)
            for r, (_, p) in zip(rolls, parts):
                loss = 0
                for s in range(len(r["states"])):
                    a = (r["adv"][s] - stats[s][0]) / (stats[s][1] + 1e-8)
                    ratio = torch.exp(_log_prob(model, r, s, sigma) - r["old"][s])
                    loss = loss - torch.min(ratio * a, ratio.clamp(1 - CLIP, 1 + CLIP) * a).mean() \
                        + 0.5 * ((critics[s](r["states"][s].value).squeeze(-1).double() - r["ret"][s]) ** 2).mean()
                (loss * (len(p) / len(idx))).backward()
            all_reduce_grads(ppo_params)
            opt.step()
    k = max(1, len(rewards) // 10)
    return {"reward_first": round(sum(rewards[:k]) / k, 4), "reward_last": round(sum(rewards[-k:]) / k, 4)}


def train_prance(cfg: dict, state: dict, device_name: str, epochs: int | None,
                 max_steps: int | None) -> tuple[dict, dict]:
    from sievit.model.train import evaluate
    t, device, model = setup(cfg, state, device_name, max_steps)
    teacher_model = frozen_teacher(model)
    r = model.cfg["reduction"]
    costs = list(r.get("pareto", [r["cost_weight"]]))
    tr = load_split("train")
    data = (torch.from_numpy(tr.images).to(device), torch.from_numpy(tr.labels).to(device))
    spe = math.ceil(len(tr.labels) / t["batch_size"])
    gen = torch.Generator(device=device).manual_seed(t["seed"])
    pick = random.Random(t["seed"] + 1)
    log: dict = {}
    meta = capped_steps(epochs if epochs is not None else t["qat_epochs"], spe, max_steps)
    _finetune(model, teacher_model, cfg, data, meta, lambda b: {"mode": "random"}, "prance meta-network", gen)
    log["meta_pretrain"] = {"steps": meta}
    ppo = capped_steps(epochs if epochs is not None else t["selector_epochs"], spe, max_steps)
    log["ppo"] = {"steps": ppo, "cost_weights": costs, **_ppo(model, cfg, data, ppo, costs, gen, device)}
    joint = capped_steps(epochs if epochs is not None else t["joint_epochs"], spe, max_steps)
    _finetune(model, teacher_model, cfg, data, joint, lambda b: {
        "mode": "deterministic",
        "cost": torch.tensor([pick.choice(costs) for _ in range(b)], dtype=torch.float64)},
        "prance joint finetune", gen, key=JOINT_KEY)
    log["joint_finetune"] = {"steps": joint}
    vx, vy = val_tensors(device, max_steps)
    log["val_acc"] = {"dense": evaluate(model, vx, vy, "none"), f"cost_{r['cost_weight']}": evaluate(model, vx, vy, "reduce")}
    return {k: v.cpu() for k, v in model.state_dict().items()}, log
