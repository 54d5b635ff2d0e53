"""The report's steps as functions of the parameter dict: what notebooks 01-05 and the CLI call.

Each step reads and writes the files laid out in ``paths``; each is safe to rerun.
"""
from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import distributed, embedded, numerics, paths, real_photos
from .blind import GivenSigma, one_sigma
from .blur import get_preset
from .atomic import json_safe, write_json_atomic
from .data import load_cached, make_splits, prepare_sets, save_splits, sequence_of
from .imageio import write_png_atomic
from .metrics import CLASSICAL, evaluate_dirs, map_frames, tune_classical
from .train import TrainConfig, estimate_sigmas, model_from_checkpoint, pick_device, predict_uint8, train

IDENTITY = "identity"


# --- 01: data ----------------------------------------------------------------------------------

def prepare(P: dict, progress=True) -> dict:
    """Build the embedded raw frames (when no raw_dir is given), Set A, Set B and the split."""
    processed = paths.processed_dir()
    trained_on = {"photos": [], "missing": []}
    if P["raw_dir"] is None:
        raw = paths.embedded_raw_dir()
        embedded.build_embedded_raw(raw, P["frames_per_sequence"], P["frame_height"], P["frame_width"])
        fixed = dict(embedded.SPLITS)
        if P.get("training_photos", False):
            trained_on = real_photos.write_training_sequences(raw, P.get("training_views_per_photo", 4),
                                                              P["frame_height"], P["frame_width"])
            fixed["train"] = fixed["train"] + [r["sequence"] for r in trained_on["photos"]]
            if trained_on["missing"]:
                print(f"note: {len(trained_on['missing'])} of the recipe's training photos are not here "
                      f"({', '.join(sorted({p.package for p in real_photos.TRAIN_PHOTOS}))}): training goes on "
                      "without them and the report says its numbers are below the recipe's. "
                      "`make real-photos` unpacks them where apt-get exists.")
    else:
        raw, fixed = paths.resolve(P["raw_dir"]), None
    summary = prepare_sets(raw, processed, P["presets"], P["frame_height"], P["frame_width"], P["on_bad_image"],
                           P["max_sequences"], P["max_frames_per_sequence"], progress=progress,
                           workers=P.get("prepare_workers"))
    seqs = {sequence_of(f) for f in summary.frames}
    splits = make_splits(seqs, P["val_fraction"], P["test_fraction"], P["split_seed"], fixed)
    save_splits(processed, splits)
    real = real_val = None
    if P.get("real_photos", True):
        real, real_val = (real_photos.build(P.get("real_frames_per_photo", 2), P["frame_height"], P["frame_width"],
                                            max_photos=P.get("real_max_photos"), progress=progress, which=which)
                          for which in ("test", "val"))
    manifest = {"training_validation_test": embedded.manifest() + trained_on["photos"] if P["raw_dir"] is None else
                [{"folder": str(raw), "note": "the user's own frames"}],
                "training_photos_missing": trained_on["missing"],
                "real_photo_test_set": real["photos"] if real else None,
                "real_photo_validation_set": real_val["photos"] if real_val else None}
    write_json_atomic(manifest_path(), manifest)
    return {"raw_dir": str(raw), "processed_dir": str(processed), "summary": summary, "splits": splits,
            "real_photos": real, "real_photos_val": real_val, "manifest": manifest}


def training_photos_missing() -> list:
    """The recipe's training photos (``training_photos``) that notebook 01 did not find, from the data
    manifest: a model trained without them is below the recipe's, and the report says so."""
    path = manifest_path()
    if not path.exists():
        return []
    return json.loads(path.read_text()).get("training_photos_missing") or []


def manifest_path() -> Path:
    """data/processed/manifest.json: where every photo of every split and of the real-photo set comes from."""
    return paths.processed_dir() / "manifest.json"


# --- 02 / 03: training -------------------------------------------------------------------------

