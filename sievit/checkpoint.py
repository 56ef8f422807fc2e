"""Read a PyTorch state-dict file (model.pt, float.pt), naming a corrupt or foreign file as
such instead of letting torch's own message ("pop from empty list") reach the user."""
from __future__ import annotations

from pathlib import Path

from sievit.errors import SievitError


def read_state(path: str | Path, map_location: object = "cpu") -> dict:
    """The state dict stored in `path` (tensors only: weights_only=True)."""
    import torch
    path = Path(path)
    if not path.is_file():
        raise SievitError(f"{path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, random bytes, a pickle with foreign objects
        text = str(exc)
        if "WeightsUnpickler error:" in text:  # drop torch's weights_only=False advice
            text = "unpickler: " + text.split("WeightsUnpickler error:", 1)[1]
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        first = " ".join(lines[:2]) if lines and lines[0] == "unpickler:" else \
            (lines or [type(exc).__name__])[0]
        size = path.stat().st_size
        raise SievitError(f"{path.name} is not a PyTorch checkpoint ({path}, {size} bytes; "
                          f"truncated or another kind of file): {first}") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise SievitError(f"{path.name} is a PyTorch file but not a model state dict ({path} "
                          f"holds a {type(state).__name__})")
    return state
