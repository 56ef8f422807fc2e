"""`sievit predict` on the user's image files (golden, HLS C-sim, RTL) and the Python API."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sievit.cli import main
from sievit.data import CLASSES, first_test_images

from conftest import CKPT, ROOT

BUNDLE = CKPT / "bundle"


def _pngs(tmp_path: Path, n: int) -> list[str]:
    files = []
    for i, img in enumerate(first_test_images(n).images):
        files.append(str(tmp_path / f"img{i}.png"))
        Image.fromarray(img).save(files[-1])
    return files


def _run(capsys, *args) -> tuple[int, dict | None, str]:
    code = main(["predict", *map(str, args), "--json"])
    cap = capsys.readouterr()
    return code, (json.loads(cap.out[:cap.out.rindex("}") + 1]) if cap.out.strip() else None), cap.err


def _expect(golden, files, mode):
    """Golden outputs of the same pictures read from the IDX files (not the PNGs)."""
    return golden.run(first_test_images(len(files)).images, mode)


@pytest.mark.parametrize("mode", [None, "none", "topk"])
def test_predict_golden_equals_the_golden_model(tmp_path, capsys, golden, mode):
    files = _pngs(tmp_path, 4)
    args = ["--ckpt", CKPT, *files, "--out", tmp_path / "out"] + (["--mode", mode] if mode else [])
    code, out, _ = _run(capsys, *args)
    assert code == 0
    used = mode or golden.b.config["reduction"]["mode"]
    ref = _expect(golden, files, used)
    assert out["mode"] == used and out["images"] == 4 and "mismatches" not in out
    for i, r in enumerate(out["results"]):
        assert r["logits"] == ref.logits[i].tolist()
        assert r["class"] == int(ref.logits[i].argmax()) and r["label"] == CLASSES[r["class"]]
        assert r["kept_tokens"] == [ref.kept[s][i].tolist() for s in range(len(ref.kept))]
        assert r["tokens_per_stage"] == ref.tokens_per_stage[i].tolist()
        with Image.open(r["overlay"]) as png:
            # one panel for the input and one per stage
            assert png.format == "PNG" and (png.size[0] > png.size[1]) == bool(r["kept_tokens"])
    if mode == "topk":
        assert all(r["tokens_per_stage"] == golden.b.config["reduction"]["topk_tokens"]
                   for r in out["results"])
    if mode == "none":
        assert all(r["kept_tokens"] == [] for r in out["results"])


def test_predict_bad_input_exit_2_and_no_output(tmp_path, capsys):
    files = _pngs(tmp_path, 1)
    (tmp_path / "notes.png").write_text("not an image")
    for bad, msg in (([files[0], str(tmp_path / "missing.png")], "missing.png does not exist"),
                     ([files[0], str(tmp_path / "notes.png")], "notes.png is not a readable image")):
        code, out, err = _run(capsys, "--ckpt", CKPT, *bad, "--out", tmp_path / "o")
        assert code == 2 and msg in err and (out is None or "results" not in out)
        assert not (tmp_path / "o").exists()
    code, _, err = _run(capsys, "--ckpt", tmp_path / "nockpt", files[0], "--out", tmp_path / "o")
    assert code == 2 and "nockpt" in err
    code, _, err = _run(capsys, "--ckpt", ROOT / "checkpoints" / "fmnist_tome", files[0],
                        "--on", "hls", "--out", tmp_path / "o")
    assert code == 2 and "HeatViT selector only" in err and not (tmp_path / "o").exists()


def test_predict_on_hls_equals_golden_and_catches_a_wrong_project(tmp_path, capsys, golden):
    files = _pngs(tmp_path, 3)
    out_dir = tmp_path / "out"
    code, out, _ = _run(capsys, "--ckpt", BUNDLE, *files, "--on", "hls", "--out", out_dir)
    assert code == 0 and out["mismatches"] == 0
    ref = _expect(golden, files, out["mode"])
    assert [r["logits"] for r in out["results"]] == ref.logits.tolist()
    assert all(r["matches_golden"] for r in out["results"])
    # a wrong project (every bias of the reused project moved) is caught: exit 1, JSON
    # printed, and the logits reported are the C-simulation's own
    biases = out_dir / "hls" / "firmware" / "weights" / "biases.bin"
    (np.fromfile(biases, dtype="<i4") + (1 << 12)).astype("<i4").tofile(biases)
    code, out, _ = _run(capsys, "--ckpt", BUNDLE, *files, "--on", "hls", "--out", out_dir)
    assert code == 1 and out["mismatches"] == 3
    for i, r in enumerate(out["results"]):
        assert not r["matches_golden"] and len(r["logits"]) == ref.logits.shape[1]
        assert r["logits"] != ref.logits[i].tolist()
        assert r["class"] == int(np.argmax(r["logits"]))


def test_predict_on_rtl_equals_golden(tmp_path, capsys, golden):
    files = _pngs(tmp_path, 1)
    code, out, _ = _run(capsys, "--ckpt", BUNDLE, *files, "--on", "rtl", "--out", tmp_path / "o")
    assert code == 0 and out["mismatches"] == 0
    ref = _expect(golden, files, out["mode"])
    r = out["results"][0]
    assert r["logits"] == ref.logits[0].tolist() and r["matches_golden"] and r["cycles"] > 0
    assert r["kept_tokens"] == [ref.kept[s][0].tolist() for s in range(len(ref.kept))]


def test_readme_api_example_runs(tmp_path, monkeypatch, golden):
    """The README's Python API example, run as written (in a scratch working directory)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Python API.*?```python\n(.*?)```", text, re.S)
    assert block, "README has no '## Python API' section with a python block"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").symlink_to(ROOT / "checkpoints")
    scope: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), scope)
    images = first_test_images(4).images
    assert np.array_equal(scope["result"].logits, golden.run(images, "threshold").logits)
    assert scope["hls"]["mismatches"] == 0 and scope["hls"]["images"] == 4
