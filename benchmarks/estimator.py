"""The blur estimate's share of the error: presets b and c graded blind, told the true sigma, and
given the checkpoints' estimates averaged.

    python benchmarks/estimator.py [--presets b c] [--checkpoints PATH ...] [--json PATH]

For every finished checkpoint of ours (notebook 02's and each ``runs/benchmarks/seed<N>/``, as
gate.py finds them) on the test split quality.py grades: the estimator's error in log sigma (mean
and standard deviation over the frames; and how far one frame's estimate moves from run to run,
the standard deviation over the checkpoints averaged over the frames), and the PSNR with the
model's own estimate (what it scores), told the preset's true sigma, and given the geometric mean
of every checkpoint's estimate (what averaging the seeds' estimators would give). The spread of
each column over the checkpoints says where the seed-to-seed spread comes from: the refiner
(told) or the estimate. ``--checkpoints`` grades the given ``best.pt`` files instead (named by
their folder), for example an earlier recipe's seeds kept aside. Preset a is left out: there the
no-harm gate, not the estimate's accuracy, decides (gate.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from deblur_utils import config, paths  # noqa: E402
from deblur_utils.blur import get_preset  # noqa: E402
from deblur_utils.atomic import json_safe, write_json_atomic  # noqa: E402
from deblur_utils.data import load_cached  # noqa: E402
from deblur_utils.metrics import psnr_db, summarize  # noqa: E402
from deblur_utils.tables import markdown_table  # noqa: E402
from deblur_utils.train import (estimate_sigmas, model_from_checkpoint, pick_device, predict_uint8,  # noqa: E402
                                to_tensor, to_uint8)
from gate import checkpoints  # noqa: E402

BATCH = 8


def own_estimates(model, blurred, device) -> torch.Tensor:
    """The estimate the deconvolution uses (the tiles' ``sigma_quantile``), per frame."""
    return torch.from_numpy(estimate_sigmas(model, np.asarray(blurred), device, BATCH))


def course_psnr(sharp, pred) -> float:
    """The course's mean PSNR over the frames (finite ones, as quality.py's table)."""
    return summarize([psnr_db(s, q) for s, q in zip(sharp, pred)])["psnr_db"]


def psnr_given(model, blurred, sharp, sigma, device) -> float:
    """Mean course PSNR with the deconvolution (and the gate) given ``sigma`` per frame."""
    preds = []
    with torch.no_grad():
        for i in range(0, len(blurred), BATCH):
            x = to_tensor(blurred[i:i + BATCH]).to(device)
            preds.append(to_uint8(model(x, sigma=sigma[i:i + BATCH].to(device))))
    return course_psnr(sharp, np.concatenate(preds))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--param-set", default="default")
    ap.add_argument("--presets", nargs="+", default=["b", "c"], choices=["b", "c"])
    ap.add_argument("--checkpoints", type=Path, nargs="+", help="these best.pt files instead of notebook 02's and the seeds'")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    P = config.load_params(args.param_set)
    device = pick_device(P["device"])
    if args.checkpoints:
        missing = [str(c) for c in args.checkpoints if not c.is_file()]
        if missing:
            ap.error(f"no such checkpoint: {', '.join(missing)}")
        ckpts = {c.resolve().parent.name: c for c in args.checkpoints}
    else:
        ckpts = checkpoints(P)
    if not ckpts:
        ap.error("no finished checkpoint of ours: run notebook 02 (make report) or benchmarks/quality.py first")
    models = {name: model_from_checkpoint(path, device)[0] for name, path in ckpts.items()}
    data = load_cached(paths.processed_dir(), "test", tuple(args.presets), P["test_max_frames"])
    sharp = np.asarray(data["sharp"])
    out, rows = {}, []
    for p in args.presets:
        blurred, true = np.asarray(data[p]), get_preset(p).sigma
        est = {name: own_estimates(m, blurred, device) for name, m in models.items()}
        logs = torch.stack([e.log() for e in est.values()])
        pooled = logs.mean(0).exp()
        between = float(logs.std(0, unbiased=False).mean()) if len(logs) > 1 else 0.0  # run to run, per frame
        res = {}
        for name, m in models.items():
            err = (est[name].log() - np.log(true)).numpy()
            r = {"checkpoint": str(ckpts[name]), "frames": len(sharp),
                 "log_error_mean": float(err.mean()), "log_error_sd": float(err.std()),
                 "own_estimate": course_psnr(sharp, predict_uint8(m, blurred, device)),
                 "told_true_sigma": psnr_given(m, blurred, sharp, torch.full((len(sharp),), float(true)), device),
                 "estimates_averaged_over_checkpoints": psnr_given(m, blurred, sharp, pooled, device)}
            res[name] = r
            rows.append([p, name, f"{r['log_error_mean']:+.3f} / {r['log_error_sd']:.3f}", f"{r['own_estimate']:.2f}",
                         f"{r['told_true_sigma']:.2f}", f"{r['estimates_averaged_over_checkpoints']:.2f}"])
        spread = {k: max(r[k] for r in res.values()) - min(r[k] for r in res.values())
                  for k in ("own_estimate", "told_true_sigma", "estimates_averaged_over_checkpoints")}
        rows.append([p, "spread (max - min)", f"run to run, per frame: sd {between:.4f}",
                     *(f"{v:.2f}" for v in spread.values())])
        out[p] = {"true_sigma": true, "checkpoints": res, "spread_db": spread, "log_estimate_sd_between_runs": between}
    print("\n## test split, PSNR dB\n")
    print(markdown_table(["preset", "run", "log error: mean / sd", "own estimate", "told the true sigma",
                          "estimates averaged over runs"], rows))
    if args.json:
        write_json_atomic(args.json, json_safe(out))
        print(f"\nwritten to {args.json}")
    return out


if __name__ == "__main__":
    main()
