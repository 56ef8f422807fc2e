"""The whole-model RTL top (rtl/sievit_top.sv) under cocotb on Verilator: real Fashion-MNIST
test images with the shipped checkpoint, logits and kept-token ids equal to the golden
model's; with stalled handshakes and memory latency; and its error paths (a bundle the RTL
cannot hold, a missing simulator, a hung simulation)."""
from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path

import pytest

from sievit.cli import main as sievit_main
from sievit.config import load_config
from sievit.cosim import cosim, rtl_sources, verilator_bin_dir
from sievit.errors import SievitError

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "checkpoints" / "fmnist_heatvit" / "bundle"


def test_top_lint_clean():
    env = {**os.environ, "PATH": f"{verilator_bin_dir()}:{os.environ['PATH']}"}
    res = subprocess.run(["verilator", "--lint-only", "-Wall", *map(str, rtl_sources()),
                          "--top-module", "sievit_top"], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr


def test_whole_model_bit_exact_with_stalls():
    """Pruned modes on real images, every handshake stalled 30 % of cycles, memory latency."""
    out = cosim(BUNDLE, 3, modes=["threshold", "topk"], stall_pct=30, latency=20, jobs=1)
    assert out["mismatches"] == 0, out
    assert out["images"] == 3
    for mode in ("threshold", "topk"):
        r = out["modes"][mode]
        assert r["mismatches"] == 0
        assert r["cycles_by_phase"]["pruning"] > 0
        assert sum(r["cycles_by_phase"].values()) == pytest.approx(r["cycles_per_image"])
        assert 0 < r["mac_utilization"] <= 1


def test_whole_model_dense_and_pruning_saves_cycles():
    """One image dense and pruned: bit-exact, and the pruned run takes fewer cycles."""
    out = cosim(BUNDLE, 1, modes=["none", "threshold"])
    assert out["mismatches"] == 0, out
    assert out["modes"]["none"]["cycles_by_phase"]["pruning"] == 0
    assert out["cycle_saving"] > 0.3 and out["mac_saving"] > 0.3


def test_watchdog_names_the_timeout():
    with pytest.raises(SievitError, match="watchdog: image 0 produced no result within"):
        cosim(BUNDLE, 1, modes=["none"], watchdog_cycles=20_000)


def _small_cfg() -> dict:
    """The fmnist config cut to two blocks and one selector: random bundles export fast."""
    cfg = copy.deepcopy(load_config(ROOT / "configs" / "fmnist.yaml"))
    cfg["model"]["depth"] = 2
    cfg["reduction"].update(blocks=[1], topk_tokens=cfg["reduction"]["topk_tokens"][:1])
    return cfg


def _random_bundle(tmp_path: Path, cfg: dict) -> Path:
    from sievit.quant.bundle import save_bundle
    from sievit.quant.export import export_random
    save_bundle(export_random(cfg, seed=0), tmp_path / "b")
    return tmp_path / "b"


def test_bundle_with_too_many_tokens(tmp_path, capsys):
    cfg = _small_cfg()
    cfg["model"]["image_size"] = 32           # 8 x 8 + 1 = 65 tokens > max_n 64
    code = sievit_main(["cosim", "--bundle", str(_random_bundle(tmp_path, cfg)), "--images", "1"])
    assert code == 1
    assert "bundle needs 65 tokens but the RTL is built for max_n=64" in capsys.readouterr().err


def test_bundle_width_not_multiple_of_lanes(tmp_path):
    cfg = _small_cfg()
    cfg["model"].update(dim=60, heads=3, mlp_dim=120)   # head width 20
    with pytest.raises(SievitError, match="not a multiple of the engine's 8 MAC lanes"):
        cosim(_random_bundle(tmp_path, cfg), 1)


def test_missing_simulator_says_how_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))      # no iverilog / vvp anywhere
    code = sievit_main(["cosim", "--bundle", str(BUNDLE), "--sim", "icarus", "--images", "1"])
    assert code == 2
    assert "iverilog not found: apt-get install iverilog" in capsys.readouterr().err


def test_program_follows_the_bundle():
    """One descriptor per engine run, selectors before the configured blocks, modes differ
    only in the pruning ops; every address lies inside the memory image."""
    from sievit.quant.bundle import load_bundle
    from sievit.rtl_program import OP, PRESETS, Program
    bundle = load_bundle(BUNDLE)
    prog = Program(bundle, PRESETS["fmnist"])
    names = {v: k for k, v in OP.items()}
    seq = [names[int(d[0])] for d in prog.programs["threshold"]]
    block = ["ln", "attn", "ln", "mlp"]
    expect = ["embed"] + block + ["score", "prune"] + block * 3 + ["score", "prune"] + block * 2
    assert seq == expect + ["head", "end"]
    dense = [names[int(d[0])] for d in prog.programs["none"]]
    assert dense == [op for op in seq if op not in ("score", "prune")]
    topk = prog.programs["topk"]
    prunes = [d for d in topk if d[0] == OP["prune"]]
    assert [int(d[2]) for d in prunes] == [2, 2]
    assert [int(d[3]) for d in prunes] == [t - 2 for t in bundle.config["reduction"]["topk_tokens"]]
    for d in prog.programs["threshold"]:
        if d[0] == OP["mlp"]:
            assert d[3] + int(d[1]) * int(d[2]) <= prog.bias_base      # fc1 weights in range
            assert prog.bias_base <= d[4] < prog.prog_base               # fc1 bias in range
