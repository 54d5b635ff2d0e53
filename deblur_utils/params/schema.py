"""The parameter object: every parameter of the report, typed, in one frozen dataclass.

``Params`` has a field per parameter and no defaults of its own: the values live in one place,
``default.yaml`` beside this file, which every other set inherits and overrides. Loading checks each
value against the field's type and refuses an unknown name, naming it.

The five training recipes have one shape, ``Recipe``: the ``TrainConfig`` fields it sets, and the
recipe it builds on (``base``). A recipe's settings go over its base's, key by key; ``model_kwargs``
merge key by key too, unless the recipe changes the model (a residual SRCNN on our recipe keeps
none of the blind network's settings). The settings every run shares (``RUN_KEYS``: device,
threads, seed, resume, subsets) are parameters of the set, not of a recipe.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Union

from ..training.config import TrainConfig

RECIPES = ("faithful", "residual", "ours", "told", "small")
# TrainConfig fields every run takes from the parameter set itself (``Params.train_config``).
RUN_KEYS = ("train_max_frames", "val_max_frames", "device", "seed", "resume", "checkpoint_every_minutes",
            "cpu_threads")
RECIPE_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in RUN_KEYS)


@dataclass(frozen=True)
class Recipe:
    """One training recipe: ``settings`` (TrainConfig fields) over the recipe named ``base`` (or over
    TrainConfig's own defaults)."""

    base: Optional[str]
    settings: Dict[str, Any]

    def get(self, key: str, default=None):
        return self.settings.get(key, default)


@dataclass(frozen=True)
class Params:
    """Every parameter of notebooks 01-05 and the command line; ``default.yaml`` says what each means."""

    param_set: str
    # --- data (01) ---
    raw_dir: Optional[str]
    frames_per_sequence: int
    frame_height: int
    frame_width: int
    presets: List[str]
    on_bad_image: str
    prepare_workers: Optional[int]
    real_photos: bool
    real_frames_per_photo: int
    real_max_photos: Optional[int]
    training_photos: bool
    training_views_per_photo: int
    max_sequences: Optional[int]
    max_frames_per_sequence: Optional[int]
    val_fraction: float
    test_fraction: float
    split_seed: int
    # --- every training run (02, 03) ---
    device: str
    cpu_threads: Optional[int]
    seed: int
    train_max_frames: Optional[int]
    val_max_frames: Optional[int]
    resume: bool
    checkpoint_every_minutes: Optional[float]
    nproc: int
    train_02: List[str]
    told_runs: bool
    scaling_images: int
    scaling_nproc: int
    # --- the recipes ---
    faithful: Recipe
    residual: Recipe
    ours: Recipe
    told: Recipe
    small: Recipe
    # --- evaluation (04) ---
    test_max_frames: Optional[int]
    tune_max_frames: int
    wiener_balances: List[float]
    rl_iterations: List[int]
    one_blur_views: int
    sweep_sigmas: List[float]
    sweep_max_frames: Optional[int]
    # --- qualitative (05) ---
    zoom_size: int

    def recipe(self, name: str) -> dict:
        """The recipe ``name``'s settings with its bases resolved (TrainConfig fields, run keys aside)."""
        if name not in RECIPES:
            raise ValueError(f"unknown recipe {name!r}: the recipes are {list(RECIPES)}")
        r: Recipe = getattr(self, name)
        if r.base is None:
            return dict(r.settings)
        base = self.recipe(r.base)
        own = dict(r.settings)
        if "model_kwargs" in own and own.get("model", base.get("model")) == base.get("model"):
            own["model_kwargs"] = {**base.get("model_kwargs", {}), **own["model_kwargs"]}
        elif own.get("model", base.get("model")) != base.get("model"):
            base.pop("model_kwargs", None)  # another model: the base's model settings do not apply
        return {**base, **own}

    def train_config(self, name: str, **changes) -> TrainConfig:
        """The TrainConfig of recipe ``name``: the run keys of this set, the recipe's presets (else the
        set's), the recipe itself, then ``changes`` (a run's own: its presets, a fixed sigma...)."""
        settings = {**self.recipe(name), **changes}
        run = {k: getattr(self, k) for k in RUN_KEYS}
        run["presets"] = list(settings.pop("presets", self.presets))
        return TrainConfig.from_dict({**run, **settings})

    def as_dict(self) -> dict:
        """Every parameter as plain data (a recipe as its own settings, with ``base``), as a YAML set holds it."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = {**({"base": v.base} if v.base else {}), **v.settings} if isinstance(v, Recipe) else v
        return out


FIELDS = {f.name: f for f in dataclasses.fields(Params)}
TYPES = typing.get_type_hints(Params)


def check_type(name: str, value, kind) -> Any:
    """``value`` as field ``name`` of type ``kind`` takes it (an int where a float is asked becomes one);
    a ValueError that names the parameter, its type and the value otherwise."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Union or (hasattr(types, "UnionType") and isinstance(kind, getattr(types, "UnionType"))):
        if value is None and type(None) in args:
            return None
        others = [a for a in args if a is not type(None)]
        return check_type(name, value, others[0] if len(others) == 1 else Any)
    if kind is Any:
        return value
    if kind is list:
        kind, origin, args = List[Any], list, (Any,)
    if kind is dict:
        kind, origin = Dict[str, Any], dict
    if origin in (list, List):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"parameter {name} must be a list of {getattr(args[0], '__name__', 'values')}, "
                             f"got {value!r}")
        return [check_type(name, v, args[0]) for v in value]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise ValueError(f"parameter {name} must be a mapping, got {value!r}")
        return dict(value)
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind in (bool, str) and isinstance(value, kind):
        return value
    raise ValueError(f"parameter {name} must be {getattr(kind, '__name__', kind)}, got {value!r} "
                     f"({type(value).__name__})")


