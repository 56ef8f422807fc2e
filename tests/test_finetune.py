"""HeatViT finetuning of a finished run (`sievit train --resume`): frozen-teacher
distillation, the early stop, and a missing teacher."""
from __future__ import annotations

import json

import torch
import yaml

from conftest import ROOT, assert_checkpoint_bit_exact

B40 = ROOT / "checkpoints/fmnist_heatvit_b40"


def kd_config(tmp_path, **train) -> str:
    cfg = yaml.safe_load((ROOT / "configs/fmnist_heatvit_kd.yaml").read_text())
    cfg["train"].update({"teacher": str(ROOT / "checkpoints/fmnist_heatvit"), **train})
    path = tmp_path / "kd.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_resume_with_teacher_stops_early_and_stays_bit_exact(tmp_path):
    from sievit.cli import main
    out = tmp_path / "kd"
    assert main(["train", "--config", kd_config(tmp_path, stop_after_steps=1), "--resume", str(B40),
                 "--train-backbone", "--max-steps", "3", "--batch-size", "16",
                 "--out", str(out)]) == 0
    stage = json.loads((out / "metrics.json").read_text())["stages"]["selectors_and_backbone"]
    assert (stage["steps"], stage["planned_steps"]) == (1, 3)
    before = torch.load(B40 / "model.pt", weights_only=True)
    after = torch.load(out / "model.pt", weights_only=True)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any(k.startswith("selectors.") for k in changed)
    assert any(k.startswith("blocks.") for k in changed)   # the backbone trains too
    assert_checkpoint_bit_exact(out, "topk", 16)


def test_missing_teacher_is_a_clear_error(tmp_path, capsys):
    from sievit.cli import main
    cfg = kd_config(tmp_path, teacher=str(tmp_path / "nowhere"))
    code = main(["train", "--config", cfg, "--resume", str(B40), "--train-backbone",
                 "--max-steps", "1", "--out", str(tmp_path / "x")])
    assert code != 0 and "train.teacher" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
