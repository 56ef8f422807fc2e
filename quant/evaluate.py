"""Accuracy, MACs, tokens (golden model) and golden-vs-model verification, batched with
progress bars."""
from __future__ import annotations

import sys
import time

import numpy as np
import torch
from tqdm import tqdm

from sievit.data import Split
from sievit.model.vit import ViT
from sievit.quant.golden import Golden, GoldenResult

BATCH = 250


def golden_batches(golden: Golden, split: Split, mode: str, desc: str):
    for i in tqdm(range(0, len(split.labels), BATCH), desc=desc, file=sys.stderr, mininterval=2.0):
        yield i, golden.run(split.images[i:i + BATCH], mode)


def golden_metrics(golden: Golden, split: Split, mode: str) -> dict:
    correct, macs, tokens = 0, [], []
    for i, r in golden_batches(golden, split, mode, f"golden {mode}"):
        correct += int((r.logits.argmax(1) == split.labels[i:i + BATCH]).sum())
        macs.append(r.macs)
        tokens.append(r.tokens_per_stage)
    n = len(split.labels)
    out = {"acc": correct / n, "macs": float(np.concatenate(macs).mean())}
    tok = np.concatenate(tokens)
    out["tokens_per_stage"] = [round(float(t), 3) for t in tok.mean(0)] if tok.size else []
    return out


def float_accuracy(model: ViT, split: Split) -> float:
    correct = 0
    with torch.no_grad():
        for i in range(0, len(split.labels), BATCH):
            out = model(torch.from_numpy(split.images[i:i + BATCH]), prune="none")
            correct += int((out.logits.argmax(1).numpy() == split.labels[i:i + BATCH]).sum())
    return correct / len(split.labels)


def model_int_outputs(model: ViT, images: np.ndarray, mode: str) -> tuple[np.ndarray, list]:
    """The Brevitas model's integer eval path: int32 logits and kept ids per stage."""
    with torch.no_grad():
        out = model(torch.from_numpy(np.array(images)), prune=mode)
    logits = torch.round(out.logits * 2.0 ** out.logits_frac).to(torch.int64).numpy()
    kept = []
    for pol in out.policies:
        alive = pol[:, :model.n_patch + 1].numpy() > 0.5  # original tokens only (no extras)
        kept.append([np.nonzero(row)[0] for row in alive])
    return logits, kept


def compare(logits: np.ndarray, kept: list, r: GoldenResult) -> np.ndarray:
    """Per image: True where logits or any stage's kept ids differ."""
    bad = (logits != r.logits).any(axis=1)
    if len(kept) != len(r.kept):
        return np.ones(len(bad), dtype=bool)
    for s in range(len(kept)):
        bad |= np.array([not np.array_equal(a, b) for a, b in zip(kept[s], r.kept[s])])
    return bad


def verify(model: ViT, golden: Golden, split: Split, modes: list[str]) -> dict:
    start = time.time()
    mismatches, first = 0, []
    for mode in modes:
        for i in tqdm(range(0, len(split.labels), BATCH), desc=f"verify {mode}",
                      file=sys.stderr, mininterval=2.0):
            imgs = split.images[i:i + BATCH]
            logits, kept = model_int_outputs(model, imgs, mode)
            bad = compare(logits, kept, golden.run(imgs, mode))
            mismatches += int(bad.sum())
            first += [int(i + j) for j in np.nonzero(bad)[0][:5 - len(first)]]
    return {"images": len(split.labels), "modes": modes, "mismatches": mismatches,
            "first_mismatching_images": first, "wall_s": round(time.time() - start, 1)}
