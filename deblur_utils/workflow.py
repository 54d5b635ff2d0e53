"""The report's steps as functions of the parameter dict: what notebooks 01-05 and the CLI call.

Each step reads and writes the files laid out in ``paths``; each is safe to rerun.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import embedded, paths
from .blur import get_preset
from .data import load_cached, make_splits, prepare_sets, save_splits, sequence_of, write_json_atomic
from .imageio import write_png_atomic
from .metrics import CLASSICAL, evaluate_dirs, tune_classical
from .train import TrainConfig, model_from_checkpoint, pick_device, predict_uint8, train

IDENTITY = "identity"


# --- 01: data ----------------------------------------------------------------------------------

def prepare(P: dict, progress=True) -> dict:
    """Build the embedded raw frames (when no raw_dir is given), Set A, Set B and the split."""
    processed = paths.processed_dir()
    if P["raw_dir"] is None:
        raw = paths.embedded_raw_dir()
        embedded.build_embedded_raw(raw, P["frames_per_sequence"], P["frame_height"], P["frame_width"])
        fixed = embedded.SPLITS
    else:
        raw, fixed = paths.resolve(P["raw_dir"]), None
    summary = prepare_sets(raw, processed, P["presets"], P["frame_height"], P["frame_width"], P["on_bad_image"],
                           P["max_sequences"], P["max_frames_per_sequence"], progress=progress)
    seqs = {sequence_of(f) for f in summary.frames}
    splits = make_splits(seqs, P["val_fraction"], P["test_fraction"], P["split_seed"], fixed)
    save_splits(processed, splits)
    return {"raw_dir": str(raw), "processed_dir": str(processed), "summary": summary, "splits": splits}


# --- 02 / 03: training -------------------------------------------------------------------------

def faithful_config(P: dict) -> TrainConfig:
    """The report's recipe (Adam, MSE, no schedule), at the width and budget the parameters give."""
    return TrainConfig(model="srcnn", model_kwargs={"width": P["width"]}, presets=list(P["presets"]),
                       epochs=P["epochs"], batch_size=P["batch_size"], lr=P["lr"], crop_size=P["crop_size"],
                       epoch_samples=P["epoch_samples"],
                       max_minutes=P["max_minutes"], train_max_frames=P["train_max_frames"],
                       val_max_frames=P["val_max_frames"], device=P["device"], seed=P["seed"])


def ours_config(P: dict) -> TrainConfig:
    o = P["ours"]
    return TrainConfig(**{**o, "presets": list(P["presets"]), "train_max_frames": P["train_max_frames"],
                          "val_max_frames": P["val_max_frames"], "device": P["device"], "seed": P["seed"],
                          "cosine": o.get("cosine", True)})


def small_config(P: dict, preset: str) -> TrainConfig:
    """One ~30K-parameter SRCNN for one preset, the report's recipe otherwise."""
    cfg = faithful_config(P)
    cfg.model_kwargs = {"width": P["small_width"]}
    cfg.presets, cfg.epochs, cfg.max_minutes = [preset], P["small_epochs"], P["small_max_minutes"]
    return cfg


def run_name(cfg: TrainConfig, prefix: str = "") -> str:
    """Experiment names that encode the configuration, e.g. ``srcnn_width64`` or ``small_srcnn_width76_b``."""
    kw = "_".join(f"{k}{v}" for k, v in sorted(cfg.model_kwargs.items()))
    presets = "" if list(cfg.presets) == ["a", "b", "c"] else "_" + "".join(cfg.presets)
    return f"{prefix}{cfg.model}_{kw}{presets}"


def train_run(cfg: TrainConfig, prefix: str = "", progress=True, method: str | None = None) -> dict:
    """Train into runs/<name>/ and, with ``method``, record its checkpoint for notebook 04 to grade."""
    run_dir = paths.runs_dir() / run_name(cfg, prefix)
    summary = train(cfg, paths.processed_dir(), run_dir, progress=progress)
    if method and (run_dir / "best.pt").exists():
        register_method(method, cfg.presets, run_dir / "best.pt")
    return summary


