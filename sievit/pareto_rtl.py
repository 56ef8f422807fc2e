"""The RTL columns of `sievit bench pareto`: every point of a method the RTL runs (dense,
HeatViT, EViT, CP-ViT; sievit.config.HARDWARE_METHODS) co-simulated on the first N test
images at its budget (`sievit cosim`, Verilator, fmnist preset): cycles per image, MAC
utilization, and the cycle saving against the dense row over the MAC saving.

Also: the golden columns of an earlier run (its JSON) can be reused, so that the RTL columns
are added without re-evaluating the whole test set (`--reuse-golden`)."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from sievit import fanout
from sievit.errors import SievitError

RTL_HW = "fmnist"


def rtl_method(method: str) -> bool:
    from sievit.config import HARDWARE_METHODS
    return method == "dense" or method in HARDWARE_METHODS["rtl"]


def _key(method: str, budget) -> str:
    return json.dumps([method, budget])


def reuse_golden_rows(path: Path, work: list[tuple], n: int) -> tuple[list[dict], dict]:
    """The golden rows of an earlier `bench pareto --json` output for exactly the points of
    `work` on the same number of images, in work order, and where they came from (the file
    and its run's wall time and jobs, or those of the run it reused in turn); SievitError
    naming what differs."""
    try:
        data = json.loads(Path(path).read_text())
        old = {_key(r["method"], r["budget"]): r for r in data["rows"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SievitError(f"--reuse-golden {path}: not a `bench pareto --json` output ({exc})") from None
    if data.get("images") != n:
        raise SievitError(f"--reuse-golden {path} evaluated {data.get('images')} images, "
                          f"this run asks for {n}")
    rows = []
    for method, ckpt, budget, _ in work:
        row = old.get(_key(method, budget))
        if row is None or row.get("checkpoint") != ckpt:
            raise SievitError(f"--reuse-golden {path} has no row for {method} at budget "
                              f"{budget} ({ckpt})")
        rows.append({k: v for k, v in row.items() if k != "rtl"})
    origin = data.get("golden_run") or {"file": str(path), "wall_s": data.get("wall_s"),
                                        "jobs": data.get("jobs")}
    return rows, origin


def add_rtl_columns(rows: list[dict], n_images: int, where: fanout.Where) -> dict:
    """Co-simulate each RTL-capable row (row["rtl"] = images, mismatches, cycles,
    mac_utilization, macs) and set cycle_saving / mac_saving / cycle_over_mac_saving against
    the dense row. Returns the totals {points, images, mismatches}."""
    from sievit.quant.bundle import save_bundle
    from sievit.rtl.cosim import cosim
    from sievit.pareto import _bundle
    total = {"points": 0, "images": n_images, "mismatches": 0, "hw": RTL_HW}
    with tempfile.TemporaryDirectory(prefix="sievit_pareto_rtl_") as tmp:
        saved: dict[str, Path] = {}
        for row in rows:
            if not rtl_method(row["method"]):
                continue
            ckpt = row["checkpoint"]
            if ckpt not in saved:
                saved[ckpt] = Path(tmp) / f"b{len(saved)}"
                save_bundle(_bundle(ckpt), saved[ckpt])
            mode = row["mode"]
            budget = None if row["method"] == "dense" else row["budget"]
            res = cosim(saved[ckpt], n_images, modes=[mode], hw_name=RTL_HW, where=where,
                        budget=budget)
            m = res["modes"][mode]
            row["rtl"] = {"images": res["images"], "mismatches": m["mismatches"],
                          "cycles": m["cycles_per_image"], "macs": m["macs_per_image"],
                          "mac_utilization": round(m["mac_utilization"], 4),
                          "cycles_by_phase": m["cycles_by_phase"]}
            total["points"] += 1
            total["mismatches"] += m["mismatches"]
    dense = rows[0].get("rtl")
    if dense is None:
        raise SievitError("the dense row has no RTL run")
    for row in rows:
        r = row.get("rtl")
        if r is None or row is rows[0]:
            continue
        mac_saving = 1 - r["macs"] / dense["macs"]
        cycle_saving = 1 - r["cycles"] / dense["cycles"]
        r["mac_saving"] = round(mac_saving, 4)
        r["cycle_saving"] = round(cycle_saving, 4)
        r["cycle_over_mac_saving"] = round(cycle_saving / mac_saving, 3) if mac_saving > 0 else None
    return total
