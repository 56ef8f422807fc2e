"""DeiT-style pre-LN ViT with HeatViT token selectors, quantized (Brevitas, int8, power-of-two
scales, integer LayerNorm/softmax/GELU) or float."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from sievit.model.layers import Act, Fx, LayerNorm, Linear, fixed_input, gelu, pot_param_frac, \
    quant_param, softmax
from sievit.model.channel_units import CDCPGate, PranceActor
from sievit.model.reducers import HeatViTReducer
from sievit.model import methods

INPUT_FRAC = 7  # pixels p become int8 (p - 128) at 2^-7


class Block(nn.Module):
    """LN -> MHSA -> residual, LN -> MLP(GELU) -> residual."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, quant: bool):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln1_out = LayerNorm(dim, quant), Act(quant)
        self.qkv = Linear(dim, 3 * dim, quant)
        self.q_act, self.k_act, self.v_act = Act(quant), Act(quant), Act(quant)
        self.attn_out = Act(quant)
        self.proj = Linear(dim, dim, quant)
        self.res1 = Act(quant)
        self.ln2, self.ln2_out = LayerNorm(dim, quant), Act(quant)
        self.fc1 = Linear(dim, mlp_dim, quant)
        self.gelu_in, self.gelu_out = Act(quant), Act(quant)
        self.fc2 = Linear(mlp_dim, dim, quant)
        self.res2 = Act(quant)

    def attention(self, x: Fx, policy: torch.Tensor | None, key_bias: torch.Tensor | None = None,
                  head_mask: torch.Tensor | None = None, info: dict | None = None,
                  chan: dict | None = None) -> torch.Tensor:
        """Projection accumulator of MHSA. Reduction methods: key_bias [B, N] (logit units) is
        added to every logit of a key (proportional attention), head_mask [B, H] silences
        pruned heads, info receives probs, q/k/v activations; chan holds [B, C] 0/1 channel
        masks (embed: input / output channels, qk, v)."""
        b, n, d = x.value.shape
        h = _mask(self.ln1_out(self.ln1(x)[0]), chan, "embed")
        qkv, _ = self.qkv(h)
        q = _mask(self.q_act(qkv[..., :d]), chan, "qk")
        k = _mask(self.k_act(qkv[..., d:2 * d]), chan, "qk")
        v = _mask(self.v_act(qkv[..., 2 * d:]), chan, "v")
        dh = d // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, n, self.heads, dh).transpose(1, 2)

        # 1/sqrt(d_h) is folded into W_q (docs/numerics.md): logits are plain Q.K^T.
        logits = split(q.value) @ split(k.value).transpose(-1, -2)
        if key_bias is not None:
            logits = logits + key_bias[:, None, None, :]
        frac = None if q.frac is None else q.frac + k.frac
        probs = softmax(logits, frac, policy)
        if head_mask is not None:
            probs = probs * head_mask[:, :, None, None].to(probs.dtype)
        if info is not None:
            info.update(probs=probs, k=k, v=v, logits_frac=frac)
        out = (probs @ split(v.value)).transpose(1, 2).reshape(b, n, d)
        acc, _ = self.proj(self.attn_out(out))
        return _mask_value(acc, chan, "embed")

    def forward(self, x: Fx, policy: torch.Tensor | None) -> Fx:
        return self.mlp(self.res1(x.value + self.attention(x, policy)))

    def mlp(self, x: Fx, chan: dict | None = None) -> Fx:
        """LN2 -> fc1 -> GELU -> fc2, residual with x (= res1); chan: embed / mlp masks."""
        h = _mask(self.ln2_out(self.ln2(x)[0]), chan, "embed")
        acc, _ = self.fc1(h)
        g = _mask(self.gelu_out(gelu(self.gelu_in(acc))), chan, "mlp")
        acc, _ = self.fc2(g)
        return self.res2(x.value + _mask_value(acc, chan, "embed"))


def _mask_value(t: torch.Tensor, chan: dict | None, group: str) -> torch.Tensor:
    if chan is None or chan.get(group) is None:
        return t
    return t * chan[group][:, None, :]


def _mask(a: Fx, chan: dict | None, group: str) -> Fx:
    """Zero the masked channels of an activation (a mask equals skipping those channels)."""
    if chan is None or chan.get(group) is None:
        return a
    return a.with_value(_mask_value(a.value, chan, group))


@dataclass
class Output:
    logits: torch.Tensor                 # [B, classes] float value (int32 code * scale)
    logits_frac: int | None
    policies: list[torch.Tensor] = field(default_factory=list)   # after each stage, [B, N+2]
    keeps: list[torch.Tensor] = field(default_factory=list)      # keep masks, [B, N+2]
    aux: dict = field(default_factory=dict)   # training signals of the methods (model.methods)


