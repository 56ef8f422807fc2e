"""CLI errors: one line naming the problem, non-zero exit, no half-written output."""
import json
import shutil
import subprocess
import sys

import numpy as np
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
    out = tmp_path / "o"
    for content in (b"not a checkpoint", (CKPT / "model.pt").read_bytes()[:20000]):
        (ck / "model.pt").write_bytes(content)  # foreign bytes, then a truncated file
        res = run("export", "--ckpt", ck, "--out", out)
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert "model.pt is not a PyTorch checkpoint" in fail_line(res)
        assert "weights_only=False" not in res.stderr  # torch's advice is not for users here
        assert not out.exists() and not list(tmp_path.glob(".o*"))
    import torch
    torch.save(torch.zeros(3), ck / "model.pt")
    assert "model.pt is a PyTorch file but not a model state dict" in fail_line(
        run("export", "--ckpt", ck, "--out", out))


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
    assert res.returncode == 2 and "--images must be an integer 1..10000 or 'all', got '0'" in res.stderr


def test_missing_dataset(tmp_path):
    import os
    env = dict(os.environ, SIEVIT_FMNIST_DIR=str(tmp_path))
    res = subprocess.run([*SIEVIT, "eval", "--ckpt", str(CKPT), "--images", "2"],
                         capture_output=True, text=True, cwd=ROOT, env=env)
    assert "apt-get install dataset-fashion-mnist" in fail_line(res)


@pytest.mark.parametrize("argv,needle", [
    (["bench", "golden", "--bundle", "B", "--batch", "0"], "--batch must be an integer 1..10000, got 0"),
    (["bench", "pareto", "--jobs", "0"], "--jobs must be an integer 1..64, got 0"),
    (["plot", "--bundle", "B", "--out", "O", "--budgets", "25,x"], "--budgets entries must be comma-separated integers"),
    (["plot", "--bundle", "B", "--out", "O", "--budgets", "13,25"], "--budgets token counts must not grow"),
    (["plot", "--bundle", "B", "--out", "O", "--budgets", "25,1"], "--budgets token counts must be >= 2"),
    (["export-hls", "--bundle", "B", "--out", "O", "--clock-mhz", "0"], "--clock-mhz must be a number in [1, 1000], got 0"),
    (["export-hls", "--bundle", "B", "--out", "O", "--clock-mhz", "-1"], "--clock-mhz must be a number in [1, 1000], got -1"),
    (["export-hls", "--bundle", "B", "--out", "O", "--clock-mhz", "nan"], "--clock-mhz must be a number in [1, 1000], got nan"),
    (["export-hls", "--bundle", "B", "--out", "O", "--part", "bogus"], "--part must be an AMD/Xilinx part number"),
    (["export-hls", "--bundle", "B", "--out", "O", "--lanes", "12"], "--lanes must be a power of two in 1..64, got 12"),
    (["export-hls", "--bundle", "B", "--out", "O", "--tb-images", "0"], "--tb-images must be an integer 1..10000, got 0"),
    (["csim", "P", "--images", "-1"], "--images must be an integer 0..10000 or 'all', got '-1'"),
    (["train", "--config", "C", "--out", "O", "--epochs", "0"], "--epochs must be an integer 1..10000, got 0"),
    (["train", "--config", "C", "--out", "O", "--batch-size", "-4"], "--batch-size must be an integer 1..65536, got -4"),
    (["export", "--config", "C", "--random", "--out", "O", "--seed", "-1"], "--seed must be an integer 0..4294967295, got -1"),
    (["rtl-synth", "--timeout", "0"], "--timeout must be an integer 1..604800, got 0"),
])
def test_numeric_options_are_checked_at_parse_time(argv, needle, capsys):
    """Exit 2 before any work, naming the option and its allowed range."""
    from sievit.cli import main
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_bad_part_writes_no_project(tmp_path):
    out = tmp_path / "p"
    res = run("export-hls", "--bundle", CKPT / "bundle", "--out", out, "--part", "bogus")
    assert res.returncode == 2 and "Traceback" not in res.stderr and not out.exists()


def test_plot_leaves_nothing_behind_when_it_fails(tmp_path, capsys, monkeypatch):
    from sievit.cli import main
    from sievit.errors import SievitError
    out = tmp_path / "pngs"
    code = main(["plot", "--bundle", str(CKPT / "bundle"), "--out", str(out), "--budgets", "60,13"])
    assert code == 2 and not out.exists()
    assert "--budgets 60,13 does not fit the bundle: reduction.topk_tokens must decrease from 50" \
        in capsys.readouterr().err

    def broken(*a, **k):  # fails after the first PNG was drawn
        raise SievitError("the trade-off plot failed")

    monkeypatch.setattr("sievit.quant.plots.plot_tradeoff", broken)
    monkeypatch.setattr("sievit.quant.plots.tradeoff", lambda *a, **k: [])
    out.mkdir()
    (out / "mine.txt").write_text("kept")
    assert main(["plot", "--bundle", str(CKPT / "bundle"), "--out", str(out)]) == 2
    assert [p.name for p in out.iterdir()] == ["mine.txt"]  # no PNG, nothing removed


def test_corrupt_bundle_files_are_named(tmp_path):
    b = tmp_path / "b"
    shutil.copytree(CKPT / "bundle", b)
    (b / "weights.npz").write_bytes((CKPT / "bundle" / "weights.npz").read_bytes()[:5000])
    assert "weights.npz is not a NumPy .npz archive" in fail_line(run("bench", "golden", "--bundle", b))
    (b / "manifest.json").write_text(json.dumps({"format": "sievit-int-bundle", "schema_version": 1}))
    msg = fail_line(run("bench", "golden", "--bundle", b))
    assert "a damaged manifest" in msg or "not a NumPy .npz archive" in msg


def test_every_command_ends_with_a_summary(tmp_path):
    res = run("export", "--ckpt", CKPT, "--out", tmp_path / "b")
    assert res.returncode == 0
    assert res.stdout.strip().splitlines() == [
        f"sievit export: exported bundle {tmp_path / 'b'}: "
        f"{len(list(np.load(tmp_path / 'b' / 'weights.npz').files))} arrays, "
        f"{len(json.loads((tmp_path / 'b' / 'manifest.json').read_text())['fracs'])} fractional-bit entries",
        "sievit export: OK"]
    res = run("bench", "golden", "--bundle", tmp_path / "b", "--images", "8", "--batch", "4")
    lines = res.stdout.strip().splitlines()
    assert res.returncode == 0 and lines[-1] == "sievit bench: OK"
    assert lines[0].startswith("sievit bench: golden model on 8 images (batch 4): none ")
    res = run("bench", "golden", "--bundle", tmp_path / "b", "--images", "8", "--json")
    assert json.loads(res.stdout)["images"] == 8  # stdout is the JSON alone
    assert "sievit bench: OK" in res.stderr
