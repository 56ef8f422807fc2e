"""README/docs figures agree with the committed JSON results (scripts/render_docs.py)."""
import importlib.util
import json
import re
import shutil
import subprocess
import sys

from conftest import ROOT

SCRIPT = ROOT / "scripts" / "render_docs.py"


def _render_docs():
    spec = importlib.util.spec_from_file_location("render_docs", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _copy(tmp_path):
    """The docs and every source they render from, without git history."""
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "docs", root / "docs")
    shutil.copy(ROOT / "README.md", root / "README.md")
    (root / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "demo.sh", root / "scripts" / "demo.sh")
    for ckpt in (ROOT / "checkpoints").iterdir():
        for name in ("config.yaml", "metrics.json"):
            if (ckpt / name).is_file():
                (root / "checkpoints" / ckpt.name).mkdir(parents=True, exist_ok=True)
                shutil.copy(ckpt / name, root / "checkpoints" / ckpt.name / name)
    return root


def test_docs_agree_with_their_json():
    r = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, f"stale README/docs figures:\n{r.stderr}\n{r.stdout}"


def test_check_catches_a_changed_number(tmp_path):
    rd = _render_docs()
    root = _copy(tmp_path)
    assert rd.main(["--check", "--root", str(root)]) == 0
    path = root / "docs" / "rtl" / "cosim_deit_zcu102_none.json"
    d = json.loads(path.read_text())
    d["modes"]["none"]["cycles_per_image"] = 4_321_000.0
    path.write_text(json.dumps(d))
    stale, _, diff = rd.render(root, write=False)
    # the README's and docs/rtl.md's DeiT tables and the speed-up over the last release go stale
    assert "README.md: table rtl_deit" in stale and "docs/rtl.md: table rtl_deit_phases" in stale
    assert f"+| zcu102 (2048 MACs/cycle) | dense | **0 of {d['images']}** | 4.321 M |" in diff
    assert rd.main(["--check", "--root", str(root)]) == 1
    # rendering writes the new number, after which the check passes again
    assert rd.main(["--root", str(root)]) == 0
    assert "| 4.321 M |" in (root / "README.md").read_text()
    assert rd.main(["--check", "--root", str(root)]) == 0


def test_check_catches_a_hand_edited_value(tmp_path, capsys):
    rd = _render_docs()
    root = _copy(tmp_path)
    readme = root / "README.md"
    text, n = re.subn(r"(<!-- value:pareto\.wall -->)[^<]*", r"\g<1>756 s", readme.read_text())
    assert n == 1
    readme.write_text(text)
    assert rd.main(["--check", "--root", str(root)]) == 1
    assert "README.md: value pareto.wall" in capsys.readouterr().err


def test_missing_json_leaves_block_and_unknown_marker_is_refused(tmp_path):
    rd = _render_docs()
    root = _copy(tmp_path)
    (root / "docs" / "rtl" / "cosim_fmnist_200_threshold.json").unlink()
    stale, notes, _ = rd.render(root, write=False)
    # the table names the missing file in its row; inline values from it are left as written
    assert "README.md: table rtl_fmnist" in stale
    assert any("value rtl.fm.cycles: no JSON committed" in n for n in notes)
    readme = root / "README.md"
    readme.write_text(readme.read_text() + "\n<!-- value:no.such -->1<!-- /value -->\n")
    assert rd.main(["--check", "--root", str(root)]) == 2


def test_kept_tokens_caption_counts_the_drawn_images():
    """The caption's count is what `sievit plot` draws: one 1.9-inch row per image at 110 dpi."""
    from PIL import Image
    height = Image.open(ROOT / "docs" / "kept_tokens.png").size[1]
    m = re.search(r"<!-- value:plot\.kept_tokens_images -->(\d+)<!-- /value -->", (ROOT / "README.md").read_text())
    assert m and round(height / (1.9 * 110)) == int(m.group(1))