class ViT(nn.Module):
    """Slots: CLS, n_patch patch tokens, one package slot (alive only once a stage fused
    tokens). `prune` selects the reducer mode: none | threshold | topk | gumbel."""

    def __init__(self, cfg: dict, quant: bool):
        super().__init__()
        m, r = cfg["model"], cfg["reduction"]
        self.cfg, self.quant = cfg, quant
        self.patch, self.chans = m["patch_size"], m["in_chans"]
        self.grid = m["image_size"] // m["patch_size"]
        self.n_patch = self.grid * self.grid
        dim = m["dim"]
        self.patch_embed = Linear(self.patch * self.patch * self.chans, dim, quant)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, self.n_patch + 1, dim))
        nn.init.trunc_normal_(self.cls, std=0.02)
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.embed_out = Act(quant)
        self.blocks = nn.ModuleList(Block(dim, m["heads"], m["mlp_dim"], quant)
                                    for _ in range(m["depth"]))
        self.method = r["method"]
        self.sel_blocks = list(r["blocks"])
        heatvit = self.method == "heatvit"
        self.selectors = nn.ModuleList(HeatViTReducer(dim, m["heads"], quant)
                                       for _ in (self.sel_blocks if heatvit else ()))
        self.topk_tokens = list(r["topk_tokens"]) if heatvit else []
        dh = dim // m["heads"]
        self.gates = nn.ModuleList(
            CDCPGate(dim, r["gate_hidden"], 2 * dh + m["mlp_dim"], quant)
            for _ in (r["gate_blocks"] if self.method == "cait" else ()))
        self.actors = nn.ModuleList(
            PranceActor(self.n_patch + 2, r["actor_hidden"], 3, quant)
            for _ in (self.sel_blocks if self.method == "prance" else ()))
        # slots after the patches: HeatViT's package token, or one fused token per EViT stage
        self.n_extra = 1 if heatvit else (len(self.sel_blocks) if self.method == "evit" else 0)
        self.ln_f, self.ln_f_out = LayerNorm(dim, quant), Act(quant)
        self.head = Linear(dim, m["num_classes"], quant)
        self.active_selectors = len(self.sel_blocks)

    def patches(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [B, H, W] or [B, H, W, C] -> int8-valued [B, n_patch, p*p*C] (row-major
        patches; inside a patch: row, column, channel)."""
        x = images.to(self.pos.dtype) - 128.0
        if x.dim() == 3:
            x = x[..., None]
        b = x.shape[0]
        p, g = self.patch, self.grid
        x = x.reshape(b, g, p, g, p, self.chans).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(b, g * g, p * p * self.chans) * (2.0 ** -INPUT_FRAC)

    def embed(self, images: torch.Tensor) -> Fx:
        acc, _ = self.patch_embed(fixed_input(self.patches(images), INPUT_FRAC, self.quant))
        cls, pos = self.cls, self.pos
        if self.quant:
            cls, _ = quant_param(cls, pot_param_frac(cls))
            pos, _ = quant_param(pos, pot_param_frac(pos))
        tokens = torch.cat([cls.expand(acc.shape[0], -1, -1), acc], dim=1) + pos
        extra = tokens.new_zeros(tokens.shape[0], self.n_extra, tokens.shape[2])
        return self.embed_out(torch.cat([tokens, extra], dim=1))

    def forward(self, images: torch.Tensor, prune: str = "threshold",
                control: dict | None = None) -> Output:
        """control: PRANCE training (model.methods.forward)."""
        if self.method != "heatvit":
            return methods.forward(self, images, prune, control)
        x = self.embed(images)
        b, n = x.value.shape[:2]
        policy = torch.ones(b, n, dtype=x.value.dtype, device=x.value.device)
        policy[:, -1] = 0
        out = Output(torch.empty(0), None)
        stage = 0
        for i, blk in enumerate(self.blocks):
            if (prune != "none" and stage < self.active_selectors
                    and stage < len(self.sel_blocks) and self.sel_blocks[stage] == i):
                k = self.topk_tokens[stage] - 2 if prune == "topk" else None
                x, policy, _, keep = self.selectors[stage](x, policy, prune, k)
                out.policies.append(policy)
                out.keeps.append(keep)
                stage += 1
            x = blk(x, policy)
        return self.classify(x, out)

    def classify(self, x: Fx, out: Output) -> Output:
        """Final LayerNorm of the CLS row and the classifier."""
        cls = x.narrow(0, x.value.shape[-1])
        cls = cls.with_value(x.value[:, 0]) if cls.qt is not None else Fx(x.value[:, 0])
        h = self.ln_f_out(self.ln_f(cls)[0])
        out.logits, out.logits_frac = self.head(h)
        return out
