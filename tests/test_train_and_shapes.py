"""A two-step training smoke run on real data, and the deit_tiny shape through export, the
golden model and the HLS C-simulation with random weights."""
import json

import numpy as np

from conftest import ROOT
from sievit.config import load_config


def test_two_step_training_smoke(tmp_path):
    cfg = load_config(ROOT / "configs/fmnist.yaml")
    cfg["train"].update(batch_size=16, calib_images=16)
    from sievit.model.train import train
    out = tmp_path / "run"
    metrics = train(cfg, out, epochs=1, seed=3, device_name="cpu", max_steps=2)
    assert set(metrics["stages"]) == {"float", "qat", "selector1", "selector2"}
    assert all(s["steps"] == 2 for s in metrics["stages"].values())
    assert {p.name for p in out.iterdir()} == {"model.pt", "float.pt", "config.yaml", "metrics.json"}
    assert json.loads((out / "metrics.json").read_text())["device"] == "cpu"


def test_deit_tiny_random_bundle_runs_bit_exact(tmp_path):
    from sievit.quant.export import export_random
    from sievit.quant.golden import Golden
    from sievit.quant.bundle import save_bundle, load_bundle
    cfg = load_config(ROOT / "configs/deit_tiny.yaml")
    b, model = export_random(cfg, seed=1, return_model=True)
    save_bundle(b, tmp_path / "b")
    b = load_bundle(tmp_path / "b")
    g = Golden(b)
    img = np.random.default_rng(0).integers(0, 256, size=(1, 224, 224, 3), dtype=np.uint8)
    r = g.run(img, "topk", trace=True)
    assert r.tokens_per_stage.tolist() == [[88, 45, 32]]
    from sievit.quant.evaluate import compare, model_int_outputs
    logits, kept = model_int_outputs(model, img, "topk")
    assert not compare(logits, kept, r).any()
    # realistic ranges: activations neither saturate nor vanish
    a = r.trace["blocks.11.out"][0, :32]
    assert np.mean(np.abs(a) >= 127) < 0.2
    assert np.abs(a).mean() > 2
    # the generated HLS project C-simulates this shape bit-exactly (one image, top-k)
    from sievit.hls.csim import csim
    from sievit.hls.project import export_hls
    export_hls(tmp_path / "b", tmp_path / "prj", tb_images=1)
    res = csim(tmp_path / "prj", 1, False, ["topk"])
    assert res["mismatches"] == 0, res
    exp = np.fromfile(tmp_path / "prj" / "tb_data" / "expected_mode2.bin", dtype="<i4")
    n_tok, classes = 197, 1000
    assert [exp[classes + s * (1 + n_tok)] for s in range(3)] == [88, 45, 32]
