"""Notebook 04: every method graded by the one loop (``evaluation.grading.grade``) on the test split,
the sigma sweep and the real-photo test set, and the files the report reads.

- ``evaluate``: the test split per preset, graded from uint8 PNGs like the course (they stay under
  reports/predictions/ for notebook 05): reports/metrics.json;
- ``sigma_sweep``: PSNR against sigma: reports/sigma_sweep.json;
- ``evaluate_real``: the real-photo test set at a, b, c and sigma 1.2: reports/real_photos.json, and
  its summary added to metrics.json;
- ``grade_checkpoint``: one checkpoint on the test split, for the benchmarks (no files written).

metrics.json (the test split, the real photos) and sigma_sweep.json also keep the seconds every method
took there (``grading_seconds``: deblurring and grading, all blurs together), so that
``benchmarks/recipe_cost.py`` can say where notebook 04's minutes go.

The methods (``test_methods``): doing nothing, the Wiener filter and Richardson-Lucy told the true
kernel, every learned model runs/methods.json records, and our blind checkpoint given one sigma per
set (``given_rows``): the true sigma, and the median of the set's own estimates.
"""
from __future__ import annotations

import shutil

from ..data.blur import get_preset
from ..evaluation import frame_sets
from ..evaluation.grading import PSNR_CAP_DB, by_method, grade, pool, worst_frames
from ..evaluation.methods import GIVEN, Classical, GivenSigmaRow, Identity, Learned, Models
from ..params import Params
from ..runtime import paths
from ..runtime.atomic import json_safe, write_json_atomic
from ..training.config import pick_device
from . import registry
from .prepare import training_photos_missing
from .records import load_metrics, training_record
from .runs import ours_method


def given_sigma_methods(P: Params) -> dict:
    """Notebook 04's rows of our blind checkpoint given one sigma per set, name -> how (a key of
    ``evaluation.methods.GIVEN``); none when our model has no estimate to replace (not a blind Wiener
    network)."""
    ours = P.recipe("ours")
    if ours["model"] != "blind_wiener" or ours.get("model_kwargs", {}).get("fixed_sigma") is not None:
        return {}
    return {f"{ours_method(P)}_{how}": how for how in GIVEN}


def given_views(P: Params, how: str) -> int:
    """The refiner's views a given-sigma row averages: ``one_blur_views`` for the one-blur row (a set
    that shares one blur, deblurred as well as the checkpoint can), one for the true-sigma row (beside
    the one-view blind row, the gap between them is the estimate's alone)."""
    return P.one_blur_views if how == "one_blur" else 1


def learned_methods(P: Params, models: Models) -> list[Learned]:
    """Every learned method runs/methods.json records, in the order it was trained."""
    return [Learned(name, ckpts, models, P.presets) for name, ckpts in registry.learned(P.presets).items()]


def given_rows(P: Params, learned: list[Learned]) -> list[GivenSigmaRow]:
    """Our blind checkpoint given one sigma per set (``given_sigma_methods``), when it was trained."""
    ours = next((m for m in learned if m.name == ours_method(P)), None)
    if ours is None:
        return []
    return [GivenSigmaRow(name, ours, how, given_views(P, how)) for name, how in given_sigma_methods(P).items()]


def test_methods(P: Params, models: Models) -> list:
    """Notebook 04's methods, in the order of its tables."""
    learned = learned_methods(P, models)
    return [Identity(), Classical("wiener", "wiener", P.wiener_balances),
            Classical("richardson_lucy", "richardson_lucy", P.rl_iterations), *learned, *given_rows(P, learned)]


def method_info(method, rows: dict, skipped: dict) -> dict:
    """metrics.json's "method_info" entry: the method's own ``info`` and, per blur, what it did there
    (a note that holds one value for every blur stays one value; ``at_grid_edge`` lists the blurs)."""
    entry = method.info()
    for blur, row in rows.items():
        for key, value in row.notes.items():
            if key == "at_grid_edge":
                if value:
                    entry.setdefault(key, []).append(blur)
            elif key == "tuned_on":
                entry[key] = value
            else:
                entry.setdefault(key, {})[blur] = value
    if method.name in skipped:
        entry["not_graded"] = skipped[method.name]
    return entry


