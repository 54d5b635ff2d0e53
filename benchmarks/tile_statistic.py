"""The deconvolution's tile statistic (``sigma_quantile``, ``set_quantile``), graded on validation frames only.

    python benchmarks/tile_statistic.py [--quantiles 0 0.25 0.5] [--set-quantiles 0.25 0.5 0.75]
                                        [--multiples 0.7 1 1.3] [--json PATH]

Ours estimates sigma on 192x192 tiles; ``sigma_quantile`` picks which tile's estimate sets the
deconvolution (0: the sharpest tile, 0.5: the median). It takes no part in training, so one
checkpoint serves every value. For every finished checkpoint of ours (notebook 02's and each
``runs/benchmarks/seed<N>/``, as gate.py finds them), on the embedded validation split (b, c) and
the real-photo validation set (b, c, sigma 1.2; photos the real-photo test set does not hold):
the mean PSNR, the mean gain over doing nothing, the worst frame's gain and the frames more than
0.5 dB below doing nothing, and the estimate's mean error in log sigma. A blur of the whole frame
softens every tile, so a low quantile guards against a photo that is soft before any blur (read
as a stronger blur, then over-sharpened); the price is the minimum's downward bias on sharp photos.
``--set-quantiles`` grades one sigma per set instead (notebook 04's one-blur row, ``deblur
--one-blur``): every frame of a set given the median of the frames' estimates at that tile quantile
(``set_quantile``), one view, with the set's sigma's error in log. ``--multiples`` also grades each checkpoint
told the true sigma times each multiple (gate and estimate bypassed): what an estimate that far off
costs, and whether erring low or high costs more.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from deblur_utils import config, paths, real_photos  # noqa: E402
from deblur_utils.atomic import json_safe, write_json_atomic  # noqa: E402
from deblur_utils.blind import GivenSigma, one_sigma  # noqa: E402
from deblur_utils.blur import get_preset  # noqa: E402
from deblur_utils.data import load_cached  # noqa: E402
from deblur_utils.metrics import psnr_db  # noqa: E402
from deblur_utils.tables import markdown_table  # noqa: E402
from deblur_utils.train import (estimate_sigmas, model_from_checkpoint, pick_device, predict_uint8,  # noqa: E402
                                to_tensor, to_uint8)
from deblur_utils.workflow import PSNR_CAP_DB  # noqa: E402
from estimator import own_estimates  # noqa: E402
from gate import checkpoints  # noqa: E402

BATCH = 8
HARM_DB = 0.5


def validation_sets() -> dict:
    """name -> {"sharp": frames, <blur>: frames}: the embedded validation split, the real-photo one if built."""
    emb = load_cached(paths.processed_dir(), "val", ("b", "c"))
    sets = {"embedded val": {k: np.asarray(emb[k]) for k in ("sharp", "b", "c")}}
    real = real_photos.load(blurs=("b", "c", "s1.2"), which="val")
    if real is not None:
        sets["real-photo val"] = {k: real[k] for k in ("sharp", "b", "c", "s1.2")}
    return sets


def grade(model, frames: dict, blur: str, device, set_quantile: float | None = None) -> dict:
    """The model's own per-frame estimate; with ``set_quantile``, one sigma for the set (the median of
    the frames' estimates at that tile quantile), as notebook 04's one-blur row."""
    sharp, blurred = frames["sharp"], frames[blur]
    if set_quantile is None:
        pred = predict_uint8(model, blurred, device)
        est = own_estimates(model, blurred, device).numpy()
    else:
        est = np.array([one_sigma(estimate_sigmas(model, blurred, device, BATCH, quantile=set_quantile))])
        pred = predict_uint8(GivenSigma(model, float(est[0])), blurred, device)
    psnr = np.array([min(psnr_db(s, p), PSNR_CAP_DB) for s, p in zip(sharp, pred)])
    gain = psnr - np.array([min(psnr_db(s, b), PSNR_CAP_DB) for s, b in zip(sharp, blurred)])
    return {"frames": len(sharp), "psnr_db": float(psnr.mean()), "gain_db": float(gain.mean()),
            "worst_gain_db": float(gain.min()), "frames_harmed": int((gain < -HARM_DB).sum()),
            "log_error_mean": float(np.mean(np.log(est / get_preset(blur).sigma)))}


def gain_told(model, frames: dict, blur: str, multiple: float, device) -> float:
    """Mean gain over doing nothing with the deconvolution told ``multiple`` x the true sigma."""
    sharp, blurred = frames["sharp"], frames[blur]
    sigma = get_preset(blur).sigma * multiple
    with torch.no_grad():
        pred = np.concatenate([to_uint8(model(x, sigma=torch.full((len(x),), sigma, device=device)))
                               for x in (to_tensor(blurred[i:i + BATCH]).to(device) for i in range(0, len(blurred), BATCH))])
    return float(np.mean([min(psnr_db(s, p), PSNR_CAP_DB) - min(psnr_db(s, b), PSNR_CAP_DB)
                          for s, p, b in zip(sharp, pred, blurred)]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--param-set", default="default")
    ap.add_argument("--quantiles", type=float, nargs="*", default=[0.0, 0.25, 0.5],
                    help="tile quantiles graded per frame (sigma_quantile)")
    ap.add_argument("--set-quantiles", type=float, nargs="*", default=[],
                    help="tile quantiles graded with one sigma per set (set_quantile, the one-blur row)")
    ap.add_argument("--multiples", type=float, nargs="*", default=[],
                    help="also grade told the true sigma times each of these (gate and estimate bypassed)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    P = config.load_params(args.param_set)
    device = pick_device(P["device"])
    ckpts = checkpoints(P)
    if not ckpts:
        ap.error("no finished checkpoint of ours: run notebook 02 (make report) or benchmarks/quality.py first")
    sets = validation_sets()
    if "real-photo val" not in sets:
        print("(no real-photo validation set: `make real-photos`, then notebook 01, build it)")
    out, rows, told_rows = {}, [], []
    for name, path in ckpts.items():
        model, _ = model_from_checkpoint(path, device)
        configured = model.sigma_quantile
        runs = [("per frame", q, None) for q in args.quantiles] + [("one per set", q, q) for q in args.set_quantiles]
        for how, q, set_q in runs:
            if set_q is None:
                model.sigma_quantile = q
            mine = model.sigma_quantile if set_q is None else model.set_quantile
            for set_name, frames in sets.items():
                for blur in (b for b in frames if b != "sharp"):
                    r = grade(model, frames, blur, device, set_q)
                    key = str(q) if set_q is None else f"set {q}"
                    out.setdefault(name, {}).setdefault(key, {}).setdefault(set_name, {})[blur] = r
                    rows.append([name, how, f"{q:g}" + (" (configured)" if q == mine else ""), set_name, blur,
                                 f"{r['psnr_db']:.2f}", f"{r['gain_db']:+.2f}", f"{r['worst_gain_db']:+.2f}",
                                 r["frames_harmed"], f"{r['log_error_mean']:+.3f}"])
            model.sigma_quantile = configured
        for set_name, frames in sets.items():
            for blur in (b for b in frames if b != "sharp" and args.multiples):
                gains = [gain_told(model, frames, blur, m, device) for m in args.multiples]
                out[name].setdefault("told_multiples", {}).setdefault(set_name, {})[blur] = dict(zip(args.multiples, gains))
                told_rows.append([name, set_name, blur, *(f"{g:+.2f}" for g in gains)])
    print("\n## validation frames, PSNR dB\n")
    print(markdown_table(["run", "sigma", "tile quantile", "set", "blur", "PSNR", "gain vs nothing", "worst frame",
                          f"frames > {HARM_DB} dB below", "log sigma error (mean)"], rows))
    if told_rows:
        print("\n## told the true sigma times a multiple: mean gain over doing nothing, dB\n")
        print(markdown_table(["run", "set", "blur", *(f"x{m:g}" for m in args.multiples)], told_rows))
    if args.json:
        write_json_atomic(args.json, json_safe(out))
        print(f"\nwritten to {args.json}")
    return out


if __name__ == "__main__":
    main()
