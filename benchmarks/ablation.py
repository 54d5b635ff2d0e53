"""One trial at a time of ours' choices, each graded by the grading loop: one parameterised script.

    python benchmarks/ablation.py gate [--splits test val]              # the no-harm gate's tile statistic
    python benchmarks/ablation.py gate --thresholds [--checkpoint PATH] # gate_lo and keep_below, validation only
    python benchmarks/ablation.py tiles [--quantiles 0 0.25 0.5] [--set-quantiles 0.25 0.5 0.75] [--multiples 0.7 1.3]
    python benchmarks/ablation.py views [--views 1 2 4 8] [--test]      # the refiner's views averaged
    python benchmarks/ablation.py floor [--balances 1e-4 1e-5 1e-6] [--test]  # the floor's regularisation
    python benchmarks/ablation.py told [--sigmas 0.2 0.4 0.5 0.6 0.7 0.8] [--test]  # a known mild blur
    python benchmarks/ablation.py estimate [--presets b c] [--checkpoints PATH ...]   # the estimate's share
    python benchmarks/ablation.py tau [--taus 0.5 0.4 0.3 0.2] [--quantiles 0.5] [--test]  # estimator_tau
    python benchmarks/ablation.py photos [--test] [--retrain]           # the Debian training photos
    python benchmarks/ablation.py refiner [--variants ...] [--ladder]   # refiner size and batch per CPU minute
    ... [--param-set default] [--json PATH]

Inference-time trials (gate, tiles, views, floor, told, estimate) need no training: the setting takes no part in
it, so one checkpoint serves every value (notebook 02's, and each runs/benchmarks/seed<N>/ that
``quality.py --seeds`` left). The others train what they compare (tau: the estimator's heads alone;
photos: ours without the training photos; refiner: each variant), into runs/benchmarks/, and grade
a finished run again rather than retrain it. Choices are made on validation frames (the embedded
validation split, the real-photo validation set); ``--test`` grades the test sets too, for the
record. docs/results.md and docs/results_history.md hold what each trial measured and what it chose.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import common  # noqa: E402
from deblur_utils.data import real_photos  # noqa: E402
from deblur_utils.data.blur import blur_uint8, kernel_size_for_sigma  # noqa: E402
from deblur_utils.data.cache import load_cached  # noqa: E402
from deblur_utils.data.sampling import ContinuumCrops  # noqa: E402
from deblur_utils.data.sets import load_splits, save_splits  # noqa: E402
from deblur_utils.evaluation import frame_sets  # noqa: E402
from deblur_utils.evaluation.grading import by_method, grade  # noqa: E402
from deblur_utils.evaluation.methods import GivenSigmaRow, Identity, Learned, Method, Models, Network  # noqa: E402
from deblur_utils.networks.blind import VIEWS, GivenSigma  # noqa: E402
from deblur_utils.report.tables import markdown_table  # noqa: E402
from deblur_utils.runtime import paths  # noqa: E402
from deblur_utils.runtime.numerics import cpu_threads  # noqa: E402
from deblur_utils.steps.evaluate import grade_checkpoint  # noqa: E402
from deblur_utils.training.config import lr_factor, pick_device  # noqa: E402
from deblur_utils.training.inference import estimate_sigmas, predict_uint8, to_tensor, to_uint8  # noqa: E402
from deblur_utils.training.loop import train  # noqa: E402
import estimator  # noqa: E402
from quality import reusable_run, train_variant  # noqa: E402

GATES = ("sharpest_tile", "median_tile")


class GivenPerFrame(Method):
    """A blind Wiener network told each frame's sigma (``sigmas``, in the frames' order; or ``multiple`` x the
    true sigma for every frame): the deconvolution and gate at that sigma, the estimate bypassed."""

    kind, description = "given_sigma", "told each frame's sigma"

    def __init__(self, name, model, device, sigmas=None, multiple: float | None = None, batch: int = 8):
        self.name, self.model, self.device, self.sigmas, self.multiple, self.batch = name, model, device, sigmas, multiple, batch

    @torch.inference_mode()
    def deblur(self, frames):
        n = len(frames)
        sigmas = (torch.full((n,), frames.kernel.sigma * self.multiple) if self.multiple is not None
                  else torch.as_tensor(self.sigmas, dtype=torch.float32))
        out = [to_uint8(self.model(to_tensor(frames.blurred[i:i + self.batch]).to(self.device),
                                   sigma=sigmas[i:i + self.batch].to(self.device))) for i in range(0, n, self.batch)]
        return np.concatenate(out), {}


def _models(P):
    return Models(pick_device(P.device))


def _checkpoints(P, ap, given=None) -> dict:
    ckpts = {c.resolve().parent.name: c for c in given} if given else common.ours_checkpoints(P)
    if not ckpts:
        ap.error("no finished checkpoint of ours: run notebook 02 (make report) or benchmarks/quality.py first")
    return ckpts


def _stats_rows(rows, sets, label) -> tuple[dict, list]:
    """gain_stats of ``rows`` against doing nothing on ``sets``: {set: {blur: figures}} and table rows."""
    stats = common.gain_stats(rows, common.identity_psnrs(sets))
    out, table = {}, []
    for (set_name, blur), r in stats.items():
        out.setdefault(set_name, {})[blur] = r
        table.append(common.stats_row([*label, set_name, blur], r))
    return out, table


# --- gate -----------------------------------------------------------------------------------------

def threshold_readings(model, frames_by_set: dict, device, width: float) -> dict:
    """Per validation set: the sharpest tile's sigma under preset a and under 0.8 and 1.0 (fixed points only),
    and the thresholds that follow: gate_lo just above the largest preset-a reading (to the next 0.05),
    keep_below where the gate is fully open."""
    out = {}
    for name, sharp in frames_by_set.items():
        row = {"frames": len(sharp)}
        for sigma in (0.3, 0.8, 1.0):
            blurred = np.stack([blur_uint8(f, (kernel_size_for_sigma(sigma), sigma)) for f in sharp])
            with torch.no_grad():
                x = [to_tensor(blurred[i:i + 4]).to(device) for i in range(0, len(blurred), 4)]
                sharpest = torch.cat([model.estimator.estimate(t)[1] for t in x]).cpu().numpy()
                fixed = torch.cat([model.fixed_points(t) for t in x]).cpu().numpy()
            if sigma == 0.3:
                row["a_largest"] = float(sharpest.max())
            else:
                row[f"s{sigma}_fixed_smallest"] = float(sharpest[fixed].min()) if fixed.any() else None
                row[f"s{sigma}_fixed_fraction"] = float(fixed.mean())
        out[name] = row
    largest = max(r["a_largest"] for r in out.values())
    gate_lo = float(np.ceil((largest + 1e-9) / 0.05) * 0.05)
    return {"sets": out, "gate_lo": round(gate_lo, 2), "keep_below": round(gate_lo + width, 2)}


def study_gate(P, args, ap) -> dict:
    """Preset a graded with the gate reading the sharpest tile and the median tile, per checkpoint and split,
    with the largest estimate of each statistic (above gate_lo a preset-a frame gets deblurred); or, with
    ``--thresholds``, the readings on the validation frames that set gate_lo and keep_below."""
    models = _models(P)
    ckpts = {"given": args.checkpoint} if args.checkpoint else _checkpoints(P, ap)
    out = {}
    if args.thresholds:
        sets = {"embedded val": np.asarray(load_cached(paths.processed_dir(), "val", ("a",))["sharp"])}
        real_val = real_photos.load(blurs=(), which="val")
        if real_val is not None:
            sets["real-photo val"] = real_val["sharp"]
        for name, path in ckpts.items():
            model, _ = models.load(path)
            out[name] = threshold_readings(model, sets, models.device, model.gate_width)
            rows = [[name, s, r["frames"], f"{r['a_largest']:.3f}",
                     *(f"{r[k]:.3f}" if r[k] is not None else "none" for k in ("s0.8_fixed_smallest", "s1.0_fixed_smallest")),
                     f"{r['s1.0_fixed_fraction']:.2f}"] for s, r in out[name]["sets"].items()]
            print(markdown_table(["run", "validation set", "frames", "preset a: largest sharpest-tile sigma",
                                  "sigma 0.8, fixed points: smallest", "sigma 1.0, fixed points: smallest",
                                  "sigma 1.0: fixed fraction"], rows))
            print(f"\n{name}: gate_lo {out[name]['gate_lo']}, keep_below {out[name]['keep_below']}\n")
        return out
    rows = []
    for split in args.splits:
        limit = P.test_max_frames if split == "test" else None  # the test frames quality.py grades
        sets = frame_sets.embedded(P, split, ("a",), limit)
        nothing = grade([Identity()], sets, progress=False)[0].summary["psnr_db"]
        for name, path in ckpts.items():
            model, _ = models.load(path)
            r = {"checkpoint": str(path), "frames": len(sets[0]), "identity": nothing}
            for gate_on in GATES:
                model.gate_on = gate_on
                r[gate_on] = grade([Network(gate_on, model, models.device)], sets, progress=False)[0].summary["psnr_db"]
            with torch.no_grad():
                est = [model.estimator.estimate(to_tensor(sets[0].blurred[i:i + 4]).to(models.device))
                       for i in range(0, len(sets[0]), 4)]
            r.update(gate_lo=model.gate_lo, largest_median_estimate=float(torch.cat([m for m, _ in est]).max()),
                     largest_sharpest_estimate=float(torch.cat([s for _, s in est]).max()))
            out.setdefault(split, {})[name] = r
            rows.append([split, name, f"{nothing:.2f}", *(f"{r[g]:.2f}" for g in GATES),
                         f"{r['largest_sharpest_estimate']:.3f} / {r['largest_median_estimate']:.3f}", f"{r['gate_lo']:.2f}"])
    print("\n## preset a, PSNR dB\n")
    print(markdown_table(["split", "run", "doing nothing", "gate: sharpest tile", "gate: median tile",
                          "largest estimate: sharpest / median", "gate opens above"], rows))
    return out


# --- tiles ----------------------------------------------------------------------------------------

def study_tiles(P, args, ap) -> dict:
    """The tile statistic the deconvolution reads (``sigma_quantile``: 0 the sharpest tile, 0.5 the median)
    per frame, and one sigma per set at each tile quantile (``set_quantile``, the one-blur row, one view),
    on the validation frames; ``--multiples``: told the true sigma times each multiple."""
    models, sets = _models(P), common.choosing_sets(P)
    out, rows, told_rows = {}, [], []
    for name, path in _checkpoints(P, ap).items():
        model, _ = models.load(path)
        configured = (model.sigma_quantile, model.set_quantile)
        of = Learned(name, {p: path for p in P.presets}, models, P.presets)
        for how, q in [("per frame", q) for q in args.quantiles] + [("one per set", q) for q in args.set_quantiles]:
            if how == "per frame":
                model.sigma_quantile = q
                method = Network(f"{q:g}", model, models.device, estimates=True)
            else:
                model.set_quantile = q
                method = GivenSigmaRow(f"set {q:g}", of, "one_blur", views=1)
            mine = configured[0] if how == "per frame" else configured[1]
            got, table = _stats_rows(grade([method], sets, progress=False), sets,
                                     [name, how, f"{q:g}" + (" (configured)" if q == mine else "")])
            out.setdefault(name, {})[str(q) if how == "per frame" else f"set {q}"] = got
            rows += table
        model.sigma_quantile, model.set_quantile = configured
        for m in args.multiples:
            stats = common.gain_stats(grade([GivenPerFrame(f"x{m:g}", model, models.device, multiple=m)], sets,
                                            progress=False), common.identity_psnrs(sets))
            for (set_name, blur), r in stats.items():
                out[name].setdefault("told_multiples", {}).setdefault(set_name, {}).setdefault(blur, {})[m] = r["gain_db"]
        for set_name, per in out[name].get("told_multiples", {}).items():
            told_rows += [[name, set_name, blur, *(f"{g[m]:+.2f}" for m in args.multiples)] for blur, g in per.items()]
    print("\n## validation frames, PSNR dB\n")
    print(markdown_table(["run", "sigma", "tile quantile", "set", "blur", *common.STATS_HEADER], rows))
    if told_rows:
        print("\n## told the true sigma times a multiple: mean gain over doing nothing, dB\n")
        print(markdown_table(["run", "set", "blur", *(f"x{m:g}" for m in args.multiples)], told_rows))
    return out


# --- views ----------------------------------------------------------------------------------------

def study_views(P, args, ap) -> dict:
    """Notebook 02's checkpoint with the refiner's corrections of 1, 2, 4 or 8 flipped and transposed views
    averaged (``views``, inference only), per set, with the seconds a frame takes."""
    models = _models(P)
    model, _ = models.load(common.notebook_checkpoint(P, ap))
    sets = common.choosing_sets(P, args.test)
    out, rows = {}, []
    with cpu_threads(P.cpu_threads):
        for v in args.views:
            model.views = v
            got, table = _stats_rows(grade([Network(f"views {v}", model, models.device)], sets, progress=False), sets, [v])
            out[str(v)] = got
            rows += [t[:-1] + [f"{got[t[1]][t[2]]['seconds_per_frame']:.3f}"] for t in table]
    print("\n## notebook 02's checkpoint: PSNR dB by views averaged\n")
    print(markdown_table(["views", "set", "blur", *common.STATS_HEADER[:-1], "s per frame"], rows))
    return out


# --- floor ----------------------------------------------------------------------------------------

def study_floor(P, args, ap) -> dict:
    """The floor's Wiener regularisation (``floor_balance``: what preset a and blurs read below the gate get)
    at each of ``--balances`` and as each checkpoint learned it, on the validation frames at preset a."""
    models = _models(P)
    sets = frame_sets.embedded(P, "val", ("a",)) + (frame_sets.real_photos_sets(P, "val", ("a",)) or [])
    if args.test:
        sets += frame_sets.embedded(P, "test", ("a",)) + (frame_sets.real_photos_sets(P, "test", ("a",)) or [])
    out, rows = {}, []
    with cpu_threads(P.cpu_threads):
        for name, path in _checkpoints(P, ap).items():
            model, _ = models.load(path)
            configured = model.floor_balance
            for balance in [None, *args.balances]:
                model.floor_balance = balance
                key = "learned" if balance is None else f"{balance:g}"
                label = key + (" (configured)" if balance == configured else "")
                got, table = _stats_rows(grade([Network(key, model, models.device)], sets, progress=False), sets,
                                         [name, label])
                out.setdefault(name, {})[key] = got
                rows += [t[:-1] for t in table]
            model.floor_balance = configured
    print("\n## the floor's regularisation at preset a, PSNR dB\n")
    print(markdown_table(["run", "floor_balance", "set", "blur", *common.STATS_HEADER[:-1]], rows))
    return out


# --- told -----------------------------------------------------------------------------------------

class Told(Method):
    """A blind Wiener network told each set's true sigma: ``known`` (the blur is known, ``deblur --sigma``)
    or not (the blind model's no-harm rules read on that sigma, as for an estimate)."""

    kind = "given_sigma"

    def __init__(self, name, model, device, known: bool):
        self.name, self.model, self.device, self.known = name, model, device, known
        self.description = "told the true sigma" + (", known" if known else ", the blind rules")

    def deblur(self, frames):
        told = GivenSigma(self.model, frames.kernel.sigma, views=1, known=self.known)
        return predict_uint8(told, np.asarray(frames.blurred), self.device), {}


def blurred_sets(name: str, sharp: np.ndarray, sigmas) -> list:
    """``sharp`` frames blurred at each sigma (``frame_sets.blurred_at``), one FrameSet each, blur "s<sigma>"."""
    files, out = [f"{i}" for i in range(len(sharp))], []
    for sigma in sigmas:
        kernel, blurred = frame_sets.blurred_at(sharp, sigma)
        out.append(frame_sets.FrameSet(name, f"s{sigma:g}", kernel, sharp, blurred, files, ssim=False))
    return out


def study_told(P, args, ap) -> dict:
    """Told a known blur below the gate: the checkpoint told each ``--sigmas`` with the blind model's rules
    (preset a's floor, its fixed points kept) and as a known blur (that blur's own Wiener inverse), on the
    validation frames (``--test``: the test sets too)."""
    models = _models(P)
    splits = ["val", "test"] if args.test else ["val"]
    sharp = {}
    for split in splits:
        sharp[f"embedded {split}"] = frame_sets.embedded(P, split, ("b",))[0].sharp
        real = frame_sets.real_photos_sets(P, split, ("b",))
        if real:
            sharp[f"real {split}"] = real[0].sharp
    sets = [fs for name, frames in sharp.items() for fs in blurred_sets(name, frames, args.sigmas)]
    out, rows = {}, []
    with cpu_threads(P.cpu_threads):
        for name, path in _checkpoints(P, ap).items():
            model, _ = models.load(path)
            for known in (False, True):
                key = "known" if known else "blind rules"
                got, table = _stats_rows(grade([Told(key, model, models.device, known)], sets, progress=False),
                                         sets, [name, key])
                out.setdefault(name, {})[key] = got
                rows += [t[:-1] for t in table]
    print("\n## told a sigma: the blind model's rules against a known blur, PSNR dB\n")
    print(markdown_table(["run", "told", "set", "blur", *common.STATS_HEADER[:-1]], rows))
    return out


# --- estimate -------------------------------------------------------------------------------------

def study_estimate(P, args, ap) -> dict:
    """Presets b and c of the test split per checkpoint: the estimate's error in log sigma, and the PSNR
    with its own estimate, told the true sigma, and given every checkpoint's estimate averaged (what
    averaging the seeds' estimators would give): the spread of each column says whether the seeds'
    spread comes from the refiner (told) or the estimate."""
    models = _models(P)
    ckpts = _checkpoints(P, ap, args.checkpoints)
    sets = frame_sets.embedded(P, "test", args.presets, P.test_max_frames)
    out, rows = {}, []
    for frames in sets:
        true = frames.kernel.sigma
        loaded = {name: models.load(path)[0] for name, path in ckpts.items()}
        est = {name: torch.from_numpy(estimate_sigmas(m, frames.blurred, models.device)) for name, m in loaded.items()}
        logs = torch.stack([e.log() for e in est.values()])
        pooled = logs.mean(0).exp()
        between = float(logs.std(0, unbiased=False).mean()) if len(logs) > 1 else 0.0
        res = {}
        for name, m in loaded.items():
            err = (est[name].log() - np.log(true)).numpy()
            graded = by_method(grade([Network("own_estimate", m, models.device),
                                      GivenPerFrame("told_true_sigma", m, models.device, multiple=1.0),
                                      GivenPerFrame("estimates_averaged_over_checkpoints", m, models.device, pooled)],
                                     [frames], progress=False))
            r = {"checkpoint": str(ckpts[name]), "frames": len(frames), "log_error_mean": float(err.mean()),
                 "log_error_sd": float(err.std()), **{k: v[frames.blur].summary["psnr_db"] for k, v in graded.items()}}
            res[name] = r
            rows.append([frames.blur, name, f"{r['log_error_mean']:+.3f} / {r['log_error_sd']:.3f}",
                         f"{r['own_estimate']:.2f}", f"{r['told_true_sigma']:.2f}",
                         f"{r['estimates_averaged_over_checkpoints']:.2f}"])
        spread = {k: max(r[k] for r in res.values()) - min(r[k] for r in res.values())
                  for k in ("own_estimate", "told_true_sigma", "estimates_averaged_over_checkpoints")}
        rows.append([frames.blur, "spread (max - min)", f"run to run, per frame: sd {between:.4f}",
                     *(f"{v:.2f}" for v in spread.values())])
        out[frames.blur] = {"true_sigma": true, "checkpoints": res, "spread_db": spread,
                            "log_estimate_sd_between_runs": between}
    print("\n## test split, PSNR dB\n")
    print(markdown_table(["preset", "run", "log error: mean / sd", "own estimate", "told the true sigma",
                          "estimates averaged over runs"], rows))
    return out


# --- tau ------------------------------------------------------------------------------------------

def retrain_estimator(model, cfg, train_sharp, tau: float, device, seed: int = 0):
    """A copy of ``model`` whose estimator heads are trained afresh, alone, with the pinball loss at ``tau``
    (the deconvolution and refiner train on the true sigma, never on the estimate: they stay as they are)."""
    model = copy.deepcopy(model)
    est = model.estimator
    torch.manual_seed(seed)
    for head in (est.mlp, *est.more):
        for layer in head:
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
    crops = ContinuumCrops(train_sharp, cfg.crop_size, cfg.sigma_range, cfg.estimator_preset_fraction, seed,
                           sigma_law=cfg.estimator_sigma_law or cfg.sigma_law)
    tile = min(est.tile, *train_sharp.shape[1:3])
    steps = cfg.epochs * (cfg.epoch_samples // cfg.batch_size)
    opt = torch.optim.AdamW(est.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = torch.optim.swa_utils.AveragedModel(est, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.ema_decay))
    est.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(step, step / steps, cfg)
        blurred, _, sigma = crops.batch(step, cfg.estimator_batch, device, crop=tile, stream=1)
        loss = est.loss(blurred, sigma, tau)
        opt.zero_grad()
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(est.parameters(), cfg.grad_clip)
        opt.step()
        ema.update_parameters(est)
    model.estimator = ema.module
    return model.eval(), steps


def study_tau(P, args, ap) -> dict:
    """Notebook 02's checkpoint with its estimator's heads retrained alone on the recipe's estimator crops
    for the recipe's steps, the pinball loss at each quantile ``tau`` of log sigma (0.5: the median),
    graded with each tile quantile of ``--quantiles``."""
    models = _models(P)
    base, _ = models.load(common.notebook_checkpoint(P, ap))
    cfg = P.train_config("ours")
    train_sharp = np.asarray(load_cached(paths.processed_dir(), "train", ("a",))["sharp"])
    sets = common.choosing_sets(P, args.test)
    out, rows = {}, []
    with cpu_threads(P.cpu_threads):
        for tau in args.taus:
            start = time.perf_counter()
            model, steps = retrain_estimator(base, cfg, train_sharp, tau, models.device, seed=P.seed)
            print(f"tau {tau:g}: the estimator's heads trained alone, {steps} steps, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
            for q in args.quantiles:
                model.sigma_quantile = q
                got, table = _stats_rows(grade([Network(f"tau {tau}", model, models.device, estimates=True)], sets,
                                               progress=False), sets, [f"{tau:g}", f"{q:g}"])
                out.setdefault(str(tau), {})[str(q)] = got
                rows += table
    print("\n## notebook 02's checkpoint, its estimator retrained alone per tau: PSNR dB\n")
    print(markdown_table(["tau", "sigma_quantile", "set", "blur", *common.STATS_HEADER], rows))
    return out


# --- photos ---------------------------------------------------------------------------------------

def without_photos_view(processed: Path, dest: Path) -> Path:
    """``dest``: the processed folder's frames (linked, not copied) with the training photos' sequences
    left out of the training split."""
    dest.mkdir(parents=True, exist_ok=True)
    for folder in [paths.sharp_dir(processed), *sorted(processed.glob("blur_*"))]:
        link = dest / folder.name
        if not link.exists():
            link.symlink_to(folder.resolve(), target_is_directory=True)
    splits = load_splits(processed)
    drop = {p.name for p in real_photos.TRAIN_PHOTOS}
    splits["train"] = [s for s in splits["train"] if s not in drop]
    save_splits(dest, splits)
    return dest


def study_photos(P, args, ap) -> dict:
    """Ours trained with the default recipe on the training split less the Debian training photos (a linked
    view of data/processed/), graded beside notebook 02's checkpoint, which trained with them."""
    processed = paths.processed_dir()
    if not {p.name for p in real_photos.TRAIN_PHOTOS} & set(load_splits(processed)["train"]):
        ap.error("the training split holds no training photo: run notebook 01 with training_photos true "
                 "after `make real-photos` (the comparison needs both runs)")
    runs = {"with the training photos (default)": common.notebook_checkpoint(P, ap)}
    run_dir = paths.runs_dir() / "benchmarks" / "without_training_photos"
    ckpt = run_dir / "best.pt"
    done = (run_dir / "summary.json").exists() and ckpt.exists() and \
        (run_dir / "summary.json").stat().st_mtime >= ckpt.stat().st_mtime
    if args.retrain or not done:
        view = without_photos_view(processed, paths.runs_dir() / "benchmarks" / "without_training_photos_data")
        summary = train(P.train_config("ours"), view, run_dir, progress=True)
        print(f"trained without the training photos: {summary['steps']:,} steps, {summary['minutes']:.1f} minutes")
    runs["without them"] = ckpt
    models, sets = _models(P), common.choosing_sets(P, args.test)
    out, rows = {}, []
    for run, path in runs.items():
        got, table = _stats_rows(grade([Network(run, models.load(path)[0], models.device, estimates=True)], sets,
                                       progress=False), sets, [run])
        out[run] = got
        rows += table
    print("\nPSNR dB (identical frames count as 100 dB)\n")
    print(markdown_table(["run", "set", "blur", *common.STATS_HEADER], rows))
    return out


# --- refiner --------------------------------------------------------------------------------------

VARIANTS = {  # changes to the parameter set's `ours` (model_kwargs merged key by key), about one training cost
    "default": {},
    "w32 b4, batch 16, 768 steps": {"model_kwargs": {"width": 32, "blocks": 4}, "batch_size": 16, "epochs": 3,
                                   "estimator_batch": 24},
    "w24 b3, batch 16, 1,792 steps": {"batch_size": 16, "epochs": 7, "estimator_batch": 24},
    "w48 on 2x2 blocks, batch 16, 1,536 steps": {"model_kwargs": {"width": 48, "blocks": 4, "refine_scale": 2},
                                                 "batch_size": 16, "epochs": 6, "estimator_batch": 24},
    "w24 b3, batch 8, 3,584 steps": {"epochs": 7, "estimator_batch": 24},
    "w32 b4, batch 8, 4,608 steps": {"model_kwargs": {"width": 32, "blocks": 4}},
    "w48 b4 on 2x2 blocks, batch 8, 4,608 steps": {"model_kwargs": {"width": 48, "blocks": 4, "refine_scale": 2}},
    "default, preset crops a, b and c": {"continuum_presets": None},  # before 2026-12-05: a's crops teach nothing
}
LADDER_SHARP = {"factors": (3, 4), "sigmas": (1.0, 1.2, 1.6)}  # refiner --ladder: the sharp end, as the course's frames'


def study_refiner(P, args, ap) -> dict:
    """Each variant of ours trained by its own recipe, graded on the embedded test split and on the real-photo
    test set (against the Wiener filter told the true kernel and doing nothing, as notebook 04 graded them),
    with its seconds per step and per frame; ``--ladder``: also on the sharp end of the sharpness ladder
    (``benchmarks/estimator.py``, validation photos reduced 3x and 4x), told the true sigma (the refiner's
    own quality) and frame by frame. The default variant reuses notebook 02's run when it is the same recipe."""
    ref_path = paths.real_photos_path()
    ref = json.loads(ref_path.read_text()) if ref_path.exists() else None
    real = frame_sets.real_photos_sets(P) if ref else None
    sharp = estimator.rungs(estimator.validation_photos(), LADDER_SHARP["factors"], 2) if args.ladder else {}
    models, rows, out = _models(P), [], {}
    for i, name in enumerate(args.variants):
        reused = reusable_run(P, P.seed) if not VARIANTS[name] else None
        if reused:
            summary, ckpt = reused
        else:
            summary, ckpt = train_variant(P, f"refiner_{i}", VARIANTS[name], progress=False)
        entry = {"changes": VARIANTS[name], "steps": summary["steps"], "minutes": summary["minutes"],
                 "parameters": summary["parameters"],
                 "test_psnr_db": {p: r["psnr_db"] for p, r in grade_checkpoint(P, ckpt).items()}}
        if sharp:
            model = models.load(ckpt)[0]
            measured = [estimator.measure(model, models.device, frames, estimator.blur_for(s))
                        for _, frames in sharp.values() for s in LADDER_SHARP["sigmas"]]
            entry["sharp_ladder"] = {"told_psnr_db": float(np.mean([m["told_psnr_db"] for m in measured])),
                                     "frame_by_frame_psnr_db": float(np.mean([m["told_psnr_db"] - m["frame_cost_db"]
                                                                              for m in measured]))}
        if real:
            stats = common.gain_stats(grade([Learned(name, {p: ckpt for p in P.presets}, models, P.presets)], real,
                                            progress=False), common.identity_psnrs(real))
            wiener = {b: float(np.mean([100.0 if v is None else min(v, 100.0) for v in ref["per_frame"]["wiener"][b]]))
                      for b in ref["blurs"]}
            entry["real_photos"] = {b: {"psnr_db": r["psnr_db"], "vs_wiener_db": r["psnr_db"] - wiener[b],
                                        "vs_identity_db": r["gain_db"], "worst_frame_db": r["worst_gain_db"],
                                        "seconds_per_frame": r["seconds_per_frame"]} for (_, b), r in stats.items()}
        out[name] = entry
        r = entry.get("real_photos", {})
        rows.append([name, f"{entry['parameters']:,}", f"{entry['steps']:,}", f"{entry['minutes']:.1f}",
                     " / ".join(f"{v:.2f}" for v in entry["test_psnr_db"].values()),
                     " / ".join(f"{r[b]['vs_wiener_db']:+.2f}" for b in r),
                     " / ".join(f"{r[b]['worst_frame_db']:+.2f}" for b in r),
                     f"{150 * np.mean([v['seconds_per_frame'] for v in r.values()]):.1f}" if r else "n/a",
                     *([f"{entry['sharp_ladder']['told_psnr_db']:.2f} / {entry['sharp_ladder']['frame_by_frame_psnr_db']:.2f}"]
                       if sharp else [])])
        print(f"{name}: done", flush=True)
    blurs = " / ".join(next(iter(out.values())).get("real_photos", {}))
    print(markdown_table(["variant", "parameters", "steps", "train minutes", "test a / b / c (dB)",
                          f"real vs Wiener ({blurs})", f"real worst frame vs nothing ({blurs})",
                          "s per 150 frames", *(["sharp ladder: told / frame by frame (dB)"] if sharp else [])], rows))
    return out


STUDIES = {"gate": study_gate, "tiles": study_tiles, "views": study_views, "floor": study_floor, "told": study_told,
           "estimate": study_estimate, "tau": study_tau, "photos": study_photos, "refiner": study_refiner}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="study", required=True)

    def study(name):
        return sub.add_parser(name, help=STUDIES[name].__doc__.splitlines()[0], parents=[common.options()])

    g = study("gate")
    g.add_argument("--splits", nargs="+", default=["test", "val"], choices=["train", "val", "test"])
    g.add_argument("--thresholds", action="store_true", help="derive gate_lo and keep_below on validation frames")
    g.add_argument("--checkpoint", type=Path, help="this checkpoint instead of the runs found")
    t = study("tiles")
    t.add_argument("--quantiles", type=float, nargs="*", default=[0.0, 0.25, 0.5], help="per frame (sigma_quantile)")
    t.add_argument("--set-quantiles", type=float, nargs="*", default=[], help="one sigma per set (set_quantile)")
    t.add_argument("--multiples", type=float, nargs="*", default=[], help="told the true sigma times each of these")
    v = study("views")
    v.add_argument("--views", type=int, nargs="+", default=sorted(VIEWS), choices=sorted(VIEWS))
    v.add_argument("--test", action="store_true", help="also grade both test sets (for the record)")
    f = study("floor")
    f.add_argument("--balances", type=float, nargs="+", default=[1e-4, 3e-5, 1e-5, 3e-6, 1e-6])
    f.add_argument("--test", action="store_true", help="also grade both test sets at preset a (for the record)")
    o = study("told")
    o.add_argument("--sigmas", type=float, nargs="+", default=[0.2, 0.4, 0.5, 0.6, 0.7, 0.8])
    o.add_argument("--test", action="store_true", help="also the test frames (for the record)")
    e = study("estimate")
    e.add_argument("--presets", nargs="+", default=["b", "c"], choices=["b", "c"])
    e.add_argument("--checkpoints", type=Path, nargs="+", help="these best.pt files instead of notebook 02's and the seeds'")
    k = study("tau")
    k.add_argument("--taus", type=float, nargs="+", default=[0.5, 0.4, 0.3, 0.2])
    k.add_argument("--quantiles", type=float, nargs="+", default=[0.5], help="tile quantiles (sigma_quantile) graded")
    k.add_argument("--test", action="store_true", help="also grade both test sets (for the record)")
    p = study("photos")
    p.add_argument("--test", action="store_true", help="also grade both test sets (for the record)")
    p.add_argument("--retrain", action="store_true", help="train the run without the photos even if it finished")
    r = study("refiner")
    r.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    r.add_argument("--ladder", action="store_true", help="also grade the sharp end of the sharpness ladder")
    args = ap.parse_args(argv)
    P = common.load(args)
    if args.study == "estimate" and args.checkpoints:
        missing = [str(c) for c in args.checkpoints if not c.is_file()]
        if missing:
            ap.error(f"no such checkpoint: {', '.join(missing)}")
    out = {**common.stamp(P), "study": args.study, "results": STUDIES[args.study](P, args, ap)}
    return common.finish(out, args.json)["results"]


if __name__ == "__main__":
    main()
