"""The short human summary each `sievit` command ends with (without --json), and the check
outcome that sets exit code 1: a result with `mismatches` > 0 or a non-empty
`checks_failed` list ran, but found the design wrong."""
from __future__ import annotations

from collections.abc import Callable


def failed_checks(result: object) -> list[str]:
    """What failed, one phrase each; empty when every check passed (or none ran)."""
    if not isinstance(result, dict):
        return []
    out = [str(c) for c in result.get("checks_failed", []) or []]
    mism = result.get("mismatches")
    if isinstance(mism, int) and mism > 0:
        out.insert(0, f"{mism} mismatches against the golden model")
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def _modes(result: dict, what: str) -> str:
    modes = result.get("modes")
    if isinstance(modes, dict) and modes:
        per = ", ".join(f"{m} {r.get('mismatches', '?')}" for m, r in modes.items())
        return f"{result.get('mismatches', 0)} mismatches of {result.get('images', '?')} {what} ({per})"
    return f"{result.get('mismatches', 0)} mismatches of {result.get('images', '?')} {what}"


def _train(r: dict) -> list[str]:
    stages = r.get("stages", {})
    wall = f" in {r['wall_time_s']} s" if "wall_time_s" in r else ""
    return [f"trained {len(stages)} stages ({', '.join(stages)}){wall} on {r.get('device', '?')}"
            if stages else f"training done: {_generic(r)}"]


def _export(r: dict) -> list[str]:
    return [f"exported bundle {r['out']}: {r['arrays']} arrays, {r['fracs']} fractional-bit entries"]


def _eval(r: dict) -> list[str]:
    lines = [f"{r['images']} images: float {_pct(r['float_acc'])}, int8 dense {_pct(r['int_dense_acc'])}, "
             f"int8 {r['prune_mode']} {_pct(r['int_pruned_acc'])} at {_pct(r['mac_reduction'])} fewer MACs"]
    sat = r.get("saturation")
    if isinstance(sat, dict):
        lines.append("golden saturations: " + ", ".join(
            f"{m} {s['saturated']} of {s['elements']} values" for m, s in sat.items()))
    return lines


def _verify(r: dict) -> list[str]:
    modes = r.get("modes", [])
    return [f"golden vs Brevitas model: {r['mismatches']} mismatches of {r['images']} images "
            f"x {len(modes)} modes ({', '.join(modes)})"]


def _bench(r: dict) -> list[str]:
    if "rows" in r:
        return [f"pareto: {len(r['rows'])} rows on {r.get('images', '?')} images in {r.get('wall_s', '?')} s"]
    if "draws" in r:
        return [f"fuzz: {r['draws']} random shapes, {r['mismatches']} mismatches "
                f"({r.get('refused', 0)} refused by a config check or a hardware limit; checked: "
                f"{r.get('shapes_checked')}), {r.get('wall_s', '?')} s"]
    speeds = ", ".join(f"{k[:-len('_images_per_s')]} {v} img/s" for k, v in r.items()
                       if k.endswith("_images_per_s"))
    return [f"golden model on {r['images']} images (batch {r['batch']}): {speeds}"]


def _plot(r: dict) -> list[str]:
    return [f"wrote {', '.join(r['pngs'])} ({len(r['rows'])} settings on the {r['split']} split)"]


def _export_hls(r: dict) -> list[str]:
    return [f"wrote HLS project {r['project']}: {r['linears']} linear layers, {r['layernorms']} "
            f"LayerNorms, {r['lanes']} lanes, {r['part']} at {r['clock_mhz']:g} MHz"]


def _csim(r: dict) -> list[str]:
    lines = [f"HLS C-sim vs golden: {_modes(r, 'images')}"] if r.get("modes") else []
    eng = r.get("engines")
    if isinstance(eng, dict):
        cases = sum(e.get("cases", 0) for e in eng.values())
        bad = sum(e.get("mismatches", 0) for e in eng.values())
        lines.append(f"engines: {bad} mismatches of {cases} cases in {len(eng)} engines")
    if "hls4ml_head" in r:
        lines.append(f"hls4ml head cross-check: {r['hls4ml_head'].get('mismatches')} mismatches")
    return lines or [f"HLS C-sim: {r.get('mismatches', 0)} mismatches"]


def _cosim(r: dict) -> list[str]:
    return [f"RTL co-sim vs golden ({r['sim']}, hw {r['hw']}): {_modes(r, 'images')}; "
            f"{r['cycles_per_image']:.0f} cycles/image, MAC utilization {_pct(r['mac_utilization'])}"]


def _rtl_synth(r: dict) -> list[str]:
    luts = (f"{r.get('gates')} gates before LUT mapping" if r.get("stage") == "before_luts"
            else f"{r.get('lut')} LUT")
    return [f"sievit_top: {luts}, {r.get('ff')} FF, {r.get('dsp')} DSP, "
            f"{r.get('bram')} BRAM"]


def _synth(r: dict) -> list[str]:
    return [f"{r.get('top')}: latency {r.get('latency_cycles')} cycles, resources {r.get('resources')}"]


def _generic(r: object) -> str:
    if not isinstance(r, dict):
        return str(r)[:200]
    scalars = [f"{k} {v}" for k, v in r.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    return ", ".join(scalars[:6]) or f"{len(r)} result fields"


SUMMARIES: dict[str, Callable[[dict], list[str]]] = {
    "train": _train, "export": _export, "eval": _eval, "verify": _verify, "bench": _bench,
    "plot": _plot, "export-hls": _export_hls, "csim": _csim, "cosim": _cosim,
    "rtl-synth": _rtl_synth, "synth": _synth}


def summary(cmd: str, result: object) -> list[str]:
    """Human lines for a finished command, the last one saying OK or FAILED."""
    try:
        lines = SUMMARIES[cmd](result) if cmd in SUMMARIES and isinstance(result, dict) else []
    except (KeyError, TypeError, ValueError):  # a result without the usual fields
        lines = []
    if not lines:
        lines = [_generic(result)]
    failed = failed_checks(result)
    lines.append(f"FAILED: {'; '.join(failed)}" if failed else "OK")
    return [f"sievit {cmd}: {line}" for line in lines]
