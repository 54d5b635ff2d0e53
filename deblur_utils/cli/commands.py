"""The commands of the report's steps: ``prepare`` (notebook 01), ``fetch-real-photos``, ``train`` (one
run, notebook 02's recipes; under torchrun data-parallel), ``report`` (notebooks 01-05 and the report),
``sweep`` (widths), ``plan`` (what a parameter set costs on one GPU)."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import yaml

from ..data import real_photos
from ..params import ENV_VAR, Params, load_params
from ..report.export import build_report
from ..report.runner import parameter_names, run_report
from ..report.sweep import run_sweep
from ..runtime import paths
from ..runtime.paths import NOTEBOOKS
from ..steps import plan
from ..steps.prepare import prepare
from ..training.config import TrainConfig
from ..training.loop import train

TRAIN_RECIPES = ("faithful", "residual", "ours", "small")  # what ``train --recipe`` starts from


def cmd_prepare(args) -> int:
    raw_dir = str(Path(args.raw_dir).resolve()) if args.raw_dir else None
    result = prepare(load_params(set_path(args.params), raw_dir=raw_dir, prepare_workers=args.workers))
    print(result["summary"])
    print(json.dumps(result["splits"], indent=1))
    return 0


def cmd_fetch_real_photos(args) -> int:
    versions = real_photos.fetch(Path(args.dest) if args.dest else None)
    missing = [p for p, v in versions.items() if v is None]
    print("real photos:", ", ".join(f"{p} {v}" for p, v in versions.items() if v) or "nothing unpacked")
    return 1 if missing and args.strict else 0


def cmd_train(args) -> int:
    if args.config:  # a whole TrainConfig (what steps.runs.train_run writes for torchrun); --resume still counts
        cfg = _config_file(args.config, t_flags_given(args))
        cfg["resume"] = bool(args.resume or cfg.get("resume"))
        tc = TrainConfig.from_dict(cfg)
    else:
        tc = train_config(load_params(set_path(args.params)), args)
    data = Path(args.data_dir).resolve() if args.data_dir else paths.processed_dir()
    out = Path(args.out_dir) if args.out_dir else paths.runs_dir() / "cli"
    summary = train(tc, data, out)
    if summary.get("rank", 0):  # under torchrun only rank 0 reports
        return 0
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1, default=str))
    print(f"checkpoint: {out / 'best.pt'}")
    return 0


# Flags that may say "none" to switch a limit off, and the number they take otherwise.
_NONE_OK = {"crop_size": int, "epoch_samples": int, "max_minutes": float, "checkpoint_every_minutes": float,
            "cpu_threads": int}


def recipe_flags(args) -> dict:
    """The recipe flags given on the command line: every ``train`` option named like a TrainConfig field
    (``width`` and ``blocks`` go into model_kwargs), converted; what is not given is absent."""
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"resume", "model_kwargs"} | {"width", "blocks"}
    given = {k: getattr(args, k) for k in sorted(names) if getattr(args, k, None) is not None}
    return {k: _none_or(_NONE_OK[k], v) if k in _NONE_OK else v for k, v in given.items()}


def train_config(P: Params, args) -> TrainConfig:
    """The TrainConfig of ``train``: the parameter set's recipe ``--recipe`` (what the notebooks train,
    ``Params.train_config``), then every flag given on top of it. One path from parameters to a recipe."""
    cfg = dataclasses.asdict(P.train_config(args.recipe))
    for key, value in recipe_flags(args).items():
        if key in ("width", "blocks"):
            cfg["model_kwargs"][key] = value
        else:
            cfg[key] = value
    cfg["resume"] = bool(args.resume)
    return TrainConfig.from_dict(cfg)


def t_flags_given(args) -> list:
    """The recipe flags given on the command line (``--config`` takes the whole recipe from its file)."""
    return list(recipe_flags(args)) + (["recipe"] if args.recipe != "faithful" else [])


def _config_file(path, given) -> dict:
    if given:
        raise ValueError(f"--config {path} holds the whole recipe; drop --{' --'.join(g.replace('_', '-') for g in given)} "
                         "or edit the file")
    try:
        cfg = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"--config {path}: not a readable JSON TrainConfig ({err})") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"--config {path}: a JSON object of training parameters is needed")
    return cfg


def _none_or(kind, text: str):
    """'none' / 'null' -> None, otherwise the number: lets a flag switch a limit off."""
    return None if str(text).lower() in ("none", "null") else kind(text)


def set_path(params: str) -> str:
    """A YAML path relative to where the user is (the notebooks run in notebooks/), or a set name."""
    return str(Path(params).resolve()) if params.endswith((".yaml", ".yml")) else params


def parse_value(text: str):
    """A -p value as YAML, with numbers YAML 1.1 reads as text (1e-4) turned into numbers."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def cmd_report(args) -> int:
    parameters = {key: parse_value(value) for key, value in args.parameter or []}
    known = set().union(*parameter_names().values())
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise ValueError(f"no notebook takes parameter(s) {unknown}; they take: {sorted(known)}")
    if os.environ.get(ENV_VAR):
        print(f"note: {ENV_VAR}={os.environ[ENV_VAR]} is set and replaces --params {args.params}", file=sys.stderr)
    chosen = [n for n in NOTEBOOKS if not args.only or any(n.startswith(o) for o in args.only)]
    if not chosen:
        raise ValueError(f"--only {args.only} matches none of {list(NOTEBOOKS)}")
    if args.build_only:
        build_report(show_code=args.show_code, pdf=not args.no_pdf)
        return 0
    run_report(set_path(args.params), parameters, notebooks=chosen, html=not args.no_html, pdf=not args.no_pdf,
               show_code=args.show_code)
    return 0


def cmd_sweep(args) -> int:
    result = run_sweep(args.widths, args.models, set_path(args.params), nproc=args.nproc)
    return 1 if result["failed"] else 0


def cmd_plan(args) -> int:
    result = plan.plan(load_params(set_path(args.params)), args.frames, args.cores)
    print(plan.table(result))
    problems = plan.check(result)
    print("\n" + ("fits one session" if not problems else "does not fit one session:\n  " + "\n  ".join(problems)))
    return 0 if not problems else 1
