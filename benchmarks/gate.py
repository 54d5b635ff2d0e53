"""The no-harm gate's tile statistic: preset a graded with the gate reading the sharpest tile and the median;
and where the gate's thresholds come from.

    python benchmarks/gate.py [--splits test val] [--json PATH]
    python benchmarks/gate.py --thresholds [--checkpoint PATH]

For every finished checkpoint of ours (notebook 02's, and each ``runs/benchmarks/seed<N>/`` that
``quality.py --seeds`` left), grades preset a of each split twice, with ``gate_on`` set to
``sharpest_tile`` and to ``median_tile`` (the gate takes no part in training, so one checkpoint
serves both), beside doing nothing, and prints the largest estimate of each statistic over the
frames: above the gate's ``gate_lo`` a preset-a frame gets deblurred as if blurred more.

``--thresholds`` reads, on the validation frames only (the embedded validation split and the
real-photo *validation* set, photos the real-photo test set does not hold), the sharpest tile's
sigma of every frame under preset a (sharp frames: the gate must stay shut for all of them) and of
the frames under sigma 0.8 and 1.0 that preset a leaves unchanged (the keep rule must not take
them for sharp), and prints the thresholds that follow: ``gate_lo`` just above the largest
preset-a reading (to the next 0.05), ``keep_below`` where the gate is fully open.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deblur_utils import config, paths, workflow  # noqa: E402
from deblur_utils.atomic import json_safe, write_json_atomic  # noqa: E402
from deblur_utils.data import load_cached  # noqa: E402
from deblur_utils.metrics import psnr_db, summarize  # noqa: E402
from deblur_utils.tables import markdown_table  # noqa: E402
from deblur_utils.train import model_from_checkpoint, pick_device, predict_uint8, to_tensor  # noqa: E402

GATES = ("sharpest_tile", "median_tile")


def checkpoints(P) -> dict:
    """name -> best.pt of every finished run of ours: notebook 02's, then the seeds' runs."""
    found = {}
    ours = set(workflow.learned_methods(P).get(f"ours_{P['ours']['model']}", {}).values())
    if len(ours) == 1:
        found["notebook 02"] = next(iter(ours))
    for run in sorted((paths.runs_dir() / "benchmarks").glob("seed*")):
        if (run / "summary.json").exists() and (run / "best.pt").exists():
            found[run.name] = run / "best.pt"
    return found


def notebook_model(P, ap):
    """(path, model) of notebook 02's finished checkpoint of ours; the parser's error, saying what to run, without one."""
    ckpt = checkpoints(P).get("notebook 02")
    if ckpt is None:
        ap.error("no finished checkpoint of ours from notebook 02: run `make report` first")
    return ckpt, model_from_checkpoint(ckpt, pick_device(P["device"]))[0]


def grade(model, blurred, sharp, device) -> dict:
    out = {}
    for gate_on in GATES:
        model.gate_on = gate_on
        pred = predict_uint8(model, blurred, device)
        out[gate_on] = summarize([psnr_db(s, p) for s, p in zip(sharp, pred)])["psnr_db"]
    with torch.no_grad():
        est = [model.estimator.estimate(to_tensor(blurred[i:i + 4]).to(device)) for i in range(0, len(blurred), 4)]
    out["gate_lo"] = model.gate_lo
    out["largest_median_estimate"] = float(torch.cat([m for m, _ in est]).max())
    out["largest_sharpest_estimate"] = float(torch.cat([s for _, s in est]).max())
    return out


def threshold_readings(model, frames_by_set: dict, device, width: float) -> dict:
    """Per validation set: the sharpest tile's sigma under preset a and under 0.8 and 1.0 (fixed points only)."""
    from deblur_utils.blur import blur_uint8, kernel_size_for_sigma

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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--param-set", default="default")
    ap.add_argument("--splits", nargs="+", default=["test", "val"], choices=["train", "val", "test"])
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--thresholds", action="store_true", help="derive gate_lo and keep_below on validation frames")
    ap.add_argument("--checkpoint", type=Path, help="grade this checkpoint instead of the runs found")
    args = ap.parse_args(argv)
    P = config.load_params(args.param_set)
    device = pick_device(P["device"])
    ckpts = {"given": args.checkpoint} if args.checkpoint else checkpoints(P)
    if args.thresholds:
        from deblur_utils import real_photos

        sets = {"embedded val": np.asarray(load_cached(paths.processed_dir(), "val", ("a",))["sharp"])}
        real_val = real_photos.load(blurs=(), which="val")
        if real_val is not None:
            sets["real-photo val"] = real_val["sharp"]
        out = {}
        for name, path in ckpts.items():
            model, _ = model_from_checkpoint(path, device)
            out[name] = threshold_readings(model, sets, device, model.gate_width)
            rows = [[name, s, r["frames"], f"{r['a_largest']:.3f}",
                     *(f"{r[k]:.3f}" if r[k] is not None else "none" for k in ("s0.8_fixed_smallest", "s1.0_fixed_smallest")),
                     f"{r['s1.0_fixed_fraction']:.2f}"] for s, r in out[name]["sets"].items()]
            print(markdown_table(["run", "validation set", "frames", "preset a: largest sharpest-tile sigma",
                                  "sigma 0.8, fixed points: smallest", "sigma 1.0, fixed points: smallest",
                                  "sigma 1.0: fixed fraction"], rows))
            print(f"\n{name}: gate_lo {out[name]['gate_lo']}, keep_below {out[name]['keep_below']}\n")
        if args.json:
            write_json_atomic(args.json, json_safe(out))
        return out
    if not ckpts:
        ap.error("no finished checkpoint of ours: run notebook 02 (make report) or benchmarks/quality.py first")
    rows, out = [], {}
    for split in args.splits:
        limit = P["test_max_frames"] if split == "test" else None  # the test frames quality.py grades
        data = load_cached(paths.processed_dir(), split, ("a",), limit)
        sharp, blurred = np.asarray(data["sharp"]), np.asarray(data["a"])
        nothing = summarize([psnr_db(s, b) for s, b in zip(sharp, blurred)])["psnr_db"]
        for name, path in ckpts.items():
            model, _ = model_from_checkpoint(path, device)
            r = {"checkpoint": str(path), "frames": len(sharp), "identity": nothing, **grade(model, blurred, sharp, device)}
            out.setdefault(split, {})[name] = r
            rows.append([split, name, f"{nothing:.2f}", *(f"{r[g]:.2f}" for g in GATES),
                         f"{r['largest_sharpest_estimate']:.3f} / {r['largest_median_estimate']:.3f}",
                         f"{r['gate_lo']:.2f}"])
    print("\n## preset a, PSNR dB\n")
    print(markdown_table(["split", "run", "doing nothing", "gate: sharpest tile", "gate: median tile",
                          "largest estimate: sharpest / median", "gate opens above"], rows))
    if args.json:
        write_json_atomic(args.json, json_safe(out))
        print(f"\nwritten to {args.json}")
    return out


if __name__ == "__main__":
    main()
