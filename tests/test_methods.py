"""EViT, ToMe, PPT, CP-ViT: golden == model on real images with the shipped checkpoints,
token counts, budget edge cases, the training stage of each, and the pareto bench."""
import copy
import json
import math

import numpy as np
import pytest
import yaml

from conftest import ROOT
from sievit.config import validate
from sievit.data import first_test_images
from sievit.errors import SievitError
from sievit.quant.evaluate import compare, model_int_outputs
from sievit.quant.golden import Golden

METHODS = ("evit", "tome", "ppt", "cpvit")
_CACHE: dict = {}


def pair(method: str, **knobs):
    """(golden, model) of the shipped checkpoint with reduction keys overridden."""
    from sievit.quant.export import export_checkpoint, load_checkpoint
    if method not in _CACHE:
        ckpt = ROOT / "checkpoints" / f"fmnist_{method}"
        model = load_checkpoint(ckpt)
        _CACHE[method] = (export_checkpoint(ckpt, model), model)
    bundle, model = _CACHE[method]
    cfg = copy.deepcopy(bundle.config)
    cfg["reduction"].update(knobs)
    cfg = validate(cfg)
    b = copy.copy(bundle)
    b.config = cfg
    model.cfg = cfg
    return Golden(b), model


def run_both(method: str, images: np.ndarray, **knobs):
    g, model = pair(method, **knobs)
    r = g.run(images, "reduce")
    logits, kept = model_int_outputs(model, images, "reduce")
    assert not compare(logits, kept, r).any(), f"{method} {knobs}: golden != model"
    return r, g


def expected_tokens(method: str, cfg: dict) -> list[int]:
    r, n = cfg["reduction"], 50
    if method in ("tome", "ppt"):  # both remove r rows per stage
        return [n - r["r"] * (s + 1) for s in range(len(r["blocks"]))]
    if method == "cpvit":
        return [1 + k for k in r["keep_tokens"]]
    out, m = [], n - 1
    for _ in r["blocks"]:
        k = math.ceil(r["keep_rate"] * m - 1e-9)
        out.append(1 + k + (k < m))
        m = out[-1] - 1
    return out


@pytest.mark.parametrize("method", METHODS)
def test_golden_equals_model_on_64_test_images(method):
    split = first_test_images(64)
    r, g = run_both(method, split.images)
    assert r.tokens_per_stage.shape == (64, len(g.b.config["reduction"]["blocks"]))
    assert (r.tokens_per_stage == expected_tokens(method, g.b.config)).all()
    dense = g.run(split.images, "none")
    assert r.macs.mean() < 0.75 * dense.macs.mean()
    # every original patch is accounted for in the origin map of every stage
    assert all(o.shape == (64, 50) for o in r.origins)


@pytest.mark.parametrize("method", METHODS)
def test_accuracy_floor_at_the_shipped_budget(method):
    split = first_test_images(500)
    g, _ = pair(method)
    acc = (g.run(split.images, "reduce").logits.argmax(1) == split.labels).mean()
    assert acc >= 0.85, (method, acc)


@pytest.mark.parametrize("method,knobs", [
    ("tome", {"r": 0}), ("ppt", {"r": 0}), ("evit", {"keep_rate": 1.0}),
    ("cpvit", {"keep": 1.0, "heads_pruned": 0})])
def test_budget_one_equals_dense(method, knobs):
    split = first_test_images(16)
    r, g = run_both(method, split.images, **knobs)
    assert (r.tokens_per_stage == 50).all()
    assert np.array_equal(r.logits, g.run(split.images, "none").logits)


@pytest.mark.parametrize("method,knobs,tokens", [
    ("evit", {"keep_rate": 0.0}, 2),      # CLS + the fused token
    ("cpvit", {"keep": 0.0}, 1),          # CLS alone
    ("tome", {"r": 100}, None),           # r capped at (n - 1) // 2 per block
])
def test_budget_zero(method, knobs, tokens):
    split = first_test_images(16)
    r, _ = run_both(method, split.images, **knobs)
    if tokens is not None:
        assert (r.tokens_per_stage == tokens).all()
        assert all(list(k) == [0] for stage in r.kept for k in stage)
    else:
        n, want = 50, []
        for _ in range(r.tokens_per_stage.shape[1]):
            n -= (n - 1) // 2
            want.append(n)
        assert (r.tokens_per_stage == want).all()


