"""Accuracy, MACs, tokens (golden model) and golden-vs-model verification, batched with
progress bars; `evaluate` and `verify` run their image chunks through sievit.fanout (in this
process or on Dask workers) with the same result either way."""
from __future__ import annotations

import sys
import time

import numpy as np
import torch
from tqdm import tqdm

from sievit import fanout
from sievit.data import Split
from sievit.model.vit import ViT
from sievit.quant.golden import Golden, GoldenResult
from sievit.quant.intops import count_saturation

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
    return float_correct(model, split.images, split.labels) / len(split.labels)


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


def load_golden_and_model(ckpt: str) -> tuple[Golden, ViT]:
    """The checkpoint's golden model and Brevitas model, loaded once per process."""
    def load():
        from sievit.quant.export import export_checkpoint, load_checkpoint
        model = load_checkpoint(ckpt)
        return Golden(export_checkpoint(ckpt, model)), model
    return fanout.cached(("golden+model", *fanout.file_key(ckpt)), load)


def load_float_model(ckpt: str) -> ViT:
    """The checkpoint's float model (float.pt), loaded once per process."""
    def load():
        from sievit.quant.export import load_checkpoint
        return load_checkpoint(ckpt, quant=False, which="float.pt")
    return fanout.cached(("float", *fanout.file_key(ckpt)), load)


def eval_chunk(ckpt: str, images: np.ndarray, labels: np.ndarray, modes: list[str]) -> dict:
    """One chunk of `evaluate`: per image, float and golden correctness, MACs and tokens per
    stage per mode, and the golden model's saturation counts per mode."""
    golden, _ = load_golden_and_model(ckpt)
    out = {"float_correct": float_correct(load_float_model(ckpt), images, labels), "modes": {}}
    for m in modes:
        with count_saturation() as sat:
            r = golden.run(images, m)
        out["modes"][m] = {"correct": int((r.logits.argmax(1) == labels).sum()),
                           "macs": r.macs, "tokens": r.tokens_per_stage,
                           "saturated": dict(sat.saturated), "elements": dict(sat.elements)}
    return out


def _merge_metrics(parts: list[dict], n: int) -> dict:
    """acc, mean MACs and tokens per stage over the images of every part, in order."""
    out = {"acc": sum(p["correct"] for p in parts) / n,
           "macs": float(np.concatenate([p["macs"] for p in parts]).mean())}
    tok = np.concatenate([p["tokens"] for p in parts])
    out["tokens_per_stage"] = [round(float(t), 3) for t in tok.mean(0)] if tok.size else []
    return out


def _merge_saturation(parts: list[dict]) -> dict:
    """The saturation report of one counter that saw every part in order."""
    from sievit.quant.intops import SaturationCounter
    total = SaturationCounter()
    for p in parts:
        for name, k in p["saturated"].items():
            total.saturated[name] = total.saturated.get(name, 0) + k
            total.elements[name] = total.elements.get(name, 0) + p["elements"][name]
    return total.report()


def evaluate(ckpt: str, split: Split, modes: list[str], pool: fanout.Pool) -> dict:
    """Float accuracy, and per mode the golden model's accuracy, MACs, tokens per stage and
    saturations, on `split`; chunks of images run on `pool`."""
    ckpt, n = fanout.absolute(ckpt), len(split.labels)
    spans = fanout.spans(n, fanout.chunk_size(n, pool.workers, BATCH))
    parts = pool.map(eval_chunk, [(ckpt, split.images[a:b], split.labels[a:b], modes)
                                  for a, b in spans], "eval", [b - a for a, b in spans])
    out = {"float_acc": sum(p["float_correct"] for p in parts) / n, "modes": {}}
    for m in modes:
        per = [p["modes"][m] for p in parts]
        out["modes"][m] = {**_merge_metrics(per, n), "saturation": _merge_saturation(per)}
    return out


def float_correct(model: ViT, images: np.ndarray, labels: np.ndarray) -> int:
    """How many of `images` the float model classifies right."""
    correct = 0
    with torch.no_grad():
        for i in range(0, len(labels), BATCH):
            out = model(torch.from_numpy(images[i:i + BATCH]), prune="none")
            correct += int((out.logits.argmax(1).numpy() == labels[i:i + BATCH]).sum())
    return correct


def verify_chunk(ckpt: str, images: np.ndarray, modes: list[str]) -> dict:
    """One chunk of `verify`: per mode, per image, True where the Brevitas model's integer
    path differs from the golden model."""
    golden, model = load_golden_and_model(ckpt)
    out = {}
    for mode in modes:
        logits, kept = model_int_outputs(model, images, mode)
        out[mode] = compare(logits, kept, golden.run(images, mode))
    return out


def verify(ckpt: str, split: Split, modes: list[str], pool: fanout.Pool) -> dict:
    """Golden model == the Brevitas model's integer eval path on `split`, per mode; chunks
    of images run on `pool`."""
    start = time.time()
    ckpt, n = fanout.absolute(ckpt), len(split.labels)
    spans = fanout.spans(n, fanout.chunk_size(n, pool.workers, BATCH))
    parts = pool.map(verify_chunk, [(ckpt, split.images[a:b], modes) for a, b in spans],
                     "verify", [b - a for a, b in spans])
    mismatches, first = 0, []
    for mode in modes:
        bad = np.concatenate([p[mode] for p in parts])
        mismatches += int(bad.sum())
        first += [int(i) for i in np.nonzero(bad)[0][:5 - len(first)]]
    return {"images": n, "modes": modes, "mismatches": mismatches,
            "first_mismatching_images": first, "wall_s": round(time.time() - start, 1)}