def train_faithful(P: dict, progress=True) -> dict:
    return train_run(faithful_config(P), progress=progress, method="srcnn_faithful")


def train_ours(P: dict, progress=True) -> dict:
    return train_run(ours_config(P), progress=progress, method=f"ours_{P['ours']['model']}")


def train_small(P: dict, preset: str, progress=True) -> dict:
    return train_run(small_config(P, preset), prefix="small_", progress=progress, method="srcnn_small_per_blur")


def methods_path() -> Path:
    return paths.runs_dir() / "methods.json"


def register_method(method: str, presets, checkpoint: Path) -> None:
    """runs/methods.json: method -> {preset: checkpoint}, the latest training of each (what 04 grades)."""
    path = methods_path()
    table = json.loads(path.read_text()) if path.exists() else {}
    entry = table.setdefault(method, {})
    for p in presets:
        entry[get_preset(p).name] = str(checkpoint)
    write_json_atomic(path, table)


def learned_methods(P: dict) -> dict:
    """Method name -> {preset: checkpoint path} as recorded by the latest training runs (02, 03)."""
    path = methods_path()
    table = json.loads(path.read_text()) if path.exists() else {}
    return {m: {p: Path(c) for p, c in per.items() if p in P["presets"]} for m, per in table.items()}


# --- 04: evaluation ----------------------------------------------------------------------------

def _write_predictions(out_dir: Path, rels, frames_uint8) -> None:
    for rel, frame in zip(rels, frames_uint8):
        write_png_atomic(out_dir / rel, frame)


def evaluate(P: dict, progress=True) -> dict:
    """The 04 table: every method x preset on the test split, graded from uint8 PNGs like the course.

    Writes predictions under reports/predictions/<method>/<preset>/ and reports/metrics.json.
    """
    processed = paths.processed_dir()
    presets = [get_preset(p).name for p in P["presets"]]
    test = load_cached(processed, "test", presets, P["test_max_frames"])
    val = load_cached(processed, "val", presets, P["tune_max_frames"])
    rels = test["files"]
    pred_root = predictions_dir()
    if pred_root.exists():  # predictions of an earlier run (other frames, other models) must not be graded
        shutil.rmtree(pred_root)
    # Grade against exactly the test frames: a folder with only them.
    truth_dir = pred_root / "_sharp"
    _write_predictions(truth_dir, rels, test["sharp"])
    device = pick_device(P["device"])
    methods, info = {}, {}

    def grade(name, preset, frames):
        out_dir = pred_root / name / preset
        _write_predictions(out_dir, rels, frames)
        result = evaluate_dirs(out_dir, truth_dir)
        result.pop("per_image")
        methods.setdefault(name, {})[preset] = result

    steps = [(IDENTITY, p) for p in presets] + [(m, p) for m in CLASSICAL for p in presets]
    learned = learned_methods(P)
    steps += [(m, p) for m in learned for p in presets if p in learned[m]]
    for name, preset in tqdm(steps, desc="04 evaluate", disable=not progress):
        t = time.monotonic()
        blurred = test[preset]
        if name == IDENTITY:
            grade(name, preset, np.asarray(blurred))
            info.setdefault(name, {"kind": "no learning: the blurred input itself"})
        elif name in CLASSICAL:
            fn, knob = CLASSICAL[name]
            grid = P["wiener_balances"] if name == "wiener" else P["rl_iterations"]
            best, scores = tune_classical(name, val[preset], val["sharp"], preset, grid)
            grade(name, preset, np.stack([fn(b, preset, best) for b in blurred]))
            entry = info.setdefault(name, {"kind": "classical, non-blind (told the true kernel), reflection-padded",
                                           "tuned_on": f"{len(val['sharp'])} validation frames", knob: {}})
            entry[knob][preset] = best
            if len(grid) > 1 and best in (min(grid), max(grid)):  # the optimum may lie outside the grid
                entry.setdefault("at_grid_edge", []).append(preset)
            entry.setdefault("seconds_per_frame", {})[preset] = (time.monotonic() - t) / len(blurred)
        else:
            ckpt_path = learned[name][preset]
            if not ckpt_path.exists():  # recorded, then deleted
                entry = info.setdefault(name, {"kind": "learned"})
                entry.setdefault("missing", []).append(str(ckpt_path))
                continue
            model, ckpt = model_from_checkpoint(ckpt_path, device)
            grade(name, preset, predict_uint8(model, np.asarray(blurred), device))
            entry = info.setdefault(name, {"kind": "learned"})
            entry.setdefault("checkpoint", {})[preset] = str(ckpt_path)
            entry["model"], entry["model_kwargs"] = ckpt["model"], ckpt["model_kwargs"]
            entry["parameters"] = ckpt["parameters"]
            entry.setdefault("train_minutes", {})[preset] = round(ckpt["minutes"], 2)
            entry.setdefault("epochs_done", {})[preset] = ckpt["epoch"]
    for name, per in methods.items():
        per["all"] = _pool(per.values())
    best_method, best_ckpt = _best_learned(methods, info)
    metrics = {"methods": methods, "method_info": info, "best_method": best_method,
               "best_checkpoint": best_ckpt, "test_frames": len(rels), "presets": presets,
               "param_set": P["param_set"]}
    write_json_atomic(paths.metrics_path(), _json_safe(metrics))
    return metrics


