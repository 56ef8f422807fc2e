"""Channel-reduction units of the model: CAIT's CDCP gate and PRANCE's actor. Both are
small integer MLPs whose outputs pick channel masks / widths per image (golden twins in
quant/channels.py)."""
from __future__ import annotations

import torch
from torch import nn

from sievit.model import intfn
from sievit.model.layers import Act, Fx, Linear, fixed_input
from sievit.quant.channels import action_thresholds, cost_code


def relu(a: Fx) -> Fx:
    return a.with_value(torch.relu(a.value))


def masked_mean(x: Fx, live: torch.Tensor) -> torch.Tensor:
    """[B, D] mean of the live slots, rounded half up in quant mode (STE to the float mean)."""
    w = live.to(x.value.dtype)[..., None]
    surrogate = (x.value * w).sum(1) / w.sum(1).clamp(min=1)
    if x.frac is None:
        return surrogate
    m = live.to(torch.int64)[..., None]
    q = intfn.div_round_int((x.int() * m).sum(1), m.sum(1).clamp(min=1))
    return intfn.ste(intfn.from_int(q, x.frac, x.value.dtype), surrogate)


class CDCPGate(nn.Module):
    """mean over live tokens -> fc1 -> int8 (mid) -> ReLU -> fc2: keep logits of the QK
    (per head), V (per head) and MLP hidden channel groups."""

    def __init__(self, dim: int, hidden: int, outs: int, quant: bool):
        super().__init__()
        self.fc1, self.mid, self.fc2 = Linear(dim, hidden, quant), Act(quant), Linear(hidden, outs, quant)

    def forward(self, x: Fx, live: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logit values [B, outs] with gradients, integer logits or None)."""
        acc, _ = self.fc1(x.with_value(masked_mean(x, live)[:, None]))
        acc, frac = self.fc2(relu(self.mid(acc)))
        acc = acc[:, 0]
        return acc, None if frac is None else intfn.to_int(acc, frac)


def topk_mask(logits: torch.Tensor, logits_int: torch.Tensor | None, k: int) -> torch.Tensor:
    """Hard top-k channel mask (ties to the lower channel) with the sigmoid's gradient."""
    key = logits_int if logits_int is not None else logits.detach()
    cand = torch.ones_like(key, dtype=torch.bool)
    hard = intfn.topk_keep(key, cand, torch.full((key.shape[0],), k, device=key.device))
    return intfn.ste(hard.to(logits.dtype), torch.sigmoid(logits))


class PranceActor(nn.Module):
    """state (keys averaged per token + cost code) -> fc1 -> ReLU -> fc2 -> ReLU -> fc3: one
    logit z per action output; mean action (tanh(z) + 1) / 2."""

    def __init__(self, n_state: int, hidden: int, outs: int, quant: bool):
        super().__init__()
        self.fc1, self.fc1_out = Linear(n_state, hidden, quant), Act(quant)
        self.fc2, self.fc2_out = Linear(hidden, hidden, quant), Act(quant)
        self.fc3 = Linear(hidden, outs, quant)
        # PyTorch's default init, not the backbone's std 0.02: the activation scales are
        # calibrated on the first forwards, and from a near-zero actor they came out so fine
        # (2^-11) that the trained actor saturated every hidden unit and ignored its input
        for fc in (self.fc1, self.fc2, self.fc3):
            fc.lin.reset_parameters()

    def forward(self, state: Fx) -> tuple[torch.Tensor, int | None]:
        h = relu(self.fc1_out(self.fc1(state)[0]))
        h = relu(self.fc2_out(self.fc2(h)[0]))
        return self.fc3(h)


def actor_state(k: Fx, live: torch.Tensor, cost: torch.Tensor) -> Fx:
    """The golden state (quant.channels.actor_state) on slots: per live slot the key averaged
    over channels, moved to the front in slot order, zero-padded; then the cost code
    (cost: [B] cost weights)."""
    b, s, d = k.value.shape
    avg = intfn.div_round_int(k.int().sum(-1), torch.tensor(d))
    avg = torch.where(live, avg, torch.zeros_like(avg))
    pos = torch.arange(s, device=avg.device)
    order = torch.sort((~live).to(torch.int64) * s + pos, dim=1).indices
    codes = torch.tensor([cost_code(float(c)) for c in cost.tolist()], device=avg.device)
    state = torch.cat([torch.gather(avg, 1, order), codes[:, None]], dim=1)
    return fixed_input(intfn.from_int(state, k.frac, k.value.dtype), k.frac, True)


def choices_from_z(z_int: torch.Tensor, frac: int, n_choices: list[int]) -> torch.Tensor:
    """Deterministic choices: per output, the number of integer thresholds z reaches."""
    cols = []
    for a, n in enumerate(n_choices):
        th = torch.from_numpy(action_thresholds(n, frac)).to(z_int.device)
        cols.append((z_int[:, a, None] >= th[None, :]).sum(1))
    return torch.stack(cols, dim=1)
