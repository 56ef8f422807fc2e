"""Device fix for Brevitas 0.13.4 runtime-statistics scaling on CUDA: on our GPU run its
stats tensor arrived on the CPU while the buffer lived on the GPU ("Expected all tensors to be
on the same device" in ParameterFromRuntimeStatsScaling.training_forward). The two in-place
helpers it calls are wrapped so the statistics follow the buffer's device."""
from __future__ import annotations

import brevitas.core.scaling.standalone as _standalone

_mul = _standalone.inplace_tensor_mul
_momentum = _standalone.inplace_momentum_update


def _mul_same_device(tensor, value):
    return _mul(tensor, value.to(tensor.device))


def _momentum_same_device(tensor, value, *args):
    return _momentum(tensor, value.to(tensor.device), *args)


def install() -> None:
    _standalone.inplace_tensor_mul = _mul_same_device
    _standalone.inplace_momentum_update = _momentum_same_device
