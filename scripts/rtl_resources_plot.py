"""Resource chart of the Yosys synth_xilinx report of the RTL top.

    python scripts/rtl_resources_plot.py [REPORT.json [OUT.png]]

REPORT.json (default docs/rtl_synth.json) is the `sievit rtl-synth --json` output; its
fields lut, ff, dsp, bram, lutram and carry become one bar each, labelled with the count and
its share of a Zynq UltraScale+ XCZU9EG (the ZCU102's part, for scale). OUT.png defaults to
docs/rtl/resources.png. A report made from other RTL sources than the checkout's is still
drawn, and the title says so. Exit 2 on a missing or malformed report (nothing written)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {"lut": "LUT", "ff": "FF", "dsp": "DSP", "bram": "BRAM (36 Kb)",
          "lutram": "LUTRAM", "carry": "CARRY8"}
# XCZU9EG (Zynq UltraScale+ product table): CLB LUTs, CLB flip-flops, DSP48E2 slices,
# 36 Kb block RAMs, LUTs usable as distributed RAM, CARRY8 chains (one per 8 LUTs)
XCZU9EG = {"lut": 274_080, "ff": 548_160, "dsp": 2_520, "bram": 912, "lutram": 144_000,
           "carry": 34_260}


def load_report(path: Path) -> tuple[dict, bool]:
    """(report, current): current is False when the report was made from other RTL sources
    than this checkout's (or the check cannot run). Raises ValueError on a bad report."""
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable synthesis report ({exc})") from None
    if not isinstance(report, dict):
        raise ValueError(f"{path}: not a synthesis report (JSON {type(report).__name__})")
    missing = [k for k in FIELDS if not isinstance(report.get(k), int) or report[k] < 0]
    if missing:
        raise ValueError(f"{path}: synthesis report lacks counts for {', '.join(missing)}")
    try:
        from sievit.rtl.yosys import cached_report
        cached_report(path)
        current = True
    except Exception:  # stale, or sievit not importable: draw it, and say so
        current = False
    return report, current


def plot(report: dict, current: bool, out: Path) -> None:
    """Horizontal bars: each resource's count, with its share of an XCZU9EG."""
    keys = list(FIELDS)
    share = [100 * report[k] / XCZU9EG[k] for k in keys]
    fig, ax = plt.subplots(figsize=(7.6, 3.6))
    colors = plt.get_cmap("tab10").colors
    ax.barh(range(len(keys)), share, color=[colors[i] for i in range(len(keys))])
    for i, k in enumerate(keys):
        ax.text(share[i] + 0.8, i, f"{report[k]:,} of {XCZU9EG[k]:,} ({share[i]:.1f} %)",
                va="center", fontsize=8)
    ax.set_yticks(range(len(keys)), [FIELDS[k] for k in keys], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, max(100.0, max(share) * 1.45))
    ax.set_xlabel("share of an XCZU9EG (ZCU102), %")
    p = report.get("params", {})
    shape = ", ".join(f"{k}={v}" for k, v in p.items()) if isinstance(p, dict) else ""
    state = "" if current else " (report from other RTL sources than this checkout)"
    ax.set_title(f"{report.get('top', 'sievit_top')}: Yosys synth_xilinx "
                 f"({report.get('family', '?')}){state}\n{shape}", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.png")
    fig.savefig(tmp, dpi=130)
    plt.close(fig)
    tmp.replace(out)


def main(argv: list[str]) -> int:
    report_path = Path(argv[0]) if argv else ROOT / "docs" / "rtl_synth.json"
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "rtl" / "resources.png"
    try:
        report, current = load_report(report_path)
    except ValueError as exc:
        print(f"rtl_resources_plot: error: {exc}", file=sys.stderr)
        return 2
    plot(report, current, out)
    print(f"wrote {out} ({'current' if current else 'stale'} report {report_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
