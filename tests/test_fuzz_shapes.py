"""Shapes nobody tried (hypothesis): random small configs with seeded random weights stay
bit-exact between the golden model and the Brevitas integer eval path, the HLS C-simulation
and (for shapes the `fmnist` RTL preset holds) the RTL; a shape the hardware cannot hold is
refused with an error naming the limit. A few examples here (CI); `sievit bench fuzz
--draws N` runs a larger draw."""
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sievit.fuzz import LIMIT_RE, describe, draw_config, run_shape

# fixed draws (derandomize), no shrinking: a failing shape is reported as drawn, in CI time
PHASES = [Phase.explicit, Phase.generate]
FEW = settings(max_examples=3, deadline=None, derandomize=True, database=None, phases=PHASES,
               suppress_health_check=list(HealthCheck))


def _draw(data):
    return lambda lo, hi: data.draw(st.integers(lo, hi))


@FEW
@given(data=st.data(), hw_friendly=st.booleans())
def test_random_shapes_golden_equals_model_and_hls(data, hw_friendly, tmp_path_factory):
    cfg = draw_config(_draw(data), hw_friendly=hw_friendly)
    res = run_shape(cfg, seed=1, work=tmp_path_factory.mktemp("fuzz"), n_real=1, hls=True)
    stages = [s for s, _ in res["refused"]]
    if cfg["model"]["depth"] == 1:  # no block to put a selector before
        assert stages == ["config"] and "reduction.blocks" in res["refused"][0][1], res
        return
    assert res["model"] == {"none": 0, "threshold": 0, "topk": 0}, res
    if "hls" in stages:
        assert not hw_friendly, f"HLS refused a shape sized for its lanes: {res}"
        assert LIMIT_RE.search(res["refused"][0][1]), res
    else:
        assert res["hls"] == {"none": 0, "threshold": 0, "topk": 0}, res


@settings(max_examples=2, deadline=None, derandomize=True, database=None, phases=PHASES,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_rtl_shape_golden_equals_rtl(data, tmp_path_factory):
    cfg = draw_config(_draw(data), rtl_friendly=True, min_depth=2, max_depth=3)
    res = run_shape(cfg, seed=2, work=tmp_path_factory.mktemp("fuzz_rtl"), n_real=1,
                    hls=False, rtl=True)
    assert not res["refused"], res
    assert res["model"] == res["rtl"] == {"none": 0, "threshold": 0, "topk": 0}, (describe(cfg), res)
