"""The estimator's pinball quantile (``estimator_tau``), its heads retrained alone, graded per set.

    python benchmarks/estimator_tau.py [--taus 0.5 0.4 0.3 0.2] [--quantiles 0.5] [--test] [--json PATH]

Ours' deconvolution and refiner train on the true sigma (jittered), never on the estimate, so the
estimator can be retrained alone on the checkpoint of notebook 02: for each tau its heads start
afresh and train on the recipe's own estimator crops for the recipe's steps (AdamW, warm-up, cosine,
EMA and gradient clip as ``params/default.yaml``'s ``ours``), with the pinball loss at that quantile of
log sigma (0.5: the mean absolute error, the median). Each is graded with the tile quantile(s)
``--quantiles`` on the validation frames (the embedded validation split at b and c; the real-photo
validation set at b, c and sigma 1.2), and with ``--test`` on both test sets, for the record: the
mean PSNR, the mean gain over doing nothing, the worst frame's gain, the frames more than 0.5 dB
below doing nothing, and the estimate's mean error in log sigma. A low tau reads low where a
spectrum leaves the blur uncertain: a photo soft before any blur is one such, and reading it high
over-sharpens it.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from deblur_utils import config, paths  # noqa: E402
from deblur_utils.atomic import json_safe, write_json_atomic  # noqa: E402
from deblur_utils.data import load_cached  # noqa: E402
from deblur_utils.numerics import cpu_threads  # noqa: E402
from deblur_utils.sampling import ContinuumCrops  # noqa: E402
from deblur_utils.tables import markdown_table  # noqa: E402
from deblur_utils.train import pick_device  # noqa: E402
from deblur_utils.training.config import TrainConfig, lr_factor  # noqa: E402
from deblur_utils.workflow import ours_config  # noqa: E402
from gate import notebook_model  # noqa: E402
from tile_statistic import HARM_DB, grade  # noqa: E402
from views import frame_sets  # noqa: E402


def retrain_estimator(model, cfg: TrainConfig, train_sharp, tau: float, device, seed: int = 0):
    """A copy of ``model`` whose estimator heads are trained afresh, alone, with the pinball loss at ``tau``."""
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--param-set", default="default")
    ap.add_argument("--taus", type=float, nargs="+", default=[0.5, 0.4, 0.3, 0.2])
    ap.add_argument("--quantiles", type=float, nargs="+", default=[0.5], help="tile quantiles (sigma_quantile) graded")
    ap.add_argument("--test", action="store_true", help="also grade both test sets (for the record, not for choosing)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    P = config.load_params(args.param_set)
    device = pick_device(P["device"])
    ckpt, base = notebook_model(P, ap)
    cfg = ours_config(P)
    train_sharp = np.asarray(load_cached(paths.processed_dir(), "train", ("a",))["sharp"])
    sets = frame_sets(args.test)
    out, rows = {}, []
    with cpu_threads(P.get("cpu_threads")):
        for tau in args.taus:
            start = time.perf_counter()
            model, steps = retrain_estimator(base, cfg, train_sharp, tau, device, seed=P["seed"])
            print(f"tau {tau:g}: the estimator's heads trained alone, {steps} steps, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
            for q in args.quantiles:
                model.sigma_quantile = q
                for set_name, frames in sets.items():
                    for blur in (b for b in frames if b != "sharp"):
                        r = grade(model, frames, blur, device)
                        out.setdefault(str(tau), {}).setdefault(str(q), {}).setdefault(set_name, {})[blur] = r
                        rows.append([f"{tau:g}", f"{q:g}", set_name, blur, f"{r['psnr_db']:.2f}",
                                     f"{r['gain_db']:+.2f}", f"{r['worst_gain_db']:+.2f}", r["frames_harmed"],
                                     f"{r['log_error_mean']:+.3f}"])
    print(f"\n## {ckpt}, its estimator retrained alone per tau: PSNR dB\n")
    print(markdown_table(["tau", "sigma_quantile", "set", "blur", "PSNR", "gain vs nothing", "worst frame",
                          f"frames > {HARM_DB} dB below", "log sigma error (mean)"], rows))
    if args.json:
        write_json_atomic(args.json, json_safe(out))
        print(f"\nwritten to {args.json}")
    return out


if __name__ == "__main__":
    main()
