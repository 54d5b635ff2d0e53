"""The no-harm gate's tile statistic: preset a graded with the gate reading the sharpest tile and the median.

    python benchmarks/gate.py [--splits test val] [--json PATH]

For every finished checkpoint of ours (notebook 02's, and each ``runs/benchmarks/seed<N>/`` that
``quality.py --seeds`` left), grades preset a of each split twice, with ``gate_on`` set to
``sharpest_tile`` and to ``median_tile`` (the gate takes no part in training, so one checkpoint
serves both), beside doing nothing, and prints the largest estimate of each statistic over the
frames: above the gate's ``gate_lo`` a preset-a frame gets deblurred as if blurred more.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deblur_utils import config, paths, workflow  # noqa: E402
from deblur_utils.data import load_cached, write_json_atomic  # noqa: E402
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--param-set", default="default")
    ap.add_argument("--splits", nargs="+", default=["test", "val"], choices=["train", "val", "test"])
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    P = config.load_params(args.param_set)
    device = pick_device(P["device"])
    ckpts = checkpoints(P)
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
        write_json_atomic(args.json, workflow._json_safe(out))
        print(f"\nwritten to {args.json}")
    return out


if __name__ == "__main__":
    main()
