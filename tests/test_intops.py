"""Integer ops: golden (NumPy) against exact references, and the model's torch ops against
the golden ones on every input that matters."""
from fractions import Fraction
import math

import numpy as np
import torch
from hypothesis import given, settings, strategies as st

from sievit.model import intfn
from sievit.quant import contract as C
from sievit.quant import intops as op

ints = st.integers(min_value=-(2 ** 40), max_value=2 ** 40)


@given(ints, st.integers(min_value=-4, max_value=30))
def test_rshift_rne_matches_exact_half_even(x, s):
    got = int(op.rshift_rne(np.array([x]), s)[0])
    assert got == round(Fraction(x, 2 ** s) if s >= 0 else Fraction(x * 2 ** -s))  # Python: half-even


def test_rshift_rne_ties():
    assert op.rshift_rne(np.array([1, 3, 5, -1, -3, -5]), 1).tolist() == [0, 2, 2, 0, -2, -2]


def test_requant_saturates():
    assert op.requant(np.array([10 ** 6, -10 ** 6, 255, -257]), 1, 0).tolist() == [127, -128, 127, -128]


@given(st.integers(-10 ** 9, 10 ** 9), st.integers(1, 10 ** 6))
def test_div_round_half_up(n, d):
    assert int(op.div_round(np.array([n]), np.array([d]))[0]) == math.floor(Fraction(n, d) + Fraction(1, 2))
    t = intfn.div_round_int(torch.tensor([n]), torch.tensor([d]))
    assert int(t[0]) == math.floor(Fraction(n, d) + Fraction(1, 2))


@given(st.integers(0, 2 ** 62 - 1))
def test_isqrt_exact(v):
    assert int(op.isqrt(np.array([v]))[0]) == math.isqrt(v)
    assert int(intfn.isqrt_int(torch.tensor([v]))[0]) == math.isqrt(v)


def test_sigmoid_all_inputs_agree_and_shape():
    for frac in (0, 3, 8, 13):
        d = np.arange(-6 * 2 ** frac - 5, 6 * 2 ** frac + 6)
        g = op.sigmoid(d, frac)
        t = intfn.sigmoid_int(torch.from_numpy(d), frac).numpy()
        assert np.array_equal(g, t)
        assert np.all(np.diff(g) >= 0)
        assert g.min() >= 0 and g.max() <= 256
        assert np.all(g + g[::-1] == 256)  # sigma(-x) = 1 - sigma(x) on a symmetric grid
        ref = 256 / (1 + np.exp(-d / 2 ** frac))
        assert np.abs(g - ref).max() <= 6  # PLAN error < 0.02


def test_gelu_all_int8_inputs_agree_and_track_float():
    q = np.arange(-128, 128)
    for frac in (2, 4, 6, 10, 12):
        g = op.gelu(q, frac)
        t = intfn.gelu_int(torch.from_numpy(q), frac).numpy()
        assert np.array_equal(g, t)
        x = q / 2 ** frac
        exact = 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
        assert np.abs(g / 2 ** C.GELU_OUT_FRAC - exact).max() < 0.03 + 2 ** -frac


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 31 - 1), st.sampled_from([6, 10, 12, 14]), st.integers(1, 60))
def test_softmax_agrees_sums_to_one_and_masks(seed, frac, n):
    rng = np.random.default_rng(seed)
    x = rng.integers(-2 ** (frac + 3), 2 ** (frac + 3), size=(4, n))
    valid = rng.random((4, n)) < 0.7
    valid[:, 0] = True
    g = op.softmax(x, frac, valid)
    t = intfn.softmax_int(torch.from_numpy(x), frac, torch.from_numpy(valid)).numpy()
    assert np.array_equal(g, t)
    assert np.all(g[~valid] == 0)
    assert np.all(np.abs(g.sum(1) - 256) <= n)  # rounding per element
    ref = np.where(valid, np.exp(x / 2 ** frac - np.where(valid, x, -10 ** 9).max(1, keepdims=True) / 2 ** frac), 0)
    ref = 256 * ref / ref.sum(1, keepdims=True)
    assert np.abs(g - ref).max() <= 6


def test_softmax_extremes_equal_logits_and_one_hot():
    x = np.zeros((1, 8), dtype=np.int64)
    assert op.softmax(x, 8).tolist() == [[32] * 8]
    y = np.array([[10 ** 6, -10 ** 6, -10 ** 6]])
    assert op.softmax(y, 8).tolist() == [[255, 0, 0]]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 31 - 1), st.sampled_from([8, 64, 96, 192]))
def test_layernorm_agrees_and_normalises(seed, d):
    rng = np.random.default_rng(seed)
    q = rng.integers(-128, 128, size=(5, d))
    q[0] = 7  # constant row: den clamps to 1, output is beta
    gamma = rng.integers(-127, 128, size=d)
    beta = rng.integers(-5000, 5000, size=d)
    g = op.layernorm(q, gamma, beta)
    t = intfn.layernorm_int(torch.from_numpy(q), torch.from_numpy(gamma), torch.from_numpy(beta)).numpy()
    assert np.array_equal(g, t)
    assert np.array_equal(g[0], beta)
    n = op.layernorm(q, np.ones(d, np.int64), np.zeros(d, np.int64))[1:] / 2 ** C.LN_NORM_FRAC
    ref = (q[1:] - q[1:].mean(1, keepdims=True)) / q[1:].std(1, keepdims=True)
    assert np.abs(n - ref).max() < 0.05
