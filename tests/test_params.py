"""Parameter sets: one typed object, defaults in default.yaml only, inheritance, overrides, the CI switch,
one shape for every recipe, typos and wrong types refused by name."""
import dataclasses

import pytest

from deblur_utils import params
from deblur_utils.params import load_params
from deblur_utils.params.schema import RECIPES, Params
from deblur_utils.runtime.paths import NOTEBOOKS


def test_ci_inherits_default_and_merges_nested_keys():
    d, ci = load_params("default"), load_params("ci")
    assert isinstance(ci, Params) and ci.presets == d.presets
    assert ci.recipe("faithful")["model_kwargs"]["width"] < d.recipe("faithful")["model_kwargs"]["width"]
    assert ci.recipe("ours")["loss"] == d.recipe("ours")["loss"]          # inherited
    assert ci.recipe("ours")["batch_size"] != d.recipe("ours")["batch_size"]  # overridden
    assert ci.recipe("ours")["model_kwargs"]["est_heads"] == d.recipe("ours")["model_kwargs"]["est_heads"]


def test_every_set_gives_every_parameter_and_default_yaml_is_the_one_place_of_values():
    """Params has no default of its own: a parameter missing from default.yaml is an error, not a silent
    value from code."""
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(Params))
    for name in params.available_sets():
        P = load_params(name)
        assert set(P.as_dict()) == {f.name for f in dataclasses.fields(Params)}


def test_every_recipe_has_one_shape_and_resolves_over_its_base():
    """A recipe is TrainConfig fields over its base: model_kwargs merge while the model stays, and a
    recipe that changes the model keeps none of its base's model settings."""
    P = load_params("default")
    assert set(RECIPES) == {"faithful", "residual", "ours", "told", "small"}
    small, faithful = P.recipe("small"), P.recipe("faithful")
    assert small["model_kwargs"] == {"width": 76} and small["lr"] == faithful["lr"] == 1e-4
    residual, ours = P.recipe("residual"), P.recipe("ours")
    assert residual["model"] == "residual_srcnn" and residual["model_kwargs"] == {"width": 64}
    assert residual["optimizer"] == ours["optimizer"] and residual["loss"] == "charbonnier"
    told = P.train_config("told", presets=["b"])
    assert told.model_kwargs["est_heads"] == ours["model_kwargs"]["est_heads"] and told.presets == ["b"]
    cfg = P.train_config("ours")
    assert (cfg.device, cfg.seed, cfg.cpu_threads, cfg.presets) == (P.device, P.seed, P.cpu_threads, P.presets)


def test_environment_variable_selects_the_set(monkeypatch):
    monkeypatch.setenv("DEBLUR_PARAMS", "ci")
    assert load_params("default").param_set == "ci"


def test_overrides_apply_and_none_means_from_the_set():
    P = load_params("default", faithful={"model_kwargs": {"width": 1024}}, epochs=None)
    assert P.recipe("faithful")["model_kwargs"] == {"width": 1024}
    assert P.recipe("faithful")["epochs"] == load_params("default").recipe("faithful")["epochs"]
    assert load_params("default", test_max_frames=None).test_max_frames is None  # the set's own null
    assert params.override(P, ours={"epochs": 3}).recipe("ours")["epochs"] == 3


def test_typos_wrong_types_and_unknown_sets_are_refused_by_name():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['widht'\]"):
        load_params("default", widht=3)
    with pytest.raises(ValueError, match=r"recipe ours: unknown setting\(s\) \['lrr'\]"):
        load_params("default", ours={"lrr": 0.1})
    with pytest.raises(ValueError, match=r"recipe ours: \['device'\] are set for every run"):
        load_params("default", ours={"device": "cpu"})
    with pytest.raises(ValueError, match="parameter zoom_size must be int, got 'big'"):
        load_params("default", zoom_size="big")
    with pytest.raises(ValueError, match="parameter presets must be a list"):
        load_params("default", presets="b")
    with pytest.raises(FileNotFoundError, match="parameter set 'nope' not found"):
        load_params("nope")


def test_a_yaml_file_inherits_the_default_set(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("zoom_size: 48\nours:\n  epochs: 1\n")
    P = load_params(str(path))
    assert P.zoom_size == 48 and P.recipe("ours")["epochs"] == 1 and P.presets == ["a", "b", "c"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_each_notebook_names_only_known_parameters_and_applies_them(name):
    """The parameters cell is the only place a notebook names its parameters: every name there is a
    parameter, and ``for_notebook`` applies each one the notebook sets."""
    names = params.notebook_parameters(name)
    assert names[0] == "param_set" and set(names[1:]) <= {f.name for f in dataclasses.fields(Params)}
    namespace = {n: None for n in names} | {"param_set": "ci"}
    assert params.for_notebook(name, namespace) == load_params("ci")
    if "zoom_size" in names:
        assert params.for_notebook(name, {**namespace, "zoom_size": 16}).zoom_size == 16
