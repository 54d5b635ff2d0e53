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

