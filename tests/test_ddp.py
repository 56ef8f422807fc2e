"""`sievit train` data-parallel under torchrun (gloo, 2 CPU processes): bit for bit the run of
one process that cuts every batch into the same two gradient shards (train.grad_shards)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from sievit.config import validate
from sievit.model.train import train

from conftest import ROOT


def test_torchrun_two_processes_equal_one_process_bit_for_bit(tmp_path):
    raw = yaml.safe_load((ROOT / "configs" / "fmnist_20px.yaml").read_text())
    raw["train"]["grad_shards"] = 2
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(raw))
    train(validate(raw), tmp_path / "one", epochs=1, seed=None, device_name="cpu", max_steps=3)
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
