"""The demo's results table from the JSON files a demo run wrote.

`python scripts/results_table.py OUT` prints it (scripts/demo.sh, exit 1 on any mismatch);
scripts/render_docs.py puts the same lines into README.md from the committed copy in docs/demo/.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

# the JSON files `scripts/demo.sh` writes, one per step
DEMO_FILES = ("eval", "verify", "bench", "csim", "cosim", "rtl_synth")


def load(out: Path) -> dict[str, dict]:
    """The demo's JSON files under `out`, by step name."""
    return {name: json.loads((out / f"{name}.json").read_text()) for name in DEMO_FILES}


def deit_rows(docs_rtl: Path) -> list[tuple[str, str]]:
    """The committed DeiT-Tiny cosim reports (docs/rtl/, too long for the demo to rerun)."""
    rows = []
    for hw in ("zcu102", "deit_tiny"):
        runs = {m: json.loads((docs_rtl / f"cosim_deit_{hw}_{m}.json").read_text())
                for m in ("none", "topk")}
        d, t = runs["none"]["modes"]["none"], runs["topk"]["modes"]["topk"]
        rows.append((f"RTL DeiT-Tiny {hw} ({runs['none']['mac_lanes']} MACs/cycle, docs/rtl)",
                     f"dense {d['cycles_per_image'] / 1e6:.2f} M cycles, "
                     f"{100 * d['mac_utilization']:.0f} % util, "
                     f"{d['images_per_s_at_300mhz']:.0f} img/s; top-k "
                     f"{t['cycles_per_image'] / 1e6:.2f} M, {t['images_per_s_at_300mhz']:.0f} img/s; "
                     f"{d['mismatches'] + t['mismatches']} mismatches"))
    return rows


def rows(res: dict[str, dict], docs_rtl: Path) -> list[tuple[str, str]]:
    """(label, value) rows of the table from the demo's JSON results."""
    ev, ve, be, cs, co, ys = (res[k] for k in DEMO_FILES)
    co_dense, co_pruned = co["modes"]["none"], co["modes"][ev["prune_mode"]]
    engine_cases = sum(e["cases"] for e in cs["engines"].values())
    return [
        ("float top-1", f"{100 * ev['float_acc']:.2f} %"),
        ("int8 dense top-1 (golden)", f"{100 * ev['int_dense_acc']:.2f} %"),
        (f"int8 pruned top-1 (golden, {ev['prune_mode']})", f"{100 * ev['int_pruned_acc']:.2f} %"),
        ("MACs dense / pruned", f"{ev['macs_dense'] / 1e6:.2f} M / {ev['macs_pruned'] / 1e6:.2f} M "
                                f"({100 * ev['mac_reduction']:.1f} % fewer)"),
        ("tokens after each stage", ", ".join(f"{t:.1f}" for t in ev["tokens_per_stage"])),
        (f"int8 pruned top-1 ({ev['other_mode']['prune_mode']})",
         f"{100 * ev['other_mode']['int_pruned_acc']:.2f} % at "
         f"{100 * ev['other_mode']['mac_reduction']:.1f} % fewer MACs, tokens "
         + ", ".join(f"{t:.1f}" for t in ev["other_mode"]["tokens_per_stage"])),
        ("golden vs model mismatches", f"{ve['mismatches']} of {ve['images']} images x {len(ve['modes'])} modes"),
        ("golden speed (dense / pruned)", " / ".join(f"{v} img/s" for k, v in be.items() if k.endswith("_per_s"))),
        ("HLS C-sim vs golden mismatches", f"{cs['modes'][ev['prune_mode']]['mismatches'] + cs['modes']['none']['mismatches']} "
                                           f"of {cs['images']} images x {len(cs['modes'])} modes; "
                                           f"{sum(e['mismatches'] for e in cs['engines'].values())} of "
                                           f"{engine_cases} engine cases"),
        ("RTL co-sim vs golden mismatches", f"{co['mismatches']} of {co['images']} images x {len(co['modes'])} modes"),
        ("RTL cycles/image dense / pruned", f"{co_dense['cycles_per_image'] / 1e6:.2f} M / "
                                            f"{co_pruned['cycles_per_image'] / 1e6:.2f} M "
                                            f"({100 * co['cycle_saving']:.1f} % fewer; MACs "
                                            f"{100 * co['mac_saving']:.1f} % fewer)"),
        ("RTL MAC utilization dense / pruned", f"{100 * co_dense['mac_utilization']:.1f} % / "
                                               f"{100 * co_pruned['mac_utilization']:.1f} % of "
                                               f"{co['mac_lanes']} MACs/cycle; "
                                               f"{co_dense['images_per_s_at_300mhz']:.0f} / "
                                               f"{co_pruned['images_per_s_at_300mhz']:.0f} img/s at 300 MHz"),
        *deit_rows(docs_rtl),
        (f"RTL Yosys synth_xilinx ({ys['family']})",
         (f"{ys['lut']} LUT, " if ys.get("stage") != "before_luts"
          else f"before LUT mapping: {ys['gates']} gates for ABC9, ")
         + f"{ys['ff']} FF, {ys['dsp']} DSP, {ys['bram']} BRAM, {ys['lutram']} LUTRAM "
         f"(tokens {ys['params']['MAX_N']}, width {ys['params']['MAX_D']}, "
         f"MLP {ys['params']['MAX_H']})"),
    ]


def lines(res: dict[str, dict], docs_rtl: Path) -> list[str]:
    """The printed table: a title line, then one aligned line per row."""
    table = rows(res, docs_rtl)
    width = max(len(r[0]) for r in table)
    return [f"Results on {res['eval']['images']} Fashion-MNIST test images",
            *(f"  {k:<{width}}  {v}" for k, v in table)]


def failed(res: dict[str, dict]) -> bool:
    """True when any check of the demo found a mismatch."""
    return bool(res["verify"]["mismatches"] or res["csim"]["mismatches"] or res["cosim"]["mismatches"])


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: results_table.py OUT_DIR (the directory scripts/demo.sh wrote)", file=sys.stderr)
        return 2
    res = load(Path(argv[0]))
    print("\n" + "\n".join(lines(res, Path(__file__).resolve().parents[1] / "docs" / "rtl")))
    return 1 if failed(res) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