def grading_seconds(rows) -> dict:
    """{method: seconds}: what each method took on the rows' frame sets, deblurring and grading, summed
    over the blurs (a timing, which ``benchmarks/compare_runs.py`` leaves aside)."""
    out: dict = {}
    for r in rows:
        out[r.method] = out.get(r.method, 0.0) + r.seconds
    return out


def _best_learned(methods: dict, info: dict) -> tuple:
    """The method graded from one checkpoint for every preset (a learned model of all of them), with none
    missing, and the best pooled PSNR: notebook 04's "best learned model"."""
    best, best_ckpt, best_psnr = None, None, -float("inf")
    for name, entry in info.items():
        ckpts = entry.get("checkpoint", {})
        if name not in methods or entry.get("missing") or len(set(ckpts.values())) != 1:
            continue
        psnr = methods[name]["all"]["psnr_db"] or -float("inf")
        if psnr > best_psnr:
            best, best_ckpt, best_psnr = name, next(iter(ckpts.values())), psnr
    return best, best_ckpt


def evaluate(P: Params, progress=True) -> dict:
    """The 04 table: every method x preset on the test split, graded from uint8 PNGs like the course.

    Writes predictions under reports/predictions/<method>/<preset>/ and reports/metrics.json."""
    pred_root = paths.predictions_dir()
    if pred_root.exists():  # predictions of an earlier run (other frames, other models) must not be graded
        shutil.rmtree(pred_root)
    sets = frame_sets.test_split(P, save_to=pred_root)
    methods = test_methods(P, Models(pick_device(P.device)))
    skipped: dict = {}
    rows = grade(methods, sets, progress, "04 evaluate", skipped)
    table = by_method(rows)
    summaries = {name: {blur: row.summary for blur, row in per.items()} for name, per in table.items()}
    for per in summaries.values():
        per["all"] = pool(per.values())
    info = {m.name: method_info(m, table.get(m.name, {}), skipped) for m in methods
            if m.name in table or m.name in skipped or m.missing()}
    best_method, best_ckpt = _best_learned(summaries, info)
    training = {name: training_record(entry["checkpoint"]) for name, entry in info.items() if entry.get("checkpoint")}
    metrics = {"methods": summaries, "method_info": info, "best_method": best_method,
               "best_checkpoint": best_ckpt, "test_frames": len(sets[0]), "presets": [s.blur for s in sets],
               "param_set": P.param_set, "training": training, "worst_frames": {"test": worst_frames(rows)},
               "training_photos_missing": training_photos_missing(), "grading_seconds": {"test": grading_seconds(rows)}}
    write_json_atomic(paths.metrics_path(), json_safe(metrics))
    return metrics


def sweep_methods(P: Params, models: Models) -> list:
    """The sigma sweep's methods: doing nothing, the Wiener filter told the true kernel (balance tuned on
    validation frames per sigma) and told the nearest preset's kernel (what a model of the three presets
    amounts to), every learned model of one checkpoint for all presets, and our blind checkpoint told
    each sigma (``deblur --sigma``: between the presets, where the blind gate keeps preset a's inverse,
    told a blur it undoes that blur)."""
    blind = [m for m in learned_methods(P, models) if m.universal and not m.missing()]
    told = [GivenSigmaRow(name, ours, how) for name, how in given_sigma_methods(P).items() if how == "true_sigma"
            for ours in blind if ours.name == ours_method(P)]
    return [Identity(), Classical("wiener_true_kernel", "wiener", P.wiener_balances),
            Classical("wiener_nearest_preset", "wiener", P.wiener_balances, told="nearest_preset"), *blind, *told]


def sigma_sweep(P: Params, progress=True) -> dict:
    """PSNR against sigma on the test frames, each blurred with the 8-bit Gaussian of that sigma
    (``frame_sets.sweep``), every method of ``sweep_methods``. Writes reports/sigma_sweep.json."""
    sets = frame_sets.sweep(P)
    methods = sweep_methods(P, Models(pick_device(P.device)))
    graded = grade(methods, sets, progress, "04 sigma sweep")
    table = by_method(graded)
    rows = []
    for s in sets:
        true = table["wiener_true_kernel"][s.blur].notes
        row = {"sigma": s.extra["sigma"], "kernel_size": s.kernel.kernel_size,
               "nearest_preset": frame_sets.nearest_preset(s.kernel.sigma).name, "wiener_true_balance": true["balance"]}
        row.update({m.name: table[m.name][s.blur].summary["psnr_db"] for m in methods})
        rows.append(row)
    result = {"frames": len(sets[0]) if sets else 0, "methods": [m.name for m in methods], "rows": rows,
              "grading_seconds": grading_seconds(graded)}
    write_json_atomic(paths.sweep_path(), json_safe(result))
    return result