_TRAIN_TYPES = typing.get_type_hints(TrainConfig)


def recipe_from(name: str, value) -> Recipe:
    """A recipe from its mapping: ``base`` and TrainConfig fields, each of TrainConfig's type; unknown keys
    and the set-wide run keys are refused by name."""
    if isinstance(value, Recipe):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"recipe {name} must be a mapping of training settings, got {value!r}")
    settings = dict(value)
    base = settings.pop("base", None)
    if base is not None and base not in RECIPES:
        raise ValueError(f"recipe {name}: base {base!r} is not a recipe; the recipes are {list(RECIPES)}")
    run_level = sorted(set(settings) & set(RUN_KEYS))
    if run_level:
        raise ValueError(f"recipe {name}: {run_level} are set for every run at the top of the parameter set, "
                         "not per recipe")
    unknown = sorted(set(settings) - set(RECIPE_KEYS))
    if unknown:
        raise ValueError(f"recipe {name}: unknown setting(s) {unknown}; a recipe sets {sorted(RECIPE_KEYS)}")
    return Recipe(base, {k: _recipe_value(name, k, v) for k, v in settings.items()})


def _recipe_value(recipe: str, key: str, value):
    try:
        return check_type(key, value, _TRAIN_TYPES[key])
    except ValueError as err:
        raise ValueError(f"recipe {recipe}: {err}") from None


def build(values: dict, where: str) -> Params:
    """``Params`` from a merged parameter set ``values``; ``where`` names the set in errors."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ValueError(f"{where}: unknown parameter(s) {unknown}; known: {sorted(FIELDS)}")
    missing = sorted(set(FIELDS) - set(values))
    if missing:
        raise ValueError(f"{where}: parameter(s) {missing} have no value; every set inherits default.yaml, "
                         "which gives each one")
    checked = {}
    for name, value in values.items():
        checked[name] = recipe_from(name, value) if name in RECIPES else check_type(name, value, TYPES[name])
    return Params(**checked)
