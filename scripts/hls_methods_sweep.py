"""HLS C-sim of every reduction method at every budget of its `reduction.pareto` against the
golden model: export-hls --budget B, then csim --modes reduce on the first N test images, runs
side by side (--jobs). Writes one JSON (docs/hls_methods_1000.json) with a row per run.

    python scripts/hls_methods_sweep.py --images 1000 --jobs 16 --out docs/hls_methods_1000.json

Bundles come from --bundles DIR/<method> when present, else are exported from
checkpoints/fmnist_<method>. --shipped-only M..: only the checkpoint's own budget of these
methods; --merge OLD.json keeps OLD's rows (with their commit) for the runs not repeated.
Exit 0: no mismatching image; 1: some; 2: bad input."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from tqdm import tqdm

from sievit.quant.budgets import KNOB

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("evit", "tome", "ppt", "cpvit", "cait", "prance")


def sievit(*args: str) -> subprocess.CompletedProcess:
    # outside the repository root, where `-m` would find the unmapped sievit/ folder first
    return subprocess.run([sys.executable, "-m", "sievit.cli", *map(str, args)],
                          capture_output=True, text=True, cwd="/")


def bundle_of(method: str, bundles: Path | None, work: Path) -> Path:
    """The method's bundle: --bundles DIR/<method>, else exported from its checkpoint."""
    if bundles is not None and (bundles / method / "manifest.json").is_file():
        return bundles / method
    out = work / "bundles" / method
    if not (out / "manifest.json").is_file():
        res = sievit("export", "--ckpt", ROOT / "checkpoints" / f"fmnist_{method}", "--out", out)
        if res.returncode:
            raise SystemExit(f"export of {method} failed: {res.stderr.strip()[-400:]}")
    return out


def one_run(method: str, budget, bundle: Path, work: Path, images: int) -> dict:
    prj = work / f"{method}_{budget}"
    res = sievit("export-hls", "--bundle", bundle, "--out", prj, "--budget", budget,
                 "--tb-images", "1", "--force")
    if res.returncode:
        return {"method": method, "budget": budget, "error": res.stderr.strip()[-400:]}
    res = sievit("csim", prj, "--images", images, "--modes", "reduce", "--json")
    try:
        out = json.loads(res.stdout)
    except json.JSONDecodeError:
        return {"method": method, "budget": budget, "error": res.stderr.strip()[-400:]}
    red = out["modes"]["reduce"]
    return {"method": method, "budget": budget, "images": out["images"],
            "mismatches": red["mismatches"], "logit_mismatches": red["logit_mismatches"],
            "kept_mismatches": red["kept_mismatches"], "compile_s": out["compile_s"],
            "wall_s": out["wall_s"], "ms_per_image": red["ms_per_image"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--bundles", type=Path, default=None, help="DIR/<method> bundles to use")
    ap.add_argument("--work", type=Path, default=Path("out/hls_sweep"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--commit", default=None, help="the commit measured (default: git HEAD)")
    ap.add_argument("--shipped-only", nargs="*", default=[], choices=METHODS,
                    help="methods run at their checkpoint's own budget only")
    ap.add_argument("--merge", type=Path, default=None, help="an earlier report to keep rows of")
    a = ap.parse_args(argv)
    a.work = a.work.resolve()
    a.bundles = a.bundles.resolve() if a.bundles else None
    if a.images < 1 or a.jobs < 1:
        print("hls_methods_sweep: --images and --jobs must be >= 1", file=sys.stderr)
        return 2
    a.work.mkdir(parents=True, exist_ok=True)
    runs = []
    for m in a.methods:
        cfg = yaml.safe_load((ROOT / "checkpoints" / f"fmnist_{m}" / "config.yaml").read_text())
        b = bundle_of(m, a.bundles, a.work)
        knob = KNOB[m]
        budgets = ([cfg["reduction"][knob]] if m in a.shipped_only else cfg["reduction"]["pareto"])
        runs += [(m, budget, b) for budget in budgets]
    t0 = time.time()
    with ThreadPoolExecutor(a.jobs) as pool:
        futs = [pool.submit(one_run, m, budget, b, a.work, a.images) for m, budget, b in runs]
        rows = [f.result() for f in tqdm(futs, desc="hls sweep", mininterval=5.0)]
    commit = a.commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                        capture_output=True, text=True, cwd=ROOT).stdout.strip()
    for r in rows:
        r["commit"] = commit
    if a.merge is not None:
        old = json.loads(a.merge.read_text())
        done = {(r["method"], r["budget"]) for r in rows}
        rows += [{**r, "commit": r.get("commit", old.get("commit"))} for r in old["rows"]
                 if (r["method"], r["budget"]) not in done]
        order = {m: i for i, m in enumerate(METHODS)}
        rows.sort(key=lambda r: (order[r["method"]], r["budget"]))
    bad = sum(r.get("mismatches", 0) for r in rows)
    errors = [r for r in rows if "error" in r]
    report = {"command": "python scripts/hls_methods_sweep.py " + " ".join(argv or sys.argv[1:]),
              "commit": commit, "images_per_run": a.images, "runs": len(rows),
              "mismatching_images": bad, "errors": len(errors), "wall_s": round(time.time() - t0, 1),
              "rows": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(a.out)
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}))
    return 1 if bad or errors else 0


if __name__ == "__main__":
    sys.exit(main())
