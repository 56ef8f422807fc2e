"""Building blocks shared by the ViT and the token reducers. In quant mode each one computes
the integer contract exactly in its forward pass (straight-through gradients in training);
in float mode it is the plain float layer."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from brevitas.nn import QuantIdentity, QuantLinear
from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Int32Bias
from brevitas.quant_tensor import IntQuantTensor
from torch import nn

from sievit.model import brevitas_compat, intfn
from sievit.quant import contract as C

LN_EPS = 1e-5
brevitas_compat.install()


def frac_of_scale(scale: torch.Tensor, strict: bool = True) -> int:
    """Fractional bits of a power-of-two scale 2^-frac. Brevitas collects activation statistics
    in its first training steps with unrestricted scales; there (strict=False) the nearest
    power of two is used, only for the straight-through integer forward."""
    log = -math.log2(float(scale.detach().reshape(-1)[0]))
    frac = int(round(log))
    if strict and abs(log - frac) > 1e-9:
        raise ValueError(f"scale {float(scale)} is not a power of two")
    return frac


@dataclass
class Fx:
    """An activation: its float value and, in quant mode, its fractional bits and the
    Brevitas quant tensor (needed by QuantLinear's int32 bias)."""
    value: torch.Tensor
    frac: int | None = None
    qt: IntQuantTensor | None = None

    def narrow(self, start: int, length: int) -> "Fx":
        """Channel slice [start, start+length) of the last dim."""
        value = self.value[..., start:start + length]
        if self.qt is None:
            return Fx(value)
        qt = IntQuantTensor(value, self.qt.scale, self.qt.zero_point, self.qt.bit_width,
                            self.qt.signed, self.qt.training)
        return Fx(value, self.frac, qt)

    def with_value(self, value: torch.Tensor) -> "Fx":
        """Same format, new values (which must lie on the same grid)."""
        if self.qt is None:
            return Fx(value)
        qt = IntQuantTensor(value, self.qt.scale, self.qt.zero_point, self.qt.bit_width,
                            self.qt.signed, self.qt.training)
        return Fx(value, self.frac, qt)

    def int(self) -> torch.Tensor:
        return intfn.to_int(self.value, self.frac)


def fixed_input(value: torch.Tensor, frac: int, quant: bool) -> Fx:
    """Wrap an already-integer-valued input (e.g. pixels - 128 at 2^-7) as an Fx."""
    if not quant:
        return Fx(value)
    scale = torch.tensor(2.0 ** -frac, dtype=value.dtype, device=value.device)
    zero = torch.tensor(0.0, dtype=value.dtype, device=value.device)
    bits = torch.tensor(8.0, dtype=value.dtype, device=value.device)
    return Fx(value, frac, IntQuantTensor(value, scale, zero, bits, True, False))


class ActQuant(Int8ActPerTensorFixedPoint):
    """Brevitas int8 fixed-point activation quantizer; statistics for 32 steps, then a learned
    power-of-two scale. Calibrate on the CPU (model.train.calibrate) before moving to a GPU."""
    collect_stats_steps = 32


class Act(nn.Module):
    """Signed int8 activation with a learned power-of-two scale (Brevitas fixed point):
    round half to even, saturate to [-128, 127]."""

    def __init__(self, quant: bool):
        super().__init__()
        self.quant = quant
        if quant:
            self.q = QuantIdentity(act_quant=ActQuant, return_quant_tensor=True)

    def forward(self, x: torch.Tensor) -> Fx:
        if not self.quant:
            return Fx(x)
        qt = self.q(x)
        return Fx(qt.value, frac_of_scale(qt.scale, strict=not self.training), qt)

    def frac(self) -> int:
        """The exported fractional bits (eval mode: the scale no longer depends on input)."""
        p = next(self.q.parameters())
        return self(torch.zeros(1, dtype=p.dtype, device=p.device)).frac


class Linear(nn.Module):
    """int8 weights (power-of-two scale, narrow range), int32 bias at the accumulator scale.
    Returns the accumulator value and its fractional bits (input frac + weight frac)."""

    def __init__(self, in_features: int, out_features: int, quant: bool):
        super().__init__()
        self.quant = quant
        if quant:
            self.lin = QuantLinear(in_features, out_features, bias=True,
                                   weight_quant=Int8WeightPerTensorFixedPoint,
                                   bias_quant=Int32Bias, return_quant_tensor=False)
        else:
            self.lin = nn.Linear(in_features, out_features)
        nn.init.trunc_normal_(self.lin.weight, std=0.02)
        nn.init.zeros_(self.lin.bias)

    def weight_frac(self) -> int:
        return frac_of_scale(self.lin.quant_weight().scale)

    def forward(self, x: Fx) -> tuple[torch.Tensor, int | None]:
        if not self.quant:
            return self.lin(x.value), None
        return self.lin(x.qt), x.frac + self.weight_frac()


def pot_param_frac(t: torch.Tensor, bits: int = 8) -> int:
    """Largest frac such that max|t| * 2^frac fits in a narrow signed `bits` integer."""
    maxabs = float(t.detach().abs().max().clamp(min=1e-12))
    return int(math.floor(math.log2(((1 << (bits - 1)) - 1) / maxabs)))


def quant_param(t: torch.Tensor, frac: int, bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """(fake-quantized float with STE, integer code) of a parameter at `frac`."""
    lim = (1 << (bits - 1)) - 1
    q = torch.clamp(torch.round(t.detach() * 2.0 ** frac), -lim, lim).to(torch.int64)
    return intfn.ste(intfn.from_int(q, frac, t.dtype), t), q


class LayerNorm(nn.Module):
    """Integer LayerNorm (quant) / torch LayerNorm (float). Output: value and frac."""

    def __init__(self, dim: int, quant: bool):
        super().__init__()
        self.quant = quant
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def int_params(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        """gamma int8, beta int32 (at LN_NORM_FRAC + gamma frac), gamma frac."""
        fg = pot_param_frac(self.weight)
        _, g = quant_param(self.weight, fg)
        _, b = quant_param(self.bias, C.LN_NORM_FRAC + fg, bits=32)
        return g, b, fg

    def forward(self, x: Fx) -> tuple[torch.Tensor, int | None]:
        dim = x.value.shape[-1]
        if not self.quant:
            return F.layer_norm(x.value, (dim,), self.weight, self.bias, LN_EPS), None
        fg = pot_param_frac(self.weight)
        g_fq, g = quant_param(self.weight, fg)
        b_fq, b = quant_param(self.bias, C.LN_NORM_FRAC + fg, bits=32)
        out = intfn.layernorm_int(x.int(), g, b)
        frac = C.LN_NORM_FRAC + fg
        surrogate = F.layer_norm(x.value, (dim,), g_fq, b_fq, LN_EPS)
        return intfn.ste(intfn.from_int(out, frac, x.value.dtype), surrogate), frac


def gelu(x: Fx) -> torch.Tensor:
    """Integer GELU (value at frac GELU_OUT_FRAC) / exact GELU in float mode."""
    if x.frac is None:
        return F.gelu(x.value)
    out = intfn.gelu_int(x.int(), x.frac)
    return intfn.ste(intfn.from_int(out, C.GELU_OUT_FRAC, x.value.dtype), F.gelu(x.value))


def softmax(logits: torch.Tensor, frac: int | None, policy: torch.Tensor | None) -> torch.Tensor:
    """Softmax over keys. policy: [B, N] keep mask (0/1 floats, STE gradients) or None.
    The surrogate is DynamicViT's policy-weighted softmax so the selector gets gradients."""
    if policy is None:
        surrogate = torch.softmax(logits, dim=-1)
        valid = None
    else:
        n = logits.shape[-1]
        pol = policy[:, None, None, :]
        eye = torch.eye(n, dtype=logits.dtype, device=logits.device)[None, None]
        attn_pol = pol + (1.0 - pol) * eye
        shifted = logits - logits.detach().amax(dim=-1, keepdim=True)
        e = torch.exp(shifted) * attn_pol
        surrogate = e / (e.sum(dim=-1, keepdim=True) + 1e-6)
        valid = policy.detach()[:, None, None, :] > 0.5
    if frac is None:
        return surrogate
    probs = intfn.softmax_int(intfn.to_int(logits, frac), frac, valid)
    return intfn.ste(intfn.from_int(probs, C.SOFTMAX_OUT_FRAC, logits.dtype), surrogate)


def sigmoid(d: torch.Tensor, frac: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(probability value, Q0.8 integer or None) of a logit difference."""
    surrogate = torch.sigmoid(d)
    if frac is None:
        return surrogate, None
    p = intfn.sigmoid_int(intfn.to_int(d, frac), frac)
    return intfn.ste(intfn.from_int(p, C.SIGMOID_OUT_FRAC, d.dtype), surrogate), p