def test_ppt_pools_or_prunes_by_variance():
    split = first_test_images(32)
    pooled, _ = run_both("ppt", split.images, tau=1.0)     # every score set is "flat"
    pruned, _ = run_both("ppt", split.images, tau=0.0)     # none is
    assert not np.array_equal(pooled.logits, pruned.logits)
    # pruning removes tokens outright; pooling keeps every original inside some token
    assert (pruned.origins[0] == -1).any() and not (pooled.origins[0] == -1).any()


def test_uniform_images_everything_similar():
    """Blank pictures: patch tokens differ only by position; merging and pruning must
    still agree with the model, ties resolved to the lower position."""
    imgs = np.full((4, 28, 28), 0, np.uint8)
    for method in METHODS:
        run_both(method, imgs)


def test_bipartite_merge_all_keys_equal():
    from sievit.quant import reduce as rd
    x = np.arange(7 * 2, dtype=np.int64).reshape(1, 7, 2) * 3
    t = rd.Tokens.start(x)
    u = np.ones((1, 7, 4), np.int64)
    out, merged, dsts = rd.bipartite_merge(t, u, 2)
    # A = positions 2, 4, 6; B = 1, 3, 5; all similarities tie: every A picks B=1 and the
    # two lowest A positions (2, 4) merge into it.
    assert merged.tolist() == [2] and dsts.tolist() == [1]
    assert out.ids[0, :out.n[0]].tolist() == [0, 1, 3, 5, 6]
    assert out.size[0, 1] == 3
    want = np.floor((x[0, 1] + x[0, 2] + x[0, 4]) / 3 + 0.5).astype(np.int64)
    assert out.x[0, 1].tolist() == want.tolist()
    assert out.origin[0].tolist() == [0, 1, 1, 3, 1, 5, 6]


@pytest.mark.parametrize("bad,msg", [
    ({"method": "magic"}, "not implemented"),
    ({"keep_rate": 1.5}, "keep_rate must be in"),
    ({"keep_rate": "x"}, "must be float"),
    ({"foo": 1}, "unknown config key"),
])
def test_method_config_errors(bad, msg):
    cfg = yaml.safe_load((ROOT / "configs/fmnist_evit.yaml").read_text())
    cfg["reduction"].update(bad)
    with pytest.raises(SievitError, match=msg):
        validate(cfg)


def test_cpvit_heads_pruned_range():
    cfg = yaml.safe_load((ROOT / "configs/fmnist_cpvit.yaml").read_text())
    cfg["reduction"]["heads_pruned"] = 3
    with pytest.raises(SievitError, match="heads_pruned must be in 0..2"):
        validate(cfg)


@pytest.mark.parametrize("method", METHODS)
def test_training_stage_smoke(method, tmp_path):
    from sievit.cli import main
    out = tmp_path / method
    args = ["train", "--config", str(ROOT / f"configs/fmnist_{method}.yaml"), "--init",
            str(ROOT / "checkpoints/fmnist_heatvit"), "--out", str(out), "--max-steps", "2",
            "--batch-size", "16"]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == method
    files = {p.name for p in out.iterdir()}
    assert ("model.pt" in files) == (method == "evit")
    if method == "cpvit":
        assert len(metrics["calibration"]["layer_range"]) == 4
    from sievit.quant.export import export_checkpoint, load_checkpoint
    model = load_checkpoint(out)
    g = Golden(export_checkpoint(out, model))
    imgs = first_test_images(8).images
    logits, kept = model_int_outputs(model, imgs, "reduce")
    assert not compare(logits, kept, g.run(imgs, "reduce")).any()


def test_train_needs_init(tmp_path, capsys):
    from sievit.cli import main
    code = main(["train", "--config", str(ROOT / "configs/fmnist_tome.yaml"), "--out",
                 str(tmp_path / "x")])
    assert code != 0 and "--init" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_bench_pareto_writes_table_and_plot(tmp_path, capsys):
    from sievit.cli import main
    assert main(["bench", "pareto", "--methods", "tome", "--images", "50", "--jobs", "1",
                 "--out", str(tmp_path), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in res["rows"]] == ["dense"] + ["tome"] * 4
    table = (tmp_path / "pareto.md").read_text()
    assert table.count("| ToMe |") == 4
    assert (tmp_path / "pareto.png").stat().st_size > 10000
    macs = [r["macs"] for r in res["rows"][1:]]
    assert macs == sorted(macs, reverse=True)  # more merges, fewer MACs


def test_hls_and_rtl_reject_other_methods(tmp_path):
    from sievit.hls.descriptors import Layout
    g, _ = pair("tome")
    with pytest.raises(SievitError, match="HeatViT selector only; reduction.method 'tome'"):
        Layout(g.b)
