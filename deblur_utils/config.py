"""Named parameter sets: ``params/<name>.yaml``, read by notebooks and the CLI alike.

A set may ``inherit`` another and override some keys (dicts merge key by key).
The environment variable ``DEBLUR_PARAMS`` (a set name or a YAML path) replaces
the set a notebook asks for: that is how ``pytest --nbmake``, which cannot
inject parameters, runs the notebooks in the CI configuration.

>>> _read_set("ci")["width"], _read_set("ci")["lr"]   # ci overrides width, inherits lr
(8, 0.0001)
>>> load_params("default", width=1024)["width"]        # an override beats any set
1024
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import yaml

from .paths import PARAMS_DIR

ENV_VAR = "DEBLUR_PARAMS"


def available_sets() -> list[str]:
    return sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))


def _read_set(name_or_path, seen=()) -> dict:
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = PARAMS_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"parameter set {name_or_path!r} not found (looked for {path}); "
                                f"choose one of {available_sets()} or give a path to a YAML file")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a parameter set is a YAML mapping of name: value")
    parent = raw.pop("inherit", None)
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


def load_params(param_set: str = "default", **overrides) -> dict:
    """The parameter set (``DEBLUR_PARAMS`` wins when set) with every non-None override applied.

    Unknown override names are refused, with the list of known ones: a typo must not pass silently.
    """
    chosen = os.environ.get(ENV_VAR) or param_set
    params = _read_set(chosen)
    known = set(_read_set("default")) | set(params)
    unknown = sorted(k for k, v in overrides.items() if v is not None and k not in known)
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; known: {sorted(known)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    params = merge(params, given)
    params["param_set"] = str(chosen)
    return params


def show(params: dict) -> str:
    """The parameters as indented JSON, for the top of a notebook."""
    return json.dumps(params, indent=1, default=str)
