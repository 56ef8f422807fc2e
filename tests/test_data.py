"""Training and evaluation at other image sizes and on an image folder (ImageFolder layout)."""
import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from sievit.config import load_config, validate
from sievit.data import (class_names, config_split, config_test_images, load_image, load_split,
                         to_model_input)
from sievit.errors import SievitError

from conftest import ROOT, assert_model_matches


def _nearest_reference(raw: np.ndarray, size: int) -> np.ndarray:
    """Independent nearest resize: output pixel (r, c) reads source (r*H//size, c*H//size)."""
    h = raw.shape[1]
    out = np.empty((len(raw), size, size), dtype=raw.dtype)
    for r in range(size):
        for c in range(size):
            out[:, r, c] = raw[:, r * h // size, c * h // size]
    return out


def _train_and_check(cfg: dict, out: Path, n_images: int) -> None:
    """Train two steps per stage, then golden == model on test images at the config's shape."""
    from sievit.model.train import train
    from sievit.quant.evaluate import golden_metrics
    from sievit.quant.export import export_checkpoint, load_checkpoint
    from sievit.quant.golden import Golden
    metrics = train(cfg, out, epochs=1, seed=1, device_name="cpu", max_steps=2)
    assert set(metrics["stages"]) == {"float", "qat", "selector1", "selector2"}
    model = load_checkpoint(out)
    golden = Golden(export_checkpoint(out, model))
    split = config_test_images(golden.b.config, n_images)
    s = cfg["model"]["image_size"]
    assert split.images.shape == (min(n_images, len(split.labels)), s, s)
    for mode in ("none", "threshold", "topk"):
        assert_model_matches(model, split.images, mode, golden.run(split.images, mode), mode)
    m = golden_metrics(golden, split, "topk")
    assert m["tokens_per_stage"] == [float(t) for t in cfg["reduction"]["topk_tokens"]]
    assert 0.0 <= m["acc"] <= 1.0


@pytest.mark.parametrize("size", [24, 20])
def test_train_and_eval_at_configured_image_size(tmp_path, size):
    cfg = load_config(ROOT / "configs" / f"fmnist_{size}px.yaml")
    val = config_split(cfg, "val", 64)
    assert val.images.shape == (64, size, size)
    raw = load_split("val")
    assert np.array_equal(val.images, _nearest_reference(raw.images[:64], size))
    assert np.array_equal(val.labels, raw.labels[:64])
    _train_and_check(cfg, tmp_path / "run", n_images=32)


FOLDER_CLASSES = {0: "tshirt", 1: "trouser", 7: "sneaker"}  # Fashion-MNIST label -> folder


def _write_folder(root: Path, images: np.ndarray, labels: np.ndarray, per_class: int) -> dict:
    """root/<class>/NNNN.png from Fashion-MNIST; returns {folder: source images in file order}."""
    written = {}
    for label, name in FOLDER_CLASSES.items():
        src = images[labels == label][:per_class]
        (root / name).mkdir(parents=True)
        for i, img in enumerate(src):
            Image.fromarray(img, mode="L").save(root / name / f"{i:04d}.png")
        written[name] = src
    return written


def _folder_cfg(tmp_path: Path, size: int = 20) -> tuple[dict, dict, dict]:
    raw_train, raw_test = load_split("train"), load_split("test")
    train = _write_folder(tmp_path / "train", raw_train.images, raw_train.labels, 20)
    test = _write_folder(tmp_path / "test", raw_test.images, raw_test.labels, 8)
    cfg = yaml.safe_load((ROOT / "configs" / f"fmnist_{size}px.yaml").read_text())
    cfg["name"] = "folder_test"
    cfg["model"]["num_classes"] = 3
    cfg["train"]["calib_images"] = 16
    cfg["data"] = {"dataset": "folder", "train": str(tmp_path / "train"),
                   "test": str(tmp_path / "test"), "val_fraction": 0.25}
    return validate(cfg), train, test


def test_image_folder_dataset_loads_trains_and_evaluates(tmp_path):
    cfg, train_src, test_src = _folder_cfg(tmp_path)
    names = sorted(FOLDER_CLASSES.values())  # ImageFolder: labels by sorted folder name
    assert class_names(cfg) == tuple(names)
    test = config_split(cfg, "test")
    expect = np.concatenate([test_src[n] for n in names])
    assert np.array_equal(test.images, _nearest_reference(expect, 20))
    assert np.array_equal(test.labels, np.repeat(np.arange(3), 8))
    tr, va = config_split(cfg, "train"), config_split(cfg, "val")
    assert len(tr.labels) == 45 and len(va.labels) == 15  # val_fraction 0.25 of 60
    every = _nearest_reference(np.concatenate([train_src[n] for n in names]), 20)
    both = np.concatenate([tr.images, va.images]).reshape(60, -1)
    # train and val are disjoint and together hold every training file exactly once
    assert sorted(map(bytes, both)) == sorted(map(bytes, every.reshape(60, -1)))
    _train_and_check(copy.deepcopy(cfg), tmp_path / "run", n_images=24)
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["data"]["classes"] == names


def test_image_folder_errors(tmp_path):
    cfg, _, _ = _folder_cfg(tmp_path)
    (tmp_path / "test" / "sneaker").rename(tmp_path / "test" / "sandal")
    with pytest.raises(SievitError, match=r"has classes \['sandal', 'trouser', 'tshirt'\]"):
        config_split(cfg, "test")
    bad = copy.deepcopy(cfg)
    bad["model"]["num_classes"] = 10
    with pytest.raises(SievitError, match="3 classes, model.num_classes is 10"):
        config_split(bad, "train")
    empty = copy.deepcopy(cfg)
    (tmp_path / "empty" / "a").mkdir(parents=True)
    empty["data"]["train"] = str(tmp_path / "empty")
    with pytest.raises(SievitError, match="holds no .png"):
        config_split(empty, "train")
    missing = copy.deepcopy(cfg)
    missing["data"]["train"] = str(tmp_path / "nowhere")
    with pytest.raises(SievitError, match="nowhere does not exist"):
        config_split(missing, "train")
    (tmp_path / "train" / "tshirt" / "9999.png").write_bytes(b"not a png")
    with pytest.raises(SievitError, match="9999.png is not a readable image"):
        config_split(copy.deepcopy(cfg), "train")
    raw = yaml.safe_load((ROOT / "configs" / "fmnist_20px.yaml").read_text())
    with pytest.raises(SievitError, match="data.dataset must be one of fmnist, folder"):
        validate({**raw, "data": {"dataset": "cifar"}})
    with pytest.raises(SievitError, match="needs data.test"):
        validate({**raw, "data": {"dataset": "folder", "train": "x"}})
    with pytest.raises(SievitError, match=r"unknown config key\(s\) in 'data': root"):
        validate({**raw, "data": {"root": "x"}})


def test_image_files_convert_like_the_training_data(tmp_path):
    cfg = load_config(ROOT / "configs" / "fmnist_24px.yaml")
    raw = load_split("test").images[:3]
    for i, img in enumerate(raw):
        Image.fromarray(img).save(tmp_path / f"{i}.png")
        Image.fromarray(img).convert("RGB").save(tmp_path / f"{i}.jpg", quality=100)
    assert np.array_equal(np.stack([load_image(tmp_path / f"{i}.png", cfg) for i in range(3)]),
                          config_test_images(cfg, 3).images)
    jpg = load_image(tmp_path / "0.jpg", cfg)  # RGB JPEG -> grey, lossy but close
    assert jpg.shape == (24, 24)
    assert np.abs(jpg.astype(int) - config_test_images(cfg, 1).images[0]).mean() < 8
    # a large non-square RGB picture: centre square, box-reduced, nearest resize, 3 channels
    big = np.zeros((100, 160, 3), dtype=np.uint8)
    big[:, 30:130] = 200  # the centre 100 x 100 square is uniform
    out = to_model_input(Image.fromarray(big), 20, 3)
    assert out.shape == (20, 20, 3) and (out == 200).all()
    with pytest.raises(SievitError, match="does not exist"):
        load_image(tmp_path / "missing.png", cfg)
