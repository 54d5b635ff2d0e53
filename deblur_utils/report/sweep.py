"""Width sweeps: notebooks 02 and 04 once per (model, width), each in its own folder, then the comparison.

    python -m deblur_utils sweep --widths 64 256 1024 2048 [--models srcnn ours] [--params full] [--nproc 2]

Each configuration is a work directory of its own (runtime/paths.py's layout), so its runs, metrics.json
and figures never touch the report's or another configuration's; the prepared data is shared::

    reports/sweep/<model>_width<W>/
        params.yaml            the parameter set, this width, and train_02: the swept model only
                               (scaling_images: 0)
        data -> <workdir>/data the prepared data (notebook 01 runs first when it is missing)
        02_train_srcnn.ipynb   the executed notebooks: a failure's traceback is in them
        04_psnr_eval.ipynb
        runs/, reports/metrics.json, figures/
        done.json              written last: the configuration is finished and is skipped next time
    reports/sweep/sweep.json   one row per finished configuration, and the failed ones
    reports/sweep/sweep.md     the table
    figures/sweep_width.png    PSNR per preset against parameters and against training minutes

A configuration is redone when its parameters changed (params.yaml differs from done.json's).
A failed one is reported and the sweep goes on; the command then exits 1.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import yaml

from ..data.blur import get_preset
from ..params import ENV_VAR, load_params
from ..runtime import paths
from ..runtime.atomic import write_json_atomic, write_text
from ..steps.records import graded_learned
from .plots import plt, save, sweep_comparison
from .runner import execute
from .tables import markdown_table

# model -> (notebook 02's run, how a width goes into the parameter set)
MODELS = {"srcnn": "faithful", "residual_srcnn": "residual", "ours": "ours"}  # model -> its recipe (02's run)
SWEPT = ("02_train_srcnn", "04_psnr_eval")
FIGURE = "sweep_width"


def sweep_dir() -> Path:
    return paths.reports_dir() / "sweep"


def config_name(model: str, width: int) -> str:
    return f"{model}_width{width}"


@contextlib.contextmanager
def _environment(**values):
    """os.environ with ``values`` set, restored after: the papermill kernel inherits its environment."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _execute(name: str, out_dir: Path, param_set: str, workdir: Path) -> None:
    """Run notebooks/<name>.ipynb into out_dir, in ``workdir`` with ``param_set`` (runner.execute)."""
    with _environment(DEBLUR_WORKDIR=workdir, **{ENV_VAR: param_set}):
        execute(name, out_dir, {"param_set": param_set}, paths.runs_dir())


def _config_params(base_set: str, model: str, width: int, nproc: int | None) -> dict:
    """The configuration's parameter set: the base set, this width, training only this model (and no
    scaling measurement: that is the machine's, not the configuration's)."""
    run = MODELS[model]
    extra = {"nproc": nproc} if nproc else {}
    return {"inherit": base_set, run: {"model_kwargs": {"width": width}}, "train_02": [run], "scaling_images": 0,
            **extra}


def _row(model: str, width: int, cfg_dir: Path) -> dict:
    """One finished configuration: its learned method's test PSNR per preset, size and training time."""
    metrics = json.loads((cfg_dir / "reports" / "metrics.json").read_text())
    learned = graded_learned(metrics)
    if len(learned) != 1:
        raise RuntimeError(f"{cfg_dir / 'reports' / 'metrics.json'} grades {len(learned)} learned methods "
                           f"({learned}), expected the swept {model} alone: delete {cfg_dir} and rerun the sweep")
    method, info = learned[0], metrics["method_info"][learned[0]]
    run_dir = Path(next(iter(info["checkpoint"].values()))).parent
    summary = json.loads((run_dir / "summary.json").read_text())
    per, ident = metrics["methods"][method], metrics["methods"]["identity"]
    return {"model": model, "width": width, "method": method, "parameters": info["parameters"],
            "train_minutes": summary["minutes"], "steps": summary["steps"], "stopped_by": summary["stopped_by"],
            "world_size": summary.get("world_size", 1),
            "train_images_per_second": summary.get("train_images_per_second"),
            "psnr_db": {p: per[p]["psnr_db"] for p in metrics["presets"]} | {"all": per["all"]["psnr_db"]},
            "identity_psnr_db": {p: ident[p]["psnr_db"] for p in metrics["presets"]} | {"all": ident["all"]["psnr_db"]},
            "dir": str(cfg_dir)}