def _pool(per_preset) -> dict:
    """All presets together: mean over every finite per-image PSNR (weights by image count)."""
    per_preset = list(per_preset)
    n = sum(r["n_images"] for r in per_preset)
    n_inf = sum(r["n_infinite"] for r in per_preset)
    finite = [(r["psnr_db"], r["n_images"] - r["n_infinite"]) for r in per_preset if r["psnr_db"] is not None]
    total = sum(k for _, k in finite)
    return {"psnr_db": sum(v * k for v, k in finite) / total if total else None,
            "ssim": sum(r["ssim"] * r["n_images"] for r in per_preset) / n if n else None,
            "n_images": n, "n_infinite": n_inf}


def _best_learned(methods, info):
    """The learned method with one checkpoint for every preset and the best pooled PSNR."""
    best, best_ckpt, best_psnr = None, None, -math.inf
    for name, entry in info.items():
        ckpts = entry.get("checkpoint", {})
        if entry.get("kind") != "learned" or entry.get("missing") or len(set(ckpts.values())) != 1:
            continue
        psnr = methods[name]["all"]["psnr_db"] or -math.inf
        if psnr > best_psnr:
            best, best_ckpt, best_psnr = name, next(iter(ckpts.values())), psnr
    return best, best_ckpt


def _json_safe(obj):
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def load_metrics() -> dict:
    path = paths.metrics_path()
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run notebook 04 (evaluation) first")
    return json.loads(path.read_text())


# --- 05: qualitative ---------------------------------------------------------------------------

def predictions_dir() -> Path:
    return paths.reports_dir() / "predictions"


def load_prediction(method: str, preset: str, rel) -> np.ndarray:
    """The uint8 PNG that notebook 04 graded for this method, preset and frame."""
    from .imageio import read_rgb

    return read_rgb(predictions_dir() / method / preset / rel)


def pick_frames(P: dict, k: int = 1) -> list:
    """``k`` test frames, one per test sequence first (spread over photos), deterministic."""
    test = load_cached(paths.processed_dir(), "test", P["presets"], P["test_max_frames"])
    seen, picked = set(), []
    for i, rel in enumerate(test["files"]):
        if sequence_of(rel) not in seen:
            seen.add(sequence_of(rel))
            picked.append(i)
    return [(test["files"][i], np.asarray(test["sharp"][i])) for i in picked[:k]]
