"""Pictures of what the golden model does: kept tokens per stage over test images, and the
accuracy / MAC trade-off of the selector modes."""
from __future__ import annotations

import copy
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sievit.data import CLASSES, Split  # noqa: E402
from sievit.quant.evaluate import golden_metrics  # noqa: E402
from sievit.quant.golden import Golden  # noqa: E402


def plot_kept_tokens(golden: Golden, split: Split, mode: str, out: Path, n: int = 8) -> None:
    """One row per image: the image, then the patches kept after each stage (others dimmed)."""
    r = golden.run(split.images[:n], mode)
    stages = len(r.kept)
    p, g = golden.m["patch_size"], golden.grid
    fig, axes = plt.subplots(n, stages + 1, figsize=(1.9 * (stages + 1), 1.9 * n))
    for i in range(n):
        img = split.images[i]
        pred = CLASSES[int(r.logits[i].argmax())]
        axes[i, 0].imshow(img, cmap="gray")
        axes[i, 0].set_title(f"{CLASSES[split.labels[i]]} → {pred}", fontsize=7)
        for s in range(stages):
            mask = np.zeros((g, g), dtype=bool)
            for tok in r.kept[s][i]:
                if tok > 0:
                    mask[(tok - 1) // g, (tok - 1) % g] = True
            big = np.kron(mask, np.ones((p, p), dtype=bool))
            shown = np.where(big, img, img // 5)
            axes[i, s + 1].imshow(shown, cmap="gray", vmin=0, vmax=255)
            axes[i, s + 1].set_title(f"stage {s + 1}: {int(r.tokens_per_stage[i, s])} tokens",
                                     fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"HeatViT selector ({mode}): kept patches, pruned ones dimmed", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def tradeoff(golden: Golden, split: Split, budgets: list[list[int]]) -> list[dict]:
    """Top-1 and mean MACs for dense, threshold and each top-k budget."""
    rows = []

    def measure(g: Golden, mode: str, label: str) -> None:
        m = golden_metrics(g, split, mode)
        rows.append({"setting": label, "acc": m["acc"], "macs": m["macs"]})

    measure(golden, "none", "dense")
    measure(golden, "threshold", "threshold")
    for tk in budgets:
        b = copy.copy(golden.b)
        b.config = copy.deepcopy(golden.b.config)
        b.config["reduction"]["topk_tokens"] = tk
        measure(Golden(b), "topk", f"top-k {tk}")
    return rows


def plot_tradeoff(rows: list[dict], out: Path, title: str) -> None:
    dense = rows[0]["macs"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for row in rows:
        x = 100 * row["macs"] / dense
        ax.scatter(x, 100 * row["acc"], s=25)
        ax.annotate(row["setting"], (x, 100 * row["acc"]), fontsize=7,
                    xytext=(4, -3), textcoords="offset points")
    ax.set_xlabel("MACs per image (% of dense)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def _patch_fates(r, stage: int, i: int, n_tokens: int) -> np.ndarray:
    """Per original token: its representative id (>= 0), -1 dropped, -2 fused."""
    if r.origins:
        return r.origins[stage][i]
    fates = np.full(n_tokens, -2)  # HeatViT: not kept means fused into the package token
    kept = r.kept[stage][i]
    fates[kept] = kept
    return fates


def plot_reduction(golden: Golden, split: Split, mode: str, out: Path, title: str,
                   n: int = 6) -> None:
    """One row per image: the image, then per stage which patches stay as themselves, which
    are merged (one colour per merged token), dropped (black) or fused into a package / extra
    token (dark blue)."""
    r = golden.run(split.images[:n], mode)
    stages = len(r.kept)
    p, g = golden.m["patch_size"], golden.grid
    cmap = plt.get_cmap("tab20")
    width = 1.6 * (stages + 1)
    fig, axes = plt.subplots(n, stages + 1, figsize=(width, 1.7 * n + 0.3), squeeze=False,
                             layout="constrained")  # makes room for the wrapped suptitle
    for i in range(n):
        img = split.images[i].astype(float) / 255.0
        axes[i, 0].imshow(img, cmap="gray", vmin=0, vmax=1)
        axes[i, 0].set_title(f"{CLASSES[split.labels[i]]} → {CLASSES[int(r.logits[i].argmax())]}",
                             fontsize=6)
        for s in range(stages):
            fates = _patch_fates(r, s, i, g * g + 1)
            rgb = np.repeat(img[..., None], 3, axis=-1)
            groups = {rep: np.sum(fates == rep) for rep in set(fates.tolist()) if rep >= 0}
            for tok in range(1, g * g + 1):
                fate = fates[tok]
                sl = np.s_[(tok - 1) // g * p:((tok - 1) // g + 1) * p,
                           (tok - 1) % g * p:((tok - 1) % g + 1) * p]
                if fate == -1:
                    rgb[sl] = 0.0
                elif fate == -2:
                    rgb[sl] = 0.25 * rgb[sl] + np.array([0.0, 0.05, 0.35])
                elif groups[fate] > 1:
                    rgb[sl] = 0.45 * rgb[sl] + 0.55 * np.array(cmap(fate % 20)[:3])
            axes[i, s + 1].imshow(np.clip(rgb, 0, 1))
            axes[i, s + 1].set_title(f"stage {s + 1}: {int(r.tokens_per_stage[i, s])} tok", fontsize=6)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    # wrapped to the figure's width (about 0.55 em per character at 8 pt), never clipped
    chars = max(20, int(width * 72 / (8 * 0.55)) - 4)
    fig.suptitle("\n".join(textwrap.wrap(title, chars)), fontsize=8)
    fig.savefig(out, dpi=110)
    plt.close(fig)