def faithful_config(P: dict) -> TrainConfig:
    """The report's recipe (Adam, MSE, no schedule), at the width and budget the parameters give."""
    return TrainConfig(model="srcnn", model_kwargs={"width": P["width"]}, presets=list(P["presets"]),
                       epochs=P["epochs"], batch_size=P["batch_size"], lr=P["lr"], crop_size=P["crop_size"],
                       epoch_samples=P["epoch_samples"],
                       max_minutes=P["max_minutes"], train_max_frames=P["train_max_frames"],
                       val_max_frames=P["val_max_frames"], device=P["device"], seed=P["seed"], **_resume_keys(P))


def _resume_keys(P: dict) -> dict:
    """Every run of a notebook shares these: resume, how often last.pt is written mid-epoch, and the
    thread count of a CPU run (numerics.py)."""
    return {"resume": bool(P.get("resume") or False),
            "checkpoint_every_minutes": P.get("checkpoint_every_minutes", 10.0),
            "cpu_threads": P.get("cpu_threads", numerics.CPU_THREADS)}


def ours_config(P: dict, **changes) -> TrainConfig:
    """Our recipe (``P["ours"]``), with ``changes`` on top (model, budget...)."""
    o = {**P["ours"], **changes}
    return TrainConfig(**{**_resume_keys(P), **o, "presets": list(o.get("presets", P["presets"])),
                          "train_max_frames": P["train_max_frames"], "val_max_frames": P["val_max_frames"],
                          "device": P["device"], "seed": o.get("seed", P["seed"]), "cosine": o.get("cosine", True)})


def residual_config(P: dict) -> TrainConfig:
    """The residual SRCNN (SRCNN's layers, same-size padding, global skip) on our recipe."""
    return ours_config(P, **P["residual_srcnn"])


def per_preset_config(P: dict, preset: str) -> TrainConfig:
    """Our model told the blur (``fixed_sigma``), trained on one preset's Set B only, our recipe otherwise."""
    p = get_preset(preset)
    kwargs = {**P["ours"]["model_kwargs"], **P["per_preset"].get("model_kwargs", {}), "fixed_sigma": p.sigma}
    return ours_config(P, **{**P["per_preset"], "model_kwargs": kwargs, "presets": [p.name],
                             "blur_sampling": "sets"})


def small_config(P: dict, preset: str) -> TrainConfig:
    """One ~30K-parameter SRCNN for one preset, the report's recipe otherwise."""
    cfg = faithful_config(P)
    cfg.model_kwargs = {"width": P["small_width"]}
    cfg.presets, cfg.epochs, cfg.max_minutes = [preset], P["small_epochs"], P["small_max_minutes"]
    return cfg


def run_name(cfg: TrainConfig, prefix: str = "") -> str:
    """Experiment names that encode the configuration, e.g. ``srcnn_width64`` or ``small_srcnn_width76_b``."""
    kw = "_".join(f"{k}{v}" for k, v in sorted(cfg.model_kwargs.items()) if k != "fixed_sigma")
    presets = "" if list(cfg.presets) == ["a", "b", "c"] else "_" + "".join(cfg.presets)
    return f"{prefix}{cfg.model}_{kw}{presets}"


def train_run(cfg: TrainConfig, prefix: str = "", progress=True, method: str | None = None, nproc: int = 1) -> dict:
    """Train into runs/<name>/ and, with ``method``, record its checkpoint for notebook 04 to grade.

    ``nproc`` > 1 trains data-parallel in that many processes started by torchrun (distributed.launch)."""
    run_dir = paths.runs_dir() / run_name(cfg, prefix)
    if nproc > 1:
        summary = distributed.launch(dataclasses.asdict(cfg), paths.processed_dir(), run_dir, nproc)
    else:
        summary = train(cfg, paths.processed_dir(), run_dir, progress=progress)
    if method and (run_dir / "best.pt").exists():
        register_method(method, cfg.presets, run_dir / "best.pt")
    return summary


def _nproc(P: dict) -> int:
    n = P.get("nproc", 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"nproc must be an integer >= 1 (processes per training run), got {n!r}")
    return n


def train_faithful(P: dict, progress=True) -> dict:
    return train_run(faithful_config(P), progress=progress, method="srcnn_faithful", nproc=_nproc(P))


def train_ours(P: dict, progress=True) -> dict:
    return train_run(ours_config(P), progress=progress, method=f"ours_{P['ours']['model']}", nproc=_nproc(P))


