"""`sievit bench pareto --retrain` replays the `sievit train` command each checkpoint
records (its metrics.json), with the run's own options replaced; sievit.pareto does not
import the CLI (it runs `python -m sievit.cli` as a child)."""
from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import ROOT


def test_every_table_checkpoint_records_a_replayable_command():
    from sievit.config import validate
    from sievit.pareto import CHECKPOINTS, PREREQUISITES, recorded_train_args
    for ckpt in [p for ps in PREREQUISITES.values() for p in ps] + list(CHECKPOINTS.values()):
        args = recorded_train_args(ROOT / ckpt)
        assert not {"--out", "--device", "--json"} & set(args), (ckpt, args)
        cfg = Path(args[args.index("--config") + 1])
        assert cfg == ROOT / ckpt / "config.yaml"
        validate(yaml.safe_load(cfg.read_text()))      # the resolved config trains as is
        start = args[args.index("--init" if "--init" in args else "--resume") + 1]
        assert (ROOT / start / "metrics.json").is_file(), (ckpt, start)


def test_a_checkpoint_without_a_command_is_refused(tmp_path):
    from sievit.errors import SievitError
    from sievit.pareto import recorded_train_args
    with pytest.raises(SievitError, match="no metrics.json"):
        recorded_train_args(tmp_path)
    (tmp_path / "metrics.json").write_text(json.dumps({"method": "tome"}))
    with pytest.raises(SievitError, match="records no `sievit train` command"):
        recorded_train_args(tmp_path)


def test_pareto_does_not_import_the_cli():
    tree = ast.parse((ROOT / "sievit" / "pareto.py").read_text())
    mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "sievit.cli" not in mods


def test_retrain_replaces_a_checkpoint_by_replaying_its_command(tmp_path, monkeypatch):
    """A ToMe checkpoint (training-free: quick) made with --max-steps 2 is rebuilt in place:
    same config and recorded recipe, the run's --out replaced by the retrain's."""
    import subprocess
    import sys
    import sievit.pareto as P
    ckpt = tmp_path / "fmnist_tome"
    subprocess.run([sys.executable, "-m", "sievit.cli", "train", "--config",
                    str(ROOT / "configs/fmnist_tome.yaml"), "--init",
                    str(ROOT / "checkpoints/fmnist_heatvit"), "--out", str(ckpt),
                    "--max-steps", "2"], check=True, capture_output=True)
    before = (ckpt / "config.yaml").read_text()
    (ckpt / "stale_marker").write_text("")
    monkeypatch.setitem(P.CHECKPOINTS, "tome", str(ckpt))
    P.retrain(["tome"], "cpu")
    assert not (ckpt / "stale_marker").exists()          # replaced, not patched
    assert not ckpt.with_name(ckpt.name + ".retrain").exists()
    assert (ckpt / "config.yaml").read_text() == before
    cmd = json.loads((ckpt / "metrics.json").read_text())["command"]
    assert f"--config {ckpt}/config.yaml" in cmd and "--max-steps 2" in cmd
    assert f"--out {ckpt}.retrain" in cmd and "--device cpu" in cmd
    shutil.rmtree(ckpt)
