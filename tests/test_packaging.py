"""Packaging and command conventions: version, help with defaults, hls/rtl groups as aliases,
a wheel that ships the HLS and RTL sources and an installed package that finds them and
writes only under the working directory's out/."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

import sievit
from sievit.cli import build_parser, main

from conftest import CKPT, ROOT


def _parsers(p: argparse.ArgumentParser, name: str = "sievit"):
    yield name, p
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sub, child in a.choices.items():
                yield from _parsers(child, f"{name} {sub}")


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"sievit {sievit.__version__}"
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["dynamic"] == ["version"] and meta["license"] == "Apache-2.0"
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert "## " in (ROOT / "CHANGELOG.md").read_text()


def test_every_option_has_help_and_shows_its_default():
    missing = []
    for name, p in _parsers(build_parser()):
        assert p.formatter_class is argparse.ArgumentDefaultsHelpFormatter, name
        text = p.format_help()
        for a in p._actions:
            if isinstance(a, (argparse._HelpAction, argparse._VersionAction,
                              argparse._SubParsersAction)):
                continue
            if not a.help:
                missing.append(f"{name} {a.option_strings or a.dest}")
            elif a.option_strings and a.default is not argparse.SUPPRESS:
                assert f"(default: {a.default})".replace("\n", " ") in " ".join(text.split()), \
                    f"{name} {a.option_strings[0]} does not show its default"
    assert not missing, f"options without help: {missing}"


@pytest.mark.parametrize("group,alias,args", [
    ("hls", "export-hls", ["export", "--bundle", "B", "--out", "P", "--lanes", "4"]),
    ("hls", "csim", ["csim", "P", "--images", "3", "--engines"]),
    ("hls", "synth", ["synth", "P", "--engine", "linear"]),
    ("rtl", "cosim", ["cosim", "--bundle", "B", "--images", "2", "--stall", "5"]),
    ("rtl", "rtl-synth", ["synth", "--cached", "R"]),
])
def test_grouped_commands_parse_like_their_aliases(group, alias, args):
    p = build_parser()
    grouped = vars(p.parse_args([group, *args]))
    flat = vars(p.parse_args([alias, *args[1:]]))
    assert grouped.pop(f"{group}_cmd") == args[0]
    assert grouped == flat and grouped["cmd"] == alias


def test_hls_export_group_writes_the_same_project(tmp_path, capsys):
    assert main(["hls", "export", "--bundle", str(CKPT / "bundle"), "--out", str(tmp_path / "a"),
                 "--json"]) == 0
    assert main(["export-hls", "--bundle", str(CKPT / "bundle"), "--out", str(tmp_path / "b"),
                 "--json"]) == 0
    for f in ("firmware/parameters.h", "firmware/weights/weights.bin", "tb/tb_model.cpp"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def _copy_sources(dst: Path) -> None:
    """The package's sources without build outputs, data or the venv."""
    skip = {".git", ".venv", "build", "out", "checkpoints", "docs", "rtl_tests", "tests",
            "scripts", "__pycache__", ".hypothesis", ".pytest_cache"}
    shutil.copytree(ROOT, dst, ignore=lambda d, names: [n for n in names if n in skip
                                                        or n.endswith(".egg-info")])


def test_wheel_ships_hls_and_rtl_sources_and_installs(tmp_path):
    src = tmp_path / "src"
    _copy_sources(src)
    py = sys.executable
    res = subprocess.run([py, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                          "--no-index", "-w", str(tmp_path / "whl"), str(src)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    wheel = next((tmp_path / "whl").glob("sievit-*.whl"))
    assert wheel.name.startswith(f"sievit-{sievit.__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    want = {f"sievit/hls/{f.relative_to(ROOT / 'hls')}" for pat in
            ("include/sievit/*.h", "firmware/*.h", "firmware/*.cpp", "tb/*.h", "tb/*.cpp")
            for f in (ROOT / "hls").glob(pat)}
    want |= {f"sievit/rtl/{f.relative_to(ROOT / 'rtl')}" for pat in ("*.sv", "sim/*.sv")
             for f in (ROOT / "rtl").glob(pat)}
    assert len(want) > 30 and not want - names, sorted(want - names)
    assert any(n.endswith("licenses/LICENSE") for n in names)

    # a fresh venv whose dependencies come from this one (a .pth line; nothing downloaded)
    venv = tmp_path / "venv"
    subprocess.run([py, "-m", "venv", "--without-pip", str(venv)], check=True)
    vpy = venv / "bin" / "python"
    site = Path(subprocess.run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    res = subprocess.run([str(vpy), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    before = sorted(p for p in site.rglob("*") if "__pycache__" not in p.parts)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": "", "SIEVIT_OUT": ""}
    probe = ("import json, sievit, sievit.rtl.cosim as c, sievit.paths as p; print(json.dumps("
             "{'pkg': sievit.__file__, 'rtl': [str(s) for s in c.rtl_sources()], "
             "'hls': str(p.hls_dir()), 'build': str(p.build_root('cosim'))}))")
    res = subprocess.run([str(vpy), "-c", probe], capture_output=True, text=True, cwd=work, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    info = json.loads(res.stdout)
    assert info["pkg"].startswith(str(site)) and info["hls"].startswith(str(site))
    assert all(r.startswith(str(site)) and Path(r).is_file() for r in info["rtl"])
    assert info["build"] == str(work / "out" / "build" / "cosim")
    # the installed command: an HLS project from the shipped sources, C-simulated with g++,
    # and a prediction whose outputs land under the working directory's out/
    sv = venv / "bin" / "sievit"
    run = lambda *a: subprocess.run([str(sv), *a], capture_output=True, text=True, cwd=work, env=env)
    res = run("hls", "export", "--bundle", str(CKPT / "bundle"), "--out", "prj")
    assert res.returncode == 0, res.stderr[-2000:]
    res = run("hls", "csim", "prj", "--images", "2", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["mismatches"] == 0, res.stderr[-2000:]
    from PIL import Image
    from sievit.data import first_test_images
    Image.fromarray(first_test_images(1).images[0]).save(work / "x.png")
    res = run("predict", "--ckpt", str(CKPT / "bundle"), "x.png", "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    assert Path(json.loads(res.stdout)["results"][0]["overlay"]).parent == Path("out/predict")
    assert (work / "out" / "predict").is_dir()
    after = sorted(p for p in site.rglob("*") if "__pycache__" not in p.parts)
    assert after == before, "something was written into the installed package"
