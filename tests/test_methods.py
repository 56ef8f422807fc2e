"""EViT, ToMe, PPT, CP-ViT, CAIT, PRANCE: golden == model on real images with the shipped
checkpoints, token counts, budget edge cases, the training stage of each, and the pareto
bench."""
import copy
import json
import math

import numpy as np
import pytest
import yaml

from conftest import ROOT, assert_checkpoint_bit_exact, assert_model_matches
from sievit.config import validate
from sievit.data import first_test_images
from sievit.errors import SievitError
from sievit.quant.golden import Golden

METHODS = ("evit", "tome", "ppt", "cpvit", "cait", "prance")
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
    assert_model_matches(model, images, "reduce", r, f"{method} {knobs}:")
    return r, g


def expected_tokens(method: str, cfg: dict, trace: dict) -> list[int]:
    r, n = cfg["reduction"], 50
    if method == "cait":   # top-r merges: exactly merge_r fewer rows per stage
        return [n - sum(r["merge_r"][:s + 1]) for s in range(len(r["blocks"]))]
    if method == "prance":  # CLS + floor(rho M) of the M patches, rho the actor's choice
        out, m = [], n - 1
        for s in range(len(r["blocks"])):
            rho = np.array(r["token_keeps"])[trace["prance_choices"][:, s, 2]]
            m = np.floor(rho * m + 1e-9).astype(int)
            out.append(1 + m)
        return np.stack(out, axis=1)
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
    trace = g.run(split.images, "reduce", trace=True).trace
    assert (r.tokens_per_stage == expected_tokens(method, g.b.config, trace)).all()
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
    ("cpvit", {"keep": 1.0, "heads_pruned": 0}),
    ("cait", {"mac_target": 1.0, "merge_r": [0, 0], "gate_blocks": []}),  # gates cost MACs too
    ("prance", {"mlp_widths": [192], "embed_widths": [96], "token_keeps": [1.0]})])
def test_budget_one_equals_dense(method, knobs):
    split = first_test_images(16)
    r, g = run_both(method, split.images, **knobs)
    assert (r.tokens_per_stage == 50).all()
    assert np.array_equal(r.logits, g.run(split.images, "none").logits)


@pytest.mark.parametrize("method,knobs,tokens", [
    ("evit", {"keep_rate": 0.0}, 2),      # CLS + the fused token
    ("cpvit", {"keep": 0.0}, 1),          # CLS alone
    ("tome", {"r": 100}, None),           # r capped at (n - 1) // 2 per block
    ("prance", {"token_keeps": [0.01]}, 1),  # nothing kept: nothing to merge into, all dropped
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
    assert ("model.pt" in files) == (method in ("evit", "cait", "prance"))
    if method == "cpvit":
        assert len(metrics["calibration"]["layer_range"]) == 4
    assert_checkpoint_bit_exact(out, "reduce", 8)


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
    from sievit.layout import Layout
    g, _ = pair("cait")
    with pytest.raises(SievitError, match="RTL engines implement heatvit, evit, cpvit, tome, ppt; reduction.method 'cait'"):
        Layout(g.b)


def test_cait_meets_its_mac_target_with_real_channel_masks():
    """Every image's golden MACs (gates, merges and all) stay within the MAC target, and a
    lower target really removes channels: fewer MACs, same tokens."""
    split = first_test_images(32)
    dense = pair("cait")[0].run(split.images, "none").macs[0]
    macs = []
    for target in (0.7, 0.4):
        r, g = run_both("cait", split.images, mac_target=target)
        assert (r.macs <= target * dense).all()
        assert (r.macs >= (target - 0.05) * dense).all()
        macs.append(r.macs)
    assert (macs[1] < macs[0]).all()


def test_cait_windows_of_one_token_merge_nothing():
    split = first_test_images(8)
    r, _ = run_both("cait", split.images, windows=[[1, 1], [1, 1]], merge_r=[0, 0])
    assert (r.tokens_per_stage == 50).all()


def test_atme_merges_members_into_the_most_attended_anchor():
    from sievit.quant import reduce as rd
    # CLS + a 2 x 2 grid; one 1 x 2 window per row: (1, 2) and (3, 4)
    x = np.array([[[0, 0], [10, 0], [20, 4], [30, 8], [40, 2]]], np.int64)
    t = rd.Tokens.start(x)
    attn = np.array([[0, 5, 9, 7, 7]])              # row 2 anchors window 1; tie in window 2 -> row 3
    u = np.array([[[0, 0], [1, 0], [1, 0], [0, 1], [1, 0]]], np.int64)
    out, members, merged, dsts = rd.atme_merge(t, attn, u, 2, (1, 2), 1)
    assert members.tolist() == [2] and merged.tolist() == [1] and dsts.tolist() == [1]
    # row 1 (similarity 1 to its anchor) merges; row 4 (similarity 0) stays
    assert out.ids[0, :out.n[0]].tolist() == [0, 2, 3, 4]
    assert out.x[0, 1].tolist() == [15, 2] and out.size[0, 1] == 2
    assert out.origin[0].tolist() == [0, 2, 2, 3, 4]


def test_prance_action_thresholds_match_the_float_rule():
    from sievit.quant.channels import action_thresholds
    rng = np.random.default_rng(0)
    frac = 6
    for n in (2, 3, 4, 5):
        th = action_thresholds(n, frac)
        z = rng.integers(-400, 400, 2000)
        mu = (np.tanh(z / 2.0 ** frac) + 1) / 2
        far = np.abs(mu * n - np.round(mu * n)) > 1e-9        # away from a boundary
        ref = np.minimum(np.floor(mu * n), n - 1)
        got = (z[:, None] >= th[None, :]).sum(axis=1)
        assert (got[far] == ref[far]).all()


def test_prance_choices_follow_the_actor_per_image():
    """The golden choices come from the actor: a different cost weight changes the state,
    and the widths recorded per image are ones the config offers."""
    split = first_test_images(16)
    _, g = run_both("prance", split.images, cost_weight=0.04)
    c = g.run(split.images, "reduce", trace=True).trace["prance_choices"]
    assert c.shape == (16, 2, 3)
    assert (c[..., 0] < 3).all() and (c[..., 1] < 3).all() and (c[..., 2] < 4).all()


@pytest.mark.parametrize("method,bad,msg", [
    ("cait", {"windows": [[2, 2], [1, 2]]}, "windows must nest"),
    ("cait", {"merge_r": [30, 10]}, "exceeds the 21 tokens"),
    ("cait", {"mac_target": 0.05}, "below what these merges reach"),
    ("prance", {"embed_widths": [64, 80]}, "end at the full width 96"),
    ("prance", {"token_action": "fold"}, "prune or merge"),
    ("prance", {"cost_weight": 0.6}, "cost_weight must be in"),
])
def test_channel_method_config_errors(method, bad, msg):
    cfg = yaml.safe_load((ROOT / f"configs/fmnist_{method}.yaml").read_text())
    cfg["reduction"].update(bad)
    with pytest.raises(SievitError, match=msg):
        validate(cfg)
