import numpy as np
import pytest


@pytest.fixture(autouse=True)
def isolated_workdir(tmp_path, monkeypatch):
    """Every test writes under its own temporary work directory, never the report's."""
    monkeypatch.setenv("DEBLUR_WORKDIR", str(tmp_path / "work"))
    monkeypatch.delenv("DEBLUR_PARAMS", raising=False)
    return tmp_path / "work"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)



@pytest.fixture
def processed(tmp_path, rng):
    """A prepared Set A/B folder of three 256x448 sequences (train s1 s2, val s3)."""
    from helpers import make_raw

    from deblur_utils.data.sets import prepare_sets, save_splits

    raw = make_raw(tmp_path / "raw", rng, seqs=("s1", "s2", "s3"), frames=2, size=(256, 448))
    out = tmp_path / "proc"
    prepare_sets(raw, out, progress=False)
    save_splits(out, {"train": ["s1", "s2"], "val": ["s3"], "test": []})
    return out
