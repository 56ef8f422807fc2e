"""Print the demo's results table from the JSON files a demo run wrote."""
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
ev = json.loads((out / "eval.json").read_text())
ve = json.loads((out / "verify.json").read_text())
be = json.loads((out / "bench.json").read_text())
cs = json.loads((out / "csim.json").read_text())
co = json.loads((out / "cosim.json").read_text())
ys = json.loads((out / "rtl_synth.json").read_text())
co_dense, co_pruned = co["modes"]["none"], co["modes"][ev["prune_mode"]]


def deit_rows() -> list[tuple[str, str]]:
    """The committed DeiT-Tiny cosim reports (docs/rtl/, too long for the demo to rerun)."""
    docs = Path(__file__).resolve().parents[1] / "docs" / "rtl"
    rows = []
    for hw in ("zcu102", "deit_tiny"):
        runs = {m: json.loads((docs / f"cosim_deit_{hw}_{m}.json").read_text())
                for m in ("none", "topk")}
        d, t = runs["none"]["modes"]["none"], runs["topk"]["modes"]["topk"]
        rows.append((f"RTL DeiT-Tiny {hw} ({runs['none']['mac_lanes']} MACs/cycle, docs/rtl)",
                     f"dense {d['cycles_per_image'] / 1e6:.2f} M cycles, "
                     f"{100 * d['mac_utilization']:.0f} % util, "
                     f"{d['images_per_s_at_300mhz']:.0f} img/s; top-k "
                     f"{t['cycles_per_image'] / 1e6:.2f} M, {t['images_per_s_at_300mhz']:.0f} img/s; "
                     f"{d['mismatches'] + t['mismatches']} mismatches"))
    return rows


engine_cases = sum(e["cases"] for e in cs["engines"].values())
rows = [
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
    *deit_rows(),
    (f"RTL Yosys synth_xilinx ({ys['family']})",
     (f"{ys['lut']} LUT, " if ys.get("stage") != "before_luts"
      else f"before LUT mapping: {ys['gates']} gates for ABC9, ")
     + f"{ys['ff']} FF, {ys['dsp']} DSP, {ys['bram']} BRAM, {ys['lutram']} LUTRAM "
     f"(tokens {ys['params']['MAX_N']}, width {ys['params']['MAX_D']}, "
     f"MLP {ys['params']['MAX_H']})"),
]
width = max(len(r[0]) for r in rows)
print(f"\nResults on {ev['images']} Fashion-MNIST test images")
for k, v in rows:
    print(f"  {k:<{width}}  {v}")
sys.exit(1 if ve["mismatches"] or cs["mismatches"] or co["mismatches"] else 0)
