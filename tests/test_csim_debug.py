"""`sievit csim` on a mismatch names the first differing output (stage token count, stage kept
ids, logits), its element and both values, and per failing engine the first case and element.
The HLS project is exported from a corrupted copy of the bundle, then given the true bundle
as its golden reference: the C-simulation (bit-exact) then computes golden on the corrupted
copy, so the test finds the first difference between two golden runs itself and checks that
csim names the same one."""
from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import CKPT, ROOT

BUNDLE = CKPT / "bundle"


def _project(tmp: Path, array: str) -> Path:
    """An HLS project whose weights have `array` negated but whose bundle/ is the true one."""
    from sievit.hls.project import export_hls
    from sievit.quant.bundle import load_bundle, save_bundle
    good = load_bundle(BUNDLE)
    arrays = dict(good.arrays)
    arrays[array] = -arrays[array]
    save_bundle(dataclasses.replace(good, arrays=arrays), tmp / "bad_bundle")
    prj = tmp / "prj"
    export_hls(tmp / "bad_bundle", prj, tb_images=1)
    shutil.rmtree(prj / "bundle")
    shutil.copytree(BUNDLE, prj / "bundle")
    return prj


def _cli(*args) -> tuple[int, dict, str]:
    res = subprocess.run([sys.executable, "-m", "sievit.cli", *map(str, args)],
                         capture_output=True, text=True, cwd=ROOT)
    return res.returncode, json.loads(res.stdout), res.stderr


def _expected(array: str, mode: str, n: int) -> dict:
    """First differing output of the first differing image: golden on the corrupted copy
    (what the HLS computes) against golden on the true bundle."""
    from sievit.data import first_images_for
    from sievit.quant.bundle import load_bundle
    from sievit.quant.golden import Golden
    good = load_bundle(BUNDLE)
    arrays = dict(good.arrays)
    arrays[array] = -arrays[array]
    images = first_images_for(good.config, n)
    g = Golden(good).run(images, mode)
    h = Golden(dataclasses.replace(good, arrays=arrays)).run(images, mode)
    for b in range(n):
        for s in range(g.tokens_per_stage.shape[1]):
            if g.tokens_per_stage[b, s] != h.tokens_per_stage[b, s]:
                return {"image": b, "output": f"stage {s} token count", "element": 0,
                        "hls": int(h.tokens_per_stage[b, s]), "golden": int(g.tokens_per_stage[b, s])}
            want, got = list(g.kept[s][b]), list(h.kept[s][b])
            if want != got:
                i = next(i for i in range(len(want) + 1) if i >= len(want) or want[i] != got[i])
                return {"image": b, "output": f"stage {s} kept ids", "element": i,
                        "hls": int(got[i]) if i < len(got) else None,
                        "golden": int(want[i]) if i < len(want) else None}
        diff = np.flatnonzero(g.logits[b] != h.logits[b])
        if len(diff):
            i = int(diff[0])
            return {"image": b, "output": "logits", "element": i, "hls": int(h.logits[b, i]),
                    "golden": int(g.logits[b, i])}
    raise AssertionError("the corruption changed no output")


@pytest.fixture(scope="module")
def head_project(tmp_path_factory) -> Path:
    return _project(tmp_path_factory.mktemp("csim_dbg"), "head.weight")


def test_first_differing_logit_and_engine(head_project):
    code, out, err = _cli("csim", head_project, "--images", "3", "--modes", "threshold",
                          "--engines", "--cases", "3", "--json")
    assert code == 1, err
    want = _expected("head.weight", "threshold", 3)
    assert want["output"] == "logits"  # the head runs after every selector
    got = out["modes"]["threshold"]["first_difference"]
    # fmnist_heatvit: selectors before blocks 1 and 4 of 6
    assert got == {**want, "upstream_engines": "pruning stage 1 (package token), blocks 4..5, head"}
    assert (f"threshold: first difference at image {want['image']}, {want['output']}"
            f"[{want['element']}]: HLS {want['hls']}, golden {want['golden']}") in err
    # every engine that mismatched is named with its first case; those that passed are not
    diffs = out["engine_run"]["engine_differences"]
    failing = {e for e, r in out["engines"].items() if r["mismatches"]}
    assert set(diffs) == failing and "head" in failing
    assert not failing & {"attention", "mlp", "layernorm", "softmax", "gelu", "pruning",
                          "patch_embed"}
    for e in failing:
        assert diffs[e]["hls"] != diffs[e]["golden"] and diffs[e]["case"] >= 0
        assert f"engine {e}: first mismatch at case {diffs[e]['case']}" in err


def test_first_differing_stage_output(tmp_path):
    prj = _project(tmp_path, "patch_embed.weight")
    code, out, err = _cli("csim", prj, "--images", "2", "--modes", "threshold", "--json")
    assert code == 1, err
    want = _expected("patch_embed.weight", "threshold", 2)
    assert want["output"].startswith("stage 0 ")  # the negated embedding changes stage 0
    got = out["modes"]["threshold"]["first_difference"]
    assert got == {**want, "upstream_engines": "patch_embed, block 0, pruning stage 0"}
    assert (f"threshold: first difference at image {want['image']}, {want['output']}"
            f"[{want['element']}]: HLS {want['hls']}, golden {want['golden']} "
            f"(made in or before: patch_embed, block 0, pruning stage 0)") in err
