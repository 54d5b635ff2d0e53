"""Parameter sets: inheritance, overrides, the CI switch, typos refused."""
import pytest

from deblur_utils.config import load_params


def test_ci_inherits_default_and_merges_nested_keys():
    d, ci = load_params("default"), load_params("ci")
    assert ci["presets"] == d["presets"] and ci["width"] < d["width"]
    assert ci["ours"]["loss"] == d["ours"]["loss"] and ci["ours"]["batch_size"] != d["ours"]["batch_size"]


def test_environment_variable_selects_the_set(monkeypatch):
    monkeypatch.setenv("DEBLUR_PARAMS", "ci")
    assert load_params("default")["param_set"] == "ci"


def test_overrides_apply_and_none_means_from_the_set():
    assert load_params("default", width=1024, epochs=None)["width"] == 1024
    assert load_params("default", epochs=None)["epochs"] == load_params("default")["epochs"]


def test_typos_and_unknown_sets_are_refused():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['widht'\]"):
        load_params("default", widht=3)
    with pytest.raises(FileNotFoundError, match="parameter set 'nope' not found"):
        load_params("nope")
