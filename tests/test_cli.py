"""CLI errors: one line naming the problem, non-zero exit, no half-written output."""
import json
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import CKPT, ROOT

SIEVIT = [sys.executable, "-m", "sievit.cli"]


def run(*args, cwd=ROOT):
    return subprocess.run([*SIEVIT, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def fail_line(res):
    assert res.returncode != 0
    lines = [l for l in res.stderr.strip().splitlines() if l.startswith("sievit")]
    assert lines, res.stderr
    return lines[-1]


def write_cfg(tmp_path, mutate):
    cfg = yaml.safe_load((ROOT / "configs/fmnist.yaml").read_text())
    mutate(cfg)
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


@pytest.mark.parametrize("mutate,needle", [
    (lambda c: c["model"].update(colour=3), "unknown config key(s) in 'model': colour"),
    (lambda c: c["model"].pop("depth"), "missing config key(s) in 'model': depth"),
    (lambda c: c["model"].update(patch_size=5), "does not divide model.image_size"),
    (lambda c: c["model"].update(heads=5), "does not divide model.dim"),
    (lambda c: c["reduction"].update(blocks=[3, 1]), "increasing block indices"),
])
def test_bad_config(tmp_path, mutate, needle):
    out = tmp_path / "o"
    res = run("export", "--config", write_cfg(tmp_path, mutate), "--random", "--out", out)
    assert needle in fail_line(res)
    assert not out.exists()


def test_corrupt_checkpoint(tmp_path):
    ck = tmp_path / "ck"
    shutil.copytree(CKPT, ck, ignore=shutil.ignore_patterns("bundle"))
    (ck / "model.pt").write_bytes(b"not a checkpoint")
    out = tmp_path / "o"
    res = run("export", "--ckpt", ck, "--out", out)
    assert "does not load" in fail_line(res)
    assert not out.exists() and not list(tmp_path.glob(".o*"))


def test_mismatched_checkpoint(tmp_path):
    ck = tmp_path / "ck"
    shutil.copytree(CKPT, ck, ignore=shutil.ignore_patterns("bundle"))
    cfg = yaml.safe_load((ck / "config.yaml").read_text())
    cfg["model"]["dim"] = 48
    (ck / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert "does not load into its config" in fail_line(run("export", "--ckpt", ck, "--out", tmp_path / "o"))


def test_bundle_schema_and_shapes(tmp_path):
    from sievit.quant.bundle import load_bundle
    from sievit.errors import SievitError
    b = tmp_path / "b"
    shutil.copytree(CKPT / "bundle", b)
    man = json.loads((b / "manifest.json").read_text())
    man["schema_version"] = 0
    (b / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(SievitError, match="schema version 0"):
        load_bundle(b)
    man["schema_version"] = 1
    man["config"]["model"]["mlp_dim"] = 64
    (b / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(SievitError, match="fc1.weight has shape"):
        load_bundle(b)
    assert "is not a bundle" in fail_line(run("bench", "golden", "--bundle", tmp_path / "nope"))


def test_output_exists_is_refused(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    assert "exists" in fail_line(run("export", "--ckpt", CKPT, "--out", out))


def test_bad_images_arg():
    res = run("eval", "--ckpt", CKPT, "--images", "0")
    assert res.returncode != 0 and "--images must be positive" in res.stderr


def test_missing_dataset(tmp_path):
    import os
    env = dict(os.environ, SIEVIT_FMNIST_DIR=str(tmp_path))
    res = subprocess.run([*SIEVIT, "eval", "--ckpt", str(CKPT), "--images", "2"],
                         capture_output=True, text=True, cwd=ROOT, env=env)
    assert "apt-get install dataset-fashion-mnist" in fail_line(res)
