import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
CKPT = ROOT / "checkpoints" / "fmnist_heatvit_b40"  # deployed (docs/deployed.json)


@pytest.fixture(scope="session")
def bundle():
    from sievit.quant.export import export_checkpoint
    return export_checkpoint(CKPT)


@pytest.fixture(scope="session")
def golden(bundle):
    from sievit.quant.golden import Golden
    return Golden(bundle)


@pytest.fixture(scope="session")
def model():
    from sievit.quant.export import load_checkpoint
    return load_checkpoint(CKPT)


def assert_model_matches(model, images, mode: str, result, label: str = "") -> None:
    """The Brevitas model's integer eval path equals a golden run `result` on `images`:
    int32 logits and kept-token indices, bit for bit."""
    from sievit.quant.evaluate import compare, model_int_outputs
    logits, kept = model_int_outputs(model, images, mode)
    assert not compare(logits, kept, result).any(), f"{label} golden != model".strip()


def assert_checkpoint_bit_exact(ckpt: Path, mode: str, n_images: int) -> None:
    """A checkpoint's model and its exported golden model agree on the first test images."""
    from sievit.data import first_test_images
    from sievit.quant.export import export_checkpoint, load_checkpoint
    from sievit.quant.golden import Golden
    model = load_checkpoint(ckpt)
    images = first_test_images(n_images).images
    assert_model_matches(model, images, mode, Golden(export_checkpoint(ckpt, model)).run(images, mode))