def _how(row) -> str | None:
    """What a method did on one blur of the real photos, in words (real_photos.json's "how")."""
    notes = row.notes
    if "balance" in notes:
        return f"balance {notes['balance']:g}"
    if "sigma" in notes:
        return f"given sigma {notes['sigma']:.3g}"
    if "stand_in" in notes:
        return f"the model of preset {notes['stand_in']}"
    return None


def evaluate_real(P: Params, metrics: dict | None = None, progress=True) -> dict | None:
    """Every method on the real-photo test set (``real_photos``) at presets a, b, c and 7x7 sigma 1.2.

    Nothing here is tuned on these photos: the Wiener filter's balance is chosen per blur on the
    embedded validation frames, as for the test split. Blind models (one checkpoint for every preset)
    see every blur; a model trained per preset grades at its own preset, and at sigma 1.2 with the
    nearest preset's model (b), as one would have to use it; the blind checkpoint's given-sigma rows
    get each blur's true sigma, or one estimate for the set. Writes reports/real_photos.json (every
    frame's PSNR; null: identical to the sharp frame, infinite) and adds ``real_photos`` to
    metrics.json; returns None, and leaves both as they were, when the set is not built (notebook 01,
    ``make real-photos``)."""
    sets = frame_sets.real_photos_sets(P)
    if sets is None:
        return None
    metrics = metrics or load_metrics()
    models = Models(pick_device(P.device))
    learned = learned_methods(P, models)
    methods = [Identity(), Classical("wiener", "wiener", P.wiener_balances), *learned, *given_rows(P, learned)]
    rows = grade(methods, sets, progress, "04 real photos")
    table = by_method(rows)
    how: dict = {}
    for r in rows:
        if _how(r) is not None:
            how.setdefault(r.method, {})[r.blur] = _how(r)
    summary = {name: {b: row.summary for b, row in per.items()} for name, per in table.items()}
    worst = worst_frames(rows)
    result = {"files": list(sets[0].files), "blurs": [s.blur for s in sets],
              "per_frame": {name: {b: row.psnr_db for b, row in per.items()} for name, per in table.items()},
              "summary": summary, "worst": worst, "how": how,
              "wiener_balance": {b: row.notes["balance"] for b, row in table["wiener"].items()},
              "psnr_cap_db": PSNR_CAP_DB,
              "photos": [{k: e[k] for k in ("photo", "kind", "package", "version", "file", "licence", "copyright")}
                         for e in sets[0].extra["photos"]]}
    write_json_atomic(paths.real_photos_path(), json_safe(result))
    metrics["real_photos"] = summary
    metrics.setdefault("worst_frames", {})["real_photos"] = worst
    metrics.setdefault("grading_seconds", {})["real_photos"] = grading_seconds(rows)
    write_json_atomic(paths.metrics_path(), json_safe(metrics))
    return result


def grade_checkpoint(P: Params, checkpoint, presets=None, given: str | None = None) -> dict:
    """Course PSNR (uint8, per image then mean) and SSIM of one checkpoint on the test split, per preset,
    without writing PNGs (lossless, so the numbers equal ``evaluate``'s). ``given``: a key of
    ``evaluation.methods.GIVEN``, the checkpoint (a blind Wiener network) graded as that row of notebook 04."""
    if given is not None and given not in GIVEN:
        raise ValueError(f"given must be one of {sorted(GIVEN)} or None, got {given!r}")
    presets = [get_preset(p).name for p in (presets or P.presets)]
    method = Learned("checkpoint", {p: checkpoint for p in presets}, Models(pick_device(P.device)), presets)
    if given is not None:
        method = GivenSigmaRow(f"checkpoint_{given}", method, given, given_views(P, given))
    rows = grade([method], frame_sets.test_split(P, presets), progress=False)
    return {r.blur: r.summary for r in rows}
