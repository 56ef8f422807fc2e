"""`sievit train` data-parallel under torchrun (gloo, 2 CPU processes): bit for bit the run of
one process that cuts every batch into the same two gradient shards (train.grad_shards)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from sievit.config import validate
from sievit.model.train import train

from conftest import ROOT


def test_torchrun_two_processes_equal_one_process_bit_for_bit(tmp_path):
    raw = yaml.safe_load((ROOT / "configs" / "fmnist_20px.yaml").read_text())
    raw["train"]["grad_shards"] = 2
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(raw))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the torchrun processes (OMP_NUM_THREADS=1): same reductions
    try:
        train(validate(raw), tmp_path / "one", epochs=1, seed=None, device_name="cpu", max_steps=3)
    finally:
        torch.set_num_threads(threads)
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2",
                          str(shutil.which("sievit", path=str(torchrun.parent))), "train",
                          "--config", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "two"),
                          "--epochs", "1", "--max-steps", "3"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert one["world_size"] == 1 and one["stages"] == metrics["stages"]
    for f in ("float.pt", "model.pt"):  # float, QAT and both selector stages (Gumbel noise)
        a = torch.load(tmp_path / "one" / f, weights_only=True)
        b = torch.load(tmp_path / "two" / f, weights_only=True)
        assert a.keys() == b.keys()
        assert [k for k in a if not torch.equal(a[k], b[k])] == [], f
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yaml", "one", "two"]


def _method_run(cfg_path: Path, out: Path, nproc: int, cwd: Path) -> subprocess.CompletedProcess:
    """`sievit train` of a method from the shipped backbone, 2 steps of 32 images per stage."""
    exe = Path(sys.executable).parent
    args = ["train", "--config", str(cfg_path), "--init", str(ROOT / "checkpoints/fmnist_heatvit"),
            "--out", str(out), "--epochs", "1", "--max-steps", "2", "--batch-size", "32"]
    cmd = [str(exe / "sievit"), *args] if nproc == 1 else \
        [str(exe / "torchrun"), "--standalone", "--nproc_per_node", str(nproc), str(exe / "sievit"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.parametrize("method", ["evit", "cait", "prance"])
def test_method_training_two_processes_equal_one_process_bit_for_bit(tmp_path, method):
    """The trained methods (EViT finetune; CAIT gates + backbone; PRANCE meta-network, PPO
    rollouts and joint finetune) under torchrun equal one process cut into the same shards."""
    raw = yaml.safe_load((ROOT / "configs" / f"fmnist_{method}.yaml").read_text())
    raw["train"]["grad_shards"] = 2
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(raw))
    one = _method_run(tmp_path / "cfg.yaml", tmp_path / "one", 1, tmp_path)
    assert one.returncode == 0, one.stderr[-3000:]
    two = _method_run(tmp_path / "cfg.yaml", tmp_path / "two", 2, tmp_path)
    assert two.returncode == 0, two.stderr[-3000:]
    m1 = json.loads((tmp_path / "one" / "metrics.json").read_text())
    m2 = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert (m1["world_size"], m2["world_size"]) == (1, 2)
    assert m1["stages"] == m2["stages"]  # validation accuracies, PPO rewards
    a = torch.load(tmp_path / "one" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "two" / "model.pt", weights_only=True)
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    start = torch.load(ROOT / "checkpoints/fmnist_heatvit/model.pt", weights_only=True)
    moved = [k for k in start if k in a and a[k].is_floating_point() and not torch.equal(a[k], start[k])]
    assert moved, "training changed no backbone weight"  # the comparison is not vacuous
