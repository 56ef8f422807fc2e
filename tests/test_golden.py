"""Golden model == the Brevitas model's integer eval path on real images; selector cases."""
import copy

import numpy as np
import pytest
import torch

from sievit.data import first_test_images
from sievit.errors import SievitError
from sievit.quant import contract as C
from sievit.quant.evaluate import compare, model_int_outputs
from sievit.quant.golden import Golden


@pytest.mark.parametrize("mode", ["none", "threshold", "topk"])
def test_golden_equals_model_on_256_test_images(golden, model, mode):
    split = first_test_images(256)
    logits, kept = model_int_outputs(model, split.images, mode)
    r = golden.run(split.images, mode)
    assert not compare(logits, kept, r).any()
    if mode != "none":
        assert len(r.kept) == 2


def test_accuracy_floor_and_mac_saving_on_real_images(golden):
    split = first_test_images(500)
    dense = golden.run(split.images, "none")
    pruned = golden.run(split.images, "threshold")
    assert (dense.logits.argmax(1) == split.labels).mean() >= 0.88
    assert pruned.macs.mean() <= 0.5 * dense.macs.mean()
    assert np.all(pruned.tokens_per_stage[:, 1] <= pruned.tokens_per_stage[:, 0])


def _with_topk(golden, tokens):
    b = copy.copy(golden.b)
    b.config = copy.deepcopy(golden.b.config)
    b.config["reduction"]["topk_tokens"] = tokens
    return Golden(b)


def test_all_pruned_leaves_cls_and_package(golden):
    split = first_test_images(16)
    r = _with_topk(golden, [2, 2]).run(split.images, "topk")
    assert np.all(r.tokens_per_stage == 2)
    assert all(list(k) == [0] for stage in r.kept for k in stage)


def test_none_pruned_has_no_package(golden):
    split = first_test_images(16)
    n = golden.n_patch + 1
    r = _with_topk(golden, [n, n]).run(split.images, "topk")
    assert np.all(r.tokens_per_stage == n)
    dense = golden.run(split.images, "none")
    assert np.array_equal(r.logits, dense.logits)


def test_topk_ties_go_to_lower_index(golden, monkeypatch):
    g = _with_topk(golden, [10, 5])
    monkeypatch.setattr(g, "pruning_score", lambda s, x, alive: np.full(x.shape[:2], 200, dtype=np.int64))
    r = g.run(first_test_images(4).images, "topk")
    assert [list(k) for k in r.kept[0]] == [list(range(9))] * 4
    assert [list(k) for k in r.kept[1]] == [list(range(4))] * 4


def test_model_topk_ties_go_to_lower_index():
    from sievit.model.reducers import Scores, decide_topk
    s = Scores(torch.zeros(1, 6), torch.tensor([[0, 200, 200, 100, 200, 0]]))
    cand = torch.tensor([[0.0, 1, 1, 1, 1, 0]])
    assert decide_topk(s, cand, 2).tolist() == [[0, 1, 1, 0, 0, 0]]


def test_package_is_score_weighted_mean(golden):
    split = first_test_images(8)
    r = golden.run(split.images, "threshold", trace=True)
    x_in = r.trace["embed_out"]
    x_in = golden.block(0, x_in, np.ones(x_in.shape[:2], bool), None)
    score = r.trace["selectors.0.score"]
    out = r.trace["selectors.0.out"]
    for b in range(len(split.labels)):
        pruned = [i for i in range(1, golden.n_patch + 1) if i not in set(r.kept[0][b])]
        if not pruned:
            continue
        w = score[b, pruned]
        num = (x_in[b, pruned] * w[:, None]).sum(0)
        expect = np.floor_divide(2 * num + w.sum(), 2 * w.sum()) if w.sum() else None
        pkg = out[b, len(r.kept[0][b])]
        if expect is not None:
            assert np.array_equal(pkg, expect)


def test_bad_images_are_rejected(golden):
    with pytest.raises(SievitError, match="uint8"):
        golden.run(np.zeros((1, 28, 28), np.float32))
    with pytest.raises(SievitError, match="shape"):
        golden.run(np.zeros((1, 32, 32), np.uint8))


def test_threshold_is_half():
    assert C.KEEP_THRESHOLD == 1 << (C.SIGMOID_OUT_FRAC - 1)
