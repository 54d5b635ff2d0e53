"""Named parameter sets, loaded into one typed object (``schema.Params``) that notebooks and the
command line read alike.

The sets ship with the package: ``default.yaml`` (CPU-sized, ``make report``) gives every value;
``ci.yaml`` (seconds, ``make test``) and ``full.yaml`` (one GPU, the course's frames) inherit it and
change some (dicts merge key by key; ``inherit: <set>`` names another parent). A YAML file given by
path does the same. The environment variable ``DEBLUR_PARAMS`` (a set name or a YAML path) replaces
the set a notebook asks for: that is how ``pytest --nbmake``, which cannot inject parameters, runs
the notebooks in the CI configuration.

A notebook names its parameters once, in its ``parameters`` cell; ``for_notebook`` reads that cell's
names and applies every one that is not None over the set.

>>> load_params("ci").faithful.settings["model_kwargs"], load_params("ci").recipe("faithful")["lr"]
({'width': 8}, 0.0001)
>>> load_params("default", ours={"epochs": 2}).recipe("ours")["epochs"]   # an override beats any set
2
"""
from __future__ import annotations

import ast
import copy
import json
import os
from pathlib import Path

import yaml

from ..runtime import paths
from .schema import FIELDS, RECIPES, Params, Recipe, build

ENV_VAR = "DEBLUR_PARAMS"
SETS_DIR = Path(__file__).resolve().parent
BASE_SET = "default"

__all__ = ["ENV_VAR", "Params", "RECIPES", "Recipe", "available_sets", "for_notebook", "load_params", "override",
           "notebook_parameters", "set_path", "show"]


def available_sets() -> list[str]:
    return sorted(p.stem for p in SETS_DIR.glob("*.yaml"))


def set_path(name_or_path) -> Path:
    """The YAML file of a set: a path ending in .yaml/.yml as given, else ``<name>.yaml`` shipped here."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = SETS_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"parameter set {str(name_or_path)!r} not found (looked for {path}); "
                                f"choose one of {available_sets()} or give a path to a YAML file")
    return path


def _read_set(name_or_path, seen=()) -> dict:
    path = set_path(name_or_path)
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a parameter set is a YAML mapping of name: value")
    parent = raw.pop("inherit", None if path == SETS_DIR / f"{BASE_SET}.yaml" else BASE_SET)
    if parent is None:
        return raw
    if parent in seen:
        raise ValueError(f"{path}: 'inherit' loops through {parent!r}")
    return merge(_read_set(parent, seen + (parent,)), raw)


def merge(base: dict, override: dict) -> dict:
    """``override`` on top of ``base``; nested dicts merge key by key."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_params(param_set: str = "default", **overrides) -> Params:
    """The parameter set (``DEBLUR_PARAMS`` wins when set) with every non-None override applied (a
    recipe's mapping merges key by key), checked against ``Params``: an unknown name is refused, naming it."""
    chosen = os.environ.get(ENV_VAR) or param_set
    values = merge(_read_set(chosen), {k: v for k, v in overrides.items() if v is not None})
    values["param_set"] = str(chosen)
    return build(values, f"parameter set {chosen!r}")


def override(P: Params, **changes) -> Params:
    """``P`` with ``changes`` merged over it as ``load_params`` merges overrides (a recipe's mapping key by
    key), checked again."""
    return build(merge(P.as_dict(), changes), f"parameter set {P.param_set!r} with {sorted(changes)}")


def notebook_parameters(name: str) -> list[str]:
    """The names notebooks/<name>.ipynb's ``parameters`` cell assigns (what papermill can override)."""
    nb = json.loads((paths.notebooks_dir() / f"{name}.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return [t.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)]


def for_notebook(name: str, namespace: dict) -> Params:
    """The parameters of notebook ``name``: its set (``param_set``), with every other name of its
    parameters cell that is not None in ``namespace`` (the notebook's globals, after papermill's
    injected cell) applied on top."""
    names = notebook_parameters(name)
    unknown = sorted(set(names) - set(FIELDS))
    if unknown:
        raise ValueError(f"notebook {name}'s parameters cell names {unknown}, which are no parameters; "
                         f"known: {sorted(FIELDS)}")
    return load_params(namespace.get("param_set") or "default",
                       **{n: namespace.get(n) for n in names if n != "param_set"})


def show(P: Params) -> str:
    """The parameters as indented JSON, for the top of a notebook."""
    return json.dumps(P.as_dict(), indent=1, default=str)