def train_residual(P: dict, progress=True) -> dict:
    return train_run(residual_config(P), progress=progress, method="residual_srcnn", nproc=_nproc(P))


RUNS_02 = {"faithful": train_faithful, "residual": train_residual, "ours": train_ours}


def train_02(P: dict, run: str, progress=True) -> dict | None:
    """Notebook 02's run ``run`` (faithful, residual or ours) when ``P["train_02"]`` names it, else None
    (a width sweep trains only the swept model)."""
    chosen = P.get("train_02", list(RUNS_02))
    unknown = [r for r in chosen if r not in RUNS_02]
    if unknown:
        raise ValueError(f"train_02 names unknown run(s) {unknown}: choose from {list(RUNS_02)}")
    return RUNS_02[run](P, progress=progress) if run in chosen else None


def train_small(P: dict, preset: str, progress=True) -> dict:
    return train_run(small_config(P, preset), prefix="small_", progress=progress, method="srcnn_small_per_blur")


def train_per_preset(P: dict, preset: str, progress=True) -> dict:
    return train_run(per_preset_config(P, preset), prefix="told_", progress=progress,
                     method=f"ours_{P['ours']['model']}_told_blur")


def train_told(P: dict, progress=True, log=print) -> dict:
    """Notebook 03's runs of our model told the blur, one per preset, when ``P["told_runs"]`` asks for
    them. Else none, and told runs an earlier parameter set recorded are taken off runs/methods.json
    (their checkpoints stay in runs/), so that notebook 04 grades what this set trains: 02's checkpoint
    given the true sigma (``given_sigma_methods``) stands in for them."""
    if P.get("told_runs"):
        return {p: train_per_preset(P, p, progress=progress) for p in P["presets"]}
    if unregister_method(f"ours_{P['ours']['model']}_told_blur"):
        log("told_runs is off: the told runs recorded earlier are no longer graded (their checkpoints stay in runs/)")
    return {}


GIVEN_SIGMA = {  # notebook 04's rows of our blind checkpoint given one sigma per set: how each is chosen
    "true_sigma": "given each blur's true sigma (its estimate bypassed): what the estimate costs",
    "one_blur": "one blur per set: every frame given the median of the set's own per-frame estimates "
                "(a set blurred with one kernel, as each preset's and the course's grading set), the "
                "refiner's views averaged (one_blur_views)",
}


def given_sigma_methods(P: dict) -> dict:
    """Notebook 04's rows of our blind checkpoint given one sigma per set, name -> how (a key of
    ``GIVEN_SIGMA``); none when our model has no estimate to replace (not a blind Wiener network)."""
    ours = P["ours"]
    if ours["model"] != "blind_wiener" or ours.get("model_kwargs", {}).get("fixed_sigma") is not None:
        return {}
    return {f"ours_{ours['model']}_{how}": how for how in GIVEN_SIGMA}


def given_views(P: dict, how: str) -> int:
    """The refiner's views a ``GIVEN_SIGMA`` row averages: ``one_blur_views`` for the one-blur row (a set
    that shares one blur, deblurred as well as the checkpoint can), one for the true-sigma row (beside
    the one-view blind row, the gap between them is the estimate's alone)."""
    return int(P.get("one_blur_views", 1)) if how == "one_blur" else 1


def given_model(P: dict, how: str, model, blurred, true_sigma: float, device) -> tuple:
    """(the network, its sigma) of a ``GIVEN_SIGMA`` row for a set blurred with ``true_sigma``: ``model``
    given that row's one sigma and views (``given_sigma``, ``given_views``)."""
    sigma = given_sigma(how, model, blurred, true_sigma, device)
    return GivenSigma(model, sigma, given_views(P, how)), sigma


def given_sigma(how: str, model, blurred, true_sigma: float, device) -> float:
    """The one sigma a ``GIVEN_SIGMA`` row gives every frame of a set blurred with ``true_sigma``."""
    if how == "true_sigma":
        return float(true_sigma)
    return one_sigma(estimate_sigmas(model, np.asarray(blurred), device, quantile=model.set_quantile))


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


