import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
CKPT = ROOT / "checkpoints" / "fmnist_heatvit"


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