def _link_data(cfg_dir: Path) -> None:
    link, target = cfg_dir / "data", paths.data_dir()
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        raise RuntimeError(f"{link} is a folder of its own, not the shared data: delete it and rerun the sweep")
    link.symlink_to(target, target_is_directory=True)


def run_config(model: str, width: int, base_set: str, nproc: int | None = None, log=print) -> dict:
    """Notebooks 02 and 04 for one (model, width) in reports/sweep/<name>/, unless already finished there."""
    cfg_dir = sweep_dir() / config_name(model, width)
    params_text = yaml.safe_dump(_config_params(base_set, model, width, nproc), sort_keys=True)
    done = cfg_dir / "done.json"
    if done.exists():
        record = json.loads(done.read_text())
        if record.get("params") == params_text:
            log(f"== {cfg_dir.name}: finished before, skipped")
            return record["row"]
    cfg_dir.mkdir(parents=True, exist_ok=True)
    done.unlink(missing_ok=True)
    write_text(cfg_dir / "params.yaml", params_text)
    _link_data(cfg_dir)
    t = time.monotonic()
    for name in SWEPT:
        log(f"== {cfg_dir.name}: {name}")
        _execute(name, cfg_dir, str(cfg_dir / "params.yaml"), cfg_dir)
    row = {**_row(model, width, cfg_dir), "sweep_seconds": round(time.monotonic() - t, 1)}
    write_json_atomic(done, {"params": params_text, "row": row})
    return row


def table(rows: list, presets) -> str:
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    body = [[r["model"], r["width"], f"{r['parameters']:,}", f"{r['train_minutes']:.2f}", f"{r['steps']:,}",
             r["world_size"], *[fmt(r["psnr_db"].get(p)) for p in [*presets, "all"]],
             fmt(None if r["psnr_db"]["all"] is None or r["identity_psnr_db"]["all"] is None
                 else r["psnr_db"]["all"] - r["identity_psnr_db"]["all"])] for r in rows]
    return markdown_table(["model", "width", "parameters", "training (min)", "steps", "processes",
                           *[f"PSNR {p} (dB)" for p in presets], "PSNR all (dB)", "all vs identity (dB)"], body)


def run_sweep(widths, models=("srcnn",), param_set: str = "default", nproc: int | None = None, log=print) -> dict:
    """Every (model, width) through notebooks 02 and 04, then the table and the figure.

    Returns {"rows", "failed": [{"model", "width", "error"}], "table", "figure"}; failures do not stop it.
    """
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"--models {unknown}: the sweep knows {list(MODELS)}")
    bad = [w for w in widths if isinstance(w, bool) or not isinstance(w, int) or w < 1]
    if bad or not widths:
        raise ValueError(f"--widths must be positive integers (channels), got {list(widths)}")
    if nproc is not None and nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {nproc}")
    base_set = os.environ.get(ENV_VAR) or param_set  # as every notebook does: the environment wins
    P = load_params(base_set)
    presets = [get_preset(p).name for p in P.presets]
    paths.notebooks_dir()  # outside a clone: say so before anything is written
    root = sweep_dir()
    root.mkdir(parents=True, exist_ok=True)
    if not paths.splits_path().exists():  # the configurations share the prepared data: prepare it once
        log(f"== data not prepared in {paths.processed_dir()}: notebook 01 first")
        _execute("01_blur_dataset", root, base_set, paths.workdir())
    rows, failed = [], []
    for model in models:
        for width in widths:
            try:
                rows.append(run_config(model, width, base_set, nproc, log))
            except Exception as err:  # one configuration's failure must not lose the others
                failed.append({"model": model, "width": width, "error": f"{type(err).__name__}: {err}"})
                log(f"!! {config_name(model, width)} failed: {err}")
    result = {"param_set": base_set, "presets": presets, "rows": rows, "failed": failed, "table": table(rows, presets)}
    if rows:
        fig = sweep_comparison(rows, presets)
        result["figure"] = str(save(fig, FIGURE))
        plt.close(fig)
    write_json_atomic(root / "sweep.json", result)
    write_text(root / "sweep.md", result["table"] + "\n")
    log(result["table"])
    if result.get("figure"):
        log(f"figure: {result['figure']}")
    for f in failed:
        log(f"FAILED {config_name(f['model'], f['width'])}: {f['error']}")
    return result


def load_result() -> dict | None:
    """The last sweep's sweep.json (rows, table, figure path), or None when no sweep was run here."""
    path = sweep_dir() / "sweep.json"
    return json.loads(path.read_text()) if path.exists() else None