def unregister_method(method: str) -> bool:
    """Take ``method`` off runs/methods.json (its checkpoints are left where they are); True if it was there."""
    path = methods_path()
    table = json.loads(path.read_text()) if path.exists() else {}
    if table.pop(method, None) is None:
        return False
    write_json_atomic(path, table)
    return True


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

    Beside every recorded method, our blind checkpoint given one sigma per preset
    (``given_sigma_methods``): the true sigma (the gap to the blind row is the estimate's), and the
    median of the set's own per-frame estimates (one blur per set, as each preset's test frames share).

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
    methods, info, per_image = {}, {}, {}

    def grade(name, preset, frames):
        out_dir = pred_root / name / preset
        _write_predictions(out_dir, rels, frames)
        result = evaluate_dirs(out_dir, truth_dir)
        per_image[(name, preset)] = result.pop("per_image")
        methods.setdefault(name, {})[preset] = result

    steps = [(IDENTITY, p) for p in presets] + [(m, p) for m in CLASSICAL for p in presets]
    learned = learned_methods(P)
    steps += [(m, p) for m in learned for p in presets if p in learned[m]]
    ours, given = f"ours_{P['ours']['model']}", given_sigma_methods(P)
    if ours in learned:
        steps += [(m, p) for m in given for p in presets if p in learned[ours]]
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
            grade(name, preset, np.stack(map_frames(lambda b: fn(b, preset, best), blurred)))
            entry = info.setdefault(name, {"kind": "classical, non-blind (told the true kernel), reflection-padded",
                                           "tuned_on": f"{len(val['sharp'])} validation frames", knob: {}})
            entry[knob][preset] = best
            if len(grid) > 1 and best in (min(grid), max(grid)):  # the optimum may lie outside the grid
                entry.setdefault("at_grid_edge", []).append(preset)
            entry.setdefault("seconds_per_frame", {})[preset] = (time.monotonic() - t) / len(blurred)
        elif name in given:
            ckpt_path = learned[ours][preset]
            if not ckpt_path.exists():  # ours' own row records it missing
                continue
            model, _ = model_from_checkpoint(ckpt_path, device)
            if not getattr(model, "blind", False):  # 02 trained it told the blur: no estimate to replace
                info.setdefault(name, {"kind": f"not graded: {ckpt_path} is not a blind Wiener network"})
                continue
            net, sigma = given_model(P, given[name], model, blurred, get_preset(preset).sigma, device)
            grade(name, preset, predict_uint8(net, np.asarray(blurred), device))
            entry = info.setdefault(name, {"kind": f"{ours}'s checkpoint {GIVEN_SIGMA[given[name]]}",
                                           "given": given[name], "given_sigma_of": ours, "views": net.views,
                                           "from_checkpoint": str(ckpt_path)})
            entry.setdefault("sigma", {})[preset] = sigma
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
            entry.setdefault("epochs_asked", {})[preset] = ckpt.get("config", {}).get("epochs")
            entry.setdefault("steps", {})[preset] = ckpt["step"]
    worst = {}  # each method's worst frame against doing nothing, per preset
    for (name, preset), psnrs in per_image.items():
        ident = per_image[(IDENTITY, preset)]
        worst.setdefault(name, {})[preset] = worst_frame(list(psnrs), list(psnrs.values()),
                                                         [ident[f] for f in psnrs])
    for name, per in methods.items():
        per["all"] = _pool(per.values())
    best_method, best_ckpt = _best_learned(methods, info)
    training = {name: training_record(entry["checkpoint"]) for name, entry in info.items() if entry.get("checkpoint")}
    metrics = {"methods": methods, "method_info": info, "best_method": best_method,
               "best_checkpoint": best_ckpt, "test_frames": len(rels), "presets": presets,
               "param_set": P["param_set"], "training": training, "worst_frames": {"test": worst},
               "training_photos_missing": training_photos_missing()}
    write_json_atomic(paths.metrics_path(), json_safe(metrics))
    return metrics


