"""Cycle breakdown of RTL co-simulation runs as a stacked-bar picture.

    python scripts/rtl_cycles_plot.py OUT.png RUN.json [RUN.json ...]

Each RUN.json is the `sievit cosim --json` output of one run; every mode in it becomes one
bar, split into the top's phase counters (attention, mlp, pruning, layernorm, other), and is
labelled with its preset, mode, cycles, MAC utilization and images/s at 300 MHz."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PHASES = ("attention", "mlp", "pruning", "layernorm", "other")


def bars(runs: list[dict]) -> list[tuple[str, dict, dict]]:
    """(label, phases, mode result) per mode of every run."""
    out = []
    for run in runs:
        for mode, res in run["modes"].items():
            beat = f", {run['beat_bits']}-bit beats" if "beat_bits" in run else ", 64-bit beats"
            what = {"none": "dense", "reduce": run.get("method", "reduce")}.get(mode, mode)
            label = (f"{run['hw']} {what}\n"
                     f"({run['mac_lanes']} MACs/cycle{beat})")
            out.append((label, res["cycles_by_phase"], res))
    return out


def plot(runs: list[dict], path: Path) -> None:
    items = bars(runs)
    fig, ax = plt.subplots(figsize=(2.1 * len(items) + 2, 5.2))
    left = [0.0] * len(items)
    colors = plt.get_cmap("tab10").colors
    for p, phase in enumerate(PHASES):
        vals = [ph.get(phase, 0.0) / 1e6 for _, ph, _ in items]
        ax.bar(range(len(items)), vals, bottom=left, label=phase, color=colors[p])
        left = [a + b for a, b in zip(left, vals)]
    for i, (_, _, res) in enumerate(items):
        ax.text(i, left[i], f"{res['cycles_per_image'] / 1e6:.2f} M\n"
                f"{100 * res['mac_utilization']:.0f} % util\n"
                f"{res['images_per_s_at_300mhz']:.0f} img/s", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(items)), [lab for lab, _, _ in items], fontsize=8)
    ax.set_ylabel("cycles per image (millions)")
    ax.set_ylim(0, max(left) * 1.3)
    ax.set_title("sievit_top cycles per image by phase (Verilator cosim, bit-exact vs golden)",
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    runs = []
    for name in argv[1:]:
        try:
            runs.append(json.loads(Path(name).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            print(f"rtl_cycles_plot: {name} is not a cosim JSON report: {exc}", file=sys.stderr)
            return 2
    plot(runs, Path(argv[0]))
    print(f"rtl_cycles_plot: wrote {argv[0]} ({sum(len(r['modes']) for r in runs)} bars)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
