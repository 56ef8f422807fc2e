"""Block diagram of the RTL accelerator (rtl/sievit_top.sv), drawn with matplotlib from the
small description below.

    python scripts/block_diagram.py [OUT.png] [--hw fmnist|deit_tiny|zcu102]

OUT.png defaults to docs/rtl/block_diagram.png; the array sizes written in the boxes come
from the preset (rtl/program.py PRESETS, default fmnist). What the picture says, from
sievit_top.sv: a controller fetches descriptors through the one burst read port (64-bit
beats) and runs one engine per descriptor; the port then serves that engine (attention and
mlp reach it through the shared linear array); activations stay in the top's buffers X, H,
IDS and SC, streamed to the running engine and back; the image enters on s_axis (patch_embed
only); per pruning stage {n_fused, n_new} and the kept ids, then the logits, leave on m_axis."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LANES = 8  # sievit.rtl.program.RTL_LANES


@dataclass(frozen=True)
class Block:
    x: float        # lower-left corner, width and height in figure units (0..16 x 0..10)
    y: float
    w: float
    h: float
    label: str
    color: str
    parent: str | None = None  # drawn inside another block (smaller text)


def blocks(hw) -> dict[str, Block]:
    """Every box of the diagram; the preset `hw` sizes the MAC arrays."""
    aux = f"{hw.aux_rows}×{hw.aux_cols}×{LANES}\naux array"
    ext, top, eng, buf, mac = "#e8e8e8", "#fff7e0", "#dbe9f6", "#e3f2d9", "#f9d9d2"
    return {
        "top": Block(2.9, 0.3, 12.9, 9.3, "sievit_top", top),
        "memory": Block(0.2, 7.4, 2.3, 2.0, "external memory\n(DDR / sim_memory):\nprogram, weights,\nbiases", ext),
        "image": Block(0.2, 3.0, 2.3, 1.0, "image in: s_axis\n(64-bit beats)", ext),
        "result": Block(16.2, 0.9, 1.7, 1.9, "result out: m_axis\nper stage\n{n_fused, n_new},\nkept ids;\nthen logits", ext),
        "port": Block(3.2, 8.0, 3.0, 1.3, "burst read port\n(mem_req / mem_rsp):\nthe controller while fetching,\nelse the running engine", top),
        "ctrl": Block(6.8, 8.0, 3.9, 1.3, "controller: fetch a descriptor, select\nits engine and buffer segments, run;\nlive token count n, cycle counters", top),
        "bufs": Block(11.2, 7.7, 4.4, 1.6, "activation buffers", buf),
        "X": Block(11.3, 7.8, 1.0, 0.75, "X\ntokens", buf, "bufs"),
        "H": Block(12.35, 7.8, 1.0, 0.75, "H\nLN out", buf, "bufs"),
        "IDS": Block(13.4, 7.8, 1.0, 0.75, "IDS\ntoken ids", buf, "bufs"),
        "SC": Block(14.45, 7.8, 1.05, 0.75, "SC\nkeep scores", buf, "bufs"),
        "array": Block(6.4, 5.6, 4.6, 1.2, f"shared linear array (u_array): {hw.rows}×{hw.cols}×{LANES} = "
                       f"{hw.mac_lanes} MACs/cycle,\nDSP-packed; attention's Q, K, V, proj and mlp's fc1, fc2", mac),
        "embed": Block(3.2, 2.2, 1.5, 2.7, f"patch_embed\n\npatches →\nlinear,\n+CLS, +pos\n\n{aux}", eng),
        "ln": Block(4.85, 2.2, 1.4, 2.7, "layernorm\n\nsum, var,\nisqrt,\n4-bit/cycle\ndivider", eng),
        "attn": Block(6.4, 2.2, 2.9, 2.7, "attention", eng),
        "qk": Block(6.55, 3.85, 2.6, 0.6, f"Q·Kᵀ: {hw.qk_keys} keys × {LANES} ch / cycle", eng, "attn"),
        "smax": Block(6.55, 3.05, 2.6, 0.6, f"softmax: {hw.exp_lanes} exp / cycle\n+ reciprocal divider", eng, "attn"),
        "av": Block(6.55, 2.3, 2.6, 0.55, f"A·V: {hw.av_keys} keys × 8 ch / cycle", eng, "attn"),
        "mlp": Block(9.45, 2.2, 1.55, 2.7, "mlp\n\nfc1 → GELU,\nfc2 +\nresidual", eng),
        "score": Block(11.15, 2.2, 1.55, 2.7, f"pruning_score\n\nHeatViT\nkeep scores\n\n{aux}", eng),
        "prune": Block(12.85, 2.2, 1.3, 2.7, "pruning\n\nselect,\npackage\ntoken,\ncompact", eng),
        "head": Block(14.3, 2.2, 1.1, 2.7, "head\n\nLN(CLS)\n→ classi-\nfier\n8×8 MACs", eng),
    }


WEIGHT_BUS_Y, STREAM_BUS_Y, BUF_DROP_X = 7.3, 1.45, 15.6
# horizontal buses: (x0, x1, y, label, colour)
BUSES = [
    (3.95, 14.85, WEIGHT_BUS_Y, "weights, biases, γ/β, cls/pos: burst reads by the running engine",
     "tab:orange"),
    (3.95, BUF_DROP_X, STREAM_BUS_Y, "engine stream (64-bit beats): buffer segments → running engine → "
     "buffers or m_axis", "tab:blue"),
]
# vertical links: (x, y_from, y_to, two-way, colour)
LINKS = [
    (4.7, 8.0, WEIGHT_BUS_Y, False, "tab:orange"),          # read port -> weight bus
    (3.95, WEIGHT_BUS_Y, 4.9, False, "tab:orange"),         # -> patch_embed
    (5.55, WEIGHT_BUS_Y, 4.9, False, "tab:orange"),         # -> layernorm
    (8.7, WEIGHT_BUS_Y, 6.8, False, "tab:orange"),          # -> shared array
    (11.9, WEIGHT_BUS_Y, 4.9, False, "tab:orange"),         # -> pruning_score
    (14.85, WEIGHT_BUS_Y, 4.9, False, "tab:orange"),        # -> head
    (7.85, 5.6, 4.9, True, "tab:red"),                      # array <-> attention
    (10.2, 5.6, 4.9, True, "tab:red"),                      # array <-> mlp
    (BUF_DROP_X, 7.7, STREAM_BUS_Y, True, "tab:blue"),      # buffers <-> stream bus
    (3.95, 2.2, STREAM_BUS_Y, False, "tab:blue"),           # patch_embed -> tokens
    (5.55, 2.2, STREAM_BUS_Y, True, "tab:blue"),
    (7.85, 2.3, STREAM_BUS_Y, True, "tab:blue"),
    (10.2, 2.2, STREAM_BUS_Y, True, "tab:blue"),
    (11.9, 2.2, STREAM_BUS_Y, True, "tab:blue"),
    (13.5, 2.2, STREAM_BUS_Y, True, "tab:blue"),
    (14.85, 2.2, STREAM_BUS_Y, True, "tab:blue"),
]
# horizontal arrows between boxes: (x0, x1, y, two-way, label)
ARROWS = [
    (2.5, 3.2, 8.6, True, ""),            # memory <-> read port
    (6.2, 6.8, 8.65, False, "program"),   # read port -> controller: descriptors
    (2.5, 3.2, 3.5, False, ""),           # image -> patch_embed
]


def _arrow(ax, p, q, both: bool, color: str, lw: float = 1.3) -> None:
    ax.annotate("", q, p, arrowprops={"arrowstyle": "<|-|>" if both else "-|>", "lw": lw,
                                      "color": color, "shrinkA": 0, "shrinkB": 0,
                                      "mutation_scale": 10}, zorder=4)


def draw(hw, out: Path, preset: str) -> None:
    """Write the diagram of preset `hw` to `out`."""
    bl = blocks(hw)
    fig, ax = plt.subplots(figsize=(18, 10))
    ax.set_xlim(0, 18)
    ax.set_ylim(0, 10)
    ax.axis("off")
    for name, b in bl.items():
        outer = name == "top"
        ax.add_patch(FancyBboxPatch((b.x, b.y), b.w, b.h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                    fc=b.color, ec="0.25", lw=1.6 if outer else 1.0,
                                    zorder=0 if outer else 2 if b.parent else 1))
        if outer:
            ax.text(b.x + 0.15, b.y + 0.1, b.label, fontsize=13, weight="bold", zorder=3)
        elif name in ("attn", "bufs"):  # a container: its name on top
            ax.text(b.x + b.w / 2, b.y + b.h - 0.1, b.label, fontsize=10, weight="bold",
                    ha="center", va="top", zorder=3)
        else:
            ax.text(b.x + b.w / 2, b.y + b.h / 2, b.label, ha="center", va="center",
                    fontsize=8.5 if b.parent else 9, zorder=3)
    for x0, x1, y, label, color in BUSES:
        ax.plot([x0, x1], [y, y], color=color, lw=3, solid_capstyle="round", zorder=3)
        above = y > STREAM_BUS_Y  # the stream bus's label goes below it, clear of the arrows
        ax.text((x0 + x1) / 2, y + (0.08 if above else -0.1), label, fontsize=8.5, ha="center",
                va="bottom" if above else "top",
                color=color, zorder=5,
                bbox={"boxstyle": "round,pad=0.1", "fc": "#fff7e0", "ec": "none"})
    for x, y0, y1, both, color in LINKS:
        _arrow(ax, (x, y0), (x, y1), both, color)
    for x0, x1, y, both, label in ARROWS:
        _arrow(ax, (x0, y), (x1, y), both, "0.15")
        if label:
            ax.text((x0 + x1) / 2, y + 0.08, label, fontsize=7.5, ha="center", va="bottom")
    # the result stream leaves from the stream bus's end
    _arrow(ax, (BUF_DROP_X, STREAM_BUS_Y), (bl["result"].x, STREAM_BUS_Y), False, "tab:blue")
    # attention's own pipeline: Q.K^T blocks feed the softmax, whose probabilities feed A.V
    for upper, lower in (("qk", "smax"), ("smax", "av")):
        u, lo = bl[upper], bl[lower]
        _arrow(ax, (u.x + u.w / 2, u.y), (lo.x + lo.w / 2, lo.y + lo.h), False, "0.3", lw=1.0)
    ax.text(9.0, 9.95, f"sievit accelerator (rtl/sievit_top.sv), preset {preset}: one engine per "
            "descriptor over on-chip buffers; pruned tokens are never streamed (n shrinks)",
            ha="center", va="top", fontsize=11)
    ax.text(4.6, 0.4, "orange: memory reads; blue: engine stream; red: the shared array's "
            "GEMM ports. Engines: blue boxes; MAC array: red; buffers: green.",
            fontsize=8, color="0.3")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(out)


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    from sievit.rtl.program import PRESETS
    preset = "fmnist"
    if "--hw" in argv:
        i = argv.index("--hw")
        if i + 1 >= len(argv) or argv[i + 1] not in PRESETS:
            print(f"block_diagram: error: --hw takes one of {', '.join(PRESETS)}", file=sys.stderr)
            return 2
        preset = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    out = Path(argv[0]) if argv else ROOT / "docs" / "rtl" / "block_diagram.png"
    draw(PRESETS[preset], out, preset)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