def run_record(run_dir: Path) -> dict:
    """{"steps_done", "steps_asked", "stopped_by"} of one training run: "steps" when its recipe ran to the
    end, "max_minutes" when the time cap cut it, "interrupted" when it never finished (no summary.json);
    a CPU run adds "portable": whether its kernels and threads were pinned, so any x86 CPU trains the same
    model (numerics.py)."""
    from .train import load_checkpoint

    run_dir = Path(run_dir)
    if (run_dir / "summary.json").exists():
        s = json.loads((run_dir / "summary.json").read_text())
        done, asked, by = s["steps"], s.get("steps_asked"), s["stopped_by"]
        same_anywhere = numerics.portable(s)  # a CPU run: were its kernels and threads pinned (numerics.py)?
    else:
        last = load_checkpoint(run_dir / "last.pt")
        done, asked, by = last["step"], last.get("steps_asked"), "interrupted"
        same_anywhere = None
    by = "steps" if by == "epochs" else by  # the name before recipes counted steps
    record = {"steps_done": done, "steps_asked": asked, "stopped_by": by}
    if same_anywhere is not None:
        record["portable"] = same_anywhere
    return record


def training_record(checkpoints: dict) -> dict:
    """One method's training: its run's record, or for a model per preset the runs' totals, cut when any was
    (``runs`` keeps each)."""
    runs = {p: run_record(Path(c).parent) for p, c in checkpoints.items()}
    if len(set(checkpoints.values())) == 1:  # one run for every preset
        return next(iter(runs.values()))
    cut = [r["stopped_by"] for r in runs.values() if r["stopped_by"] != "steps"]
    asked = [r["steps_asked"] for r in runs.values()]
    record = {"steps_done": sum(r["steps_done"] for r in runs.values()),
              "steps_asked": None if None in asked else sum(asked),
              "stopped_by": cut[0] if cut else "steps", "runs": runs}
    said = [r["portable"] for r in runs.values() if "portable" in r]
    if said:
        record["portable"] = all(said)
    return record


def machine_bound_runs(metrics: dict) -> dict:
    """The methods trained on the CPU without the pinned kernels or thread count: another machine trains
    another model from them (numerics.py)."""
    return {m: r for m, r in metrics.get("training", {}).items() if r.get("portable") is False}


def cut_runs(metrics: dict) -> dict:
    """The methods whose training the time cap (or an interruption) stopped before the recipe's last step."""
    return {m: r for m, r in metrics.get("training", {}).items() if r["stopped_by"] != "steps"}


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


# --- 04: robustness to the blur actually met ----------------------------------------------------

def sweep_path() -> Path:
    return paths.reports_dir() / "sigma_sweep.json"


def sigma_sweep(P: dict, metrics: dict | None = None, progress=True) -> dict:
    """PSNR against sigma on the test frames, each blurred with the Q8 Gaussian of that sigma (kernel
    ``kernel_size_for_sigma``, uint8 like Set B): doing nothing, the Wiener filter told the true kernel
    (balance tuned on validation frames per sigma), the Wiener filter assuming the nearest preset's
    kernel (with that preset's tuned balance) and every blind learned model (one checkpoint for all
    presets). Writes reports/sigma_sweep.json."""
    from .blur import blur_uint8, kernel_size_for_sigma
    from .metrics import psnr_db, summarize, wiener_deblur

    metrics = metrics or load_metrics()
    processed = paths.processed_dir()
    n_test = P["sweep_max_frames"] or P["test_max_frames"]
    test = load_cached(processed, "test", P["presets"], n_test)
    val = load_cached(processed, "val", P["presets"], P["tune_max_frames"])
    sharp, val_sharp = np.asarray(test["sharp"]), np.asarray(val["sharp"])
    presets = [get_preset(p) for p in metrics["presets"]]
    balances = metrics["method_info"].get("wiener", {}).get("balance", {})
    device = pick_device(P["device"])
    models = {}
    for name, entry in metrics["method_info"].items():
        ckpts = set(entry.get("checkpoint", {}).values())
        if entry.get("kind") == "learned" and len(ckpts) == 1 and len(entry["checkpoint"]) == len(presets):
            models[name] = model_from_checkpoint(next(iter(ckpts)), device)[0]
    rows = []
    for sigma in tqdm(P["sweep_sigmas"], desc="04 sigma sweep", disable=not progress):
        blur = (kernel_size_for_sigma(sigma), float(sigma))
        blurred = np.stack([blur_uint8(s, blur) for s in sharp])
        nearest = min(presets, key=lambda p: abs(p.sigma - sigma))
        best_bal, _ = tune_classical("wiener", [blur_uint8(s, blur) for s in val_sharp], val_sharp, blur,
                                     P["wiener_balances"])
        outputs = {
            IDENTITY: blurred,
            "wiener_true_kernel": np.stack(map_frames(lambda b: wiener_deblur(b, blur, best_bal), blurred)),
            "wiener_nearest_preset": np.stack(map_frames(
                lambda b: wiener_deblur(b, nearest, balances.get(nearest.name, best_bal)), blurred)),
        }
        for name, model in models.items():
            outputs[name] = predict_uint8(model, blurred, device)
        row = {"sigma": float(sigma), "kernel_size": blur[0], "nearest_preset": nearest.name,
               "wiener_true_balance": best_bal}
        for name, out in outputs.items():
            row[name] = summarize([psnr_db(s, o) for s, o in zip(sharp, out)])["psnr_db"]
        rows.append(row)
    result = {"frames": len(sharp), "methods": [IDENTITY, "wiener_true_kernel", "wiener_nearest_preset", *models],
              "rows": rows}
    write_json_atomic(sweep_path(), json_safe(result))
    return result


def grade_checkpoint(P: dict, checkpoint, presets=None, given: str | None = None) -> dict:
    """Course PSNR (uint8, per image then mean) and SSIM of one checkpoint on the test split, per preset,
    without writing PNGs (lossless, so the numbers equal evaluate()'s). ``given``: a key of
    ``GIVEN_SIGMA``, the checkpoint (a blind Wiener network) graded as that row of notebook 04."""
    from .metrics import psnr_db, ssim, summarize

    presets = [get_preset(p).name for p in (presets or P["presets"])]
    test = load_cached(paths.processed_dir(), "test", presets, P["test_max_frames"])
    device = pick_device(P["device"])
    model, _ = model_from_checkpoint(checkpoint, device)
    if given is not None and given not in GIVEN_SIGMA:
        raise ValueError(f"given must be one of {sorted(GIVEN_SIGMA)} or None, got {given!r}")
    sharp = np.asarray(test["sharp"])
    out = {}
    for p in presets:
        net = model
        if given is not None:
            net, _ = given_model(P, given, model, np.asarray(test[p]), get_preset(p).sigma, device)
        pred = predict_uint8(net, np.asarray(test[p]), device)
        out[p] = summarize([psnr_db(s, q) for s, q in zip(sharp, pred)], [ssim(s, q) for s, q in zip(sharp, pred)])
    return out


# --- 04: the real-photo test set ---------------------------------------------------------------

PSNR_CAP_DB = 100.0  # an identical frame's infinite PSNR, for per-frame gains (as tune_classical counts it)


def real_photos_path() -> Path:
    return paths.reports_dir() / "real_photos.json"


def _capped(v: float) -> float:
    return min(float(v), PSNR_CAP_DB)


def worst_frame(files, psnrs, identity_psnrs) -> dict:
    """{"worst_gain_db", "worst_frame", "frames_harmed"}: the frame a method made worst against doing
    nothing, and how many it made more than 0.5 dB worse (an identical frame counts as 100 dB)."""
    gains = [_capped(v) - _capped(i) for v, i in zip(psnrs, identity_psnrs)]
    k = int(np.argmin(gains))
    return {"worst_gain_db": gains[k], "worst_frame": str(files[k]), "frames_harmed": int(sum(g < -0.5 for g in gains))}


def evaluate_real(P: dict, metrics: dict | None = None, progress=True) -> dict | None:
    """Every method on the real-photo test set (``real_photos``) at presets a, b, c and 7x7 sigma 1.2.

    reports/real_photos.json keeps every frame's PSNR (null: identical to the sharp frame, infinite).

    Nothing here is tuned on these photos: the Wiener filter keeps the balance notebook 04 chose per
    preset on the embedded validation frames, and for sigma 1.2 gets one chosen the same way. Blind
    models (one checkpoint for every preset) see every blur; a model trained per preset grades at its
    own preset, and at sigma 1.2 with the nearest preset's model (b), as one would have to use it; the
    blind checkpoint's ``GIVEN_SIGMA`` rows get each blur's true sigma, or one estimate for the set.
    Writes reports/real_photos.json (per-frame PSNRs) and adds ``real_photos`` to metrics.json;
    returns None, and leaves both as they were, when the set is not built (notebook 01, ``make``).
    """
    from .blur import EVAL_BLURS, PRESETS, blur_uint8
    from .metrics import psnr_db, ssim, summarize, wiener_deblur

    real = real_photos.load()
    if real is None:
        return None
    metrics = metrics or load_metrics()
    blurs = list(EVAL_BLURS)
    sharp = real["sharp"]
    device = pick_device(P["device"])
    balances = dict(metrics["method_info"].get("wiener", {}).get("balance", {}))
    val = load_cached(paths.processed_dir(), "val", P["presets"], P["tune_max_frames"])
    val_sharp = np.asarray(val["sharp"])
    for b in blurs:
        if b not in balances:
            balances[b], _ = tune_classical("wiener", [blur_uint8(s, EVAL_BLURS[b]) for s in val_sharp], val_sharp,
                                            b, P["wiener_balances"])

    def nearest_preset(b):
        return min(PRESETS, key=lambda p: abs(PRESETS[p].sigma - EVAL_BLURS[b].sigma))

    models, per_frame, summary, how = {}, {}, {}, {}
    learned = {m: i["checkpoint"] for m, i in metrics["method_info"].items()
               if i.get("kind") == "learned" and i.get("checkpoint")}
    steps = [(IDENTITY, b) for b in blurs] + [("wiener", b) for b in blurs]
    steps += [(m, b) for m in learned for b in blurs if (b if b in learned[m] else nearest_preset(b)) in learned[m]]
    given = {m: i for m, i in metrics["method_info"].items() if i.get("from_checkpoint")}
    steps += [(m, b) for m in given for b in blurs]
    for name, b in tqdm(steps, desc="04 real photos", disable=not progress):
        blurred = real[b]
        if name == IDENTITY:
            out = blurred
        elif name == "wiener":
            out = np.stack(map_frames(lambda f: wiener_deblur(f, b, balances[b]), blurred))
            how.setdefault(name, {})[b] = f"balance {balances[b]:g}"
        elif name in given:
            ckpt = given[name]["from_checkpoint"]
            if ckpt not in models:
                models[ckpt] = model_from_checkpoint(ckpt, device)[0]
            net, sigma = given_model(P, given[name]["given"], models[ckpt], blurred, EVAL_BLURS[b].sigma, device)
            out = predict_uint8(net, blurred, device)
            how.setdefault(name, {})[b] = f"given sigma {sigma:.3g}"
        else:
            ckpt = learned[name].get(b) or learned[name][nearest_preset(b)]
            if ckpt not in models:
                models[ckpt] = model_from_checkpoint(ckpt, device)[0]
            out = predict_uint8(models[ckpt], blurred, device)
            if b not in learned[name] and len(set(learned[name].values())) > 1:  # one model per preset
                how.setdefault(name, {})[b] = f"the model of preset {nearest_preset(b)}"
        psnrs = [psnr_db(s, o) for s, o in zip(sharp, out)]
        per_frame.setdefault(name, {})[b] = psnrs
        summary.setdefault(name, {})[b] = summarize(psnrs, map_frames(lambda so: ssim(*so), zip(sharp, out)))
    files = [str(f) for f in real["files"]]
    worst = {name: {b: worst_frame(files, psnrs, per_frame[IDENTITY][b]) for b, psnrs in per.items()}
             for name, per in per_frame.items()}
    result = {"files": files, "blurs": blurs, "per_frame": per_frame, "summary": summary, "worst": worst,
              "how": how, "wiener_balance": balances, "psnr_cap_db": PSNR_CAP_DB,
              "photos": [{k: e[k] for k in ("photo", "kind", "package", "version", "file", "licence", "copyright")}
                         for e in real["manifest"]["photos"]]}
    write_json_atomic(real_photos_path(), json_safe(result))
    metrics["real_photos"] = summary
    metrics.setdefault("worst_frames", {})["real_photos"] = worst
    write_json_atomic(paths.metrics_path(), json_safe(metrics))
    return result
