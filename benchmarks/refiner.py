"""Ours' size and batch against quality and cost: each variant trained by its own recipe (steps), graded
on the embedded test split and on the real-photo test set, with its seconds per step and per frame.

    python benchmarks/refiner.py                         # every variant below
    python benchmarks/refiner.py --variants default "w24 b3, batch 16" --json PATH

Each variant is a dict of changes to the parameter set's ``ours`` (``model_kwargs`` merged key by
key). The steps of each are chosen so that the variants cost about the same training time on a 2-core
CPU; the inference time is what 150 frames cost (issue: at most 15 s on a 2-core AVX2 CPU).
Runs go to runs/benchmarks/refiner_<n>/; a finished run of the same recipe is graded again, not
retrained. Needs the prepared data (notebook 01) and, for the real-photo columns, the real set.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from deblur_utils import config, real_photos, workflow  # noqa: E402
from deblur_utils.atomic import json_safe, write_json_atomic  # noqa: E402
from deblur_utils.metrics import psnr_db  # noqa: E402
from deblur_utils.tables import markdown_table  # noqa: E402
from deblur_utils.train import model_from_checkpoint, predict_uint8  # noqa: E402

VARIANTS = {
    "default": {},
    "w32 b4, batch 16, 768 steps": {"model_kwargs": {"width": 32, "blocks": 4}, "batch_size": 16, "epochs": 3,
                                   "estimator_batch": 24},
    "w24 b3, batch 16, 1,792 steps": {"batch_size": 16, "epochs": 7, "estimator_batch": 24},
    "w48 on 2x2 blocks, batch 16, 1,536 steps": {"model_kwargs": {"width": 48, "blocks": 4, "refine_scale": 2},
                                                 "batch_size": 16, "epochs": 6, "estimator_batch": 24},
    "w24 b3, batch 8, 3,584 steps": {"epochs": 7, "estimator_batch": 24},
}


def real_gains(ckpt, real, ref) -> dict:
    """Per blur: mean PSNR, against Wiener told the true kernel and against doing nothing, the worst frame."""
    model, _ = model_from_checkpoint(ckpt)
    cap = lambda v: 100.0 if v is None else min(v, 100.0)  # noqa: E731  (identical frame: 100 dB, as notebook 04)
    out = {}
    for b in real["blurs"]:
        t0 = time.perf_counter()
        pred = predict_uint8(model, real[b], "cpu")
        seconds = (time.perf_counter() - t0) / len(pred)
        ps = np.array([min(psnr_db(s, o), 100.0) for s, o in zip(real["sharp"], pred)])
        ident = np.array([cap(v) for v in ref["per_frame"]["identity"][b]])
        wiener = np.array([cap(v) for v in ref["per_frame"]["wiener"][b]])
        out[b] = {"psnr_db": float(ps.mean()), "vs_wiener_db": float(ps.mean() - wiener.mean()),
                  "vs_identity_db": float((ps - ident).mean()), "worst_frame_db": float((ps - ident).min()),
                  "seconds_per_frame": seconds}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--param-set", default="default")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    P = config.load_params(args.param_set)
    from quality import train_variant

    real = real_photos.load()
    ref_path = workflow.real_photos_path()
    ref = json.loads(ref_path.read_text()) if ref_path.exists() else None
    if real is not None:
        real["blurs"] = list(ref["blurs"]) if ref else []
    rows, out = [], {}
    for i, name in enumerate(args.variants):
        summary, ckpt = train_variant(P, f"refiner_{i}", VARIANTS[name], progress=False)
        test = workflow.grade_checkpoint(P, ckpt)
        entry = {"changes": VARIANTS[name], "steps": summary["steps"], "minutes": summary["minutes"],
                 "parameters": summary["parameters"], "test_psnr_db": {p: r["psnr_db"] for p, r in test.items()}}
        if real is not None and ref is not None:
            entry["real_photos"] = real_gains(ckpt, real, ref)
        out[name] = entry
        r = entry.get("real_photos", {})
        rows.append([name, f"{entry['parameters']:,}", f"{entry['steps']:,}", f"{entry['minutes']:.1f}",
                     " / ".join(f"{v:.2f}" for v in entry["test_psnr_db"].values()),
                     " / ".join(f"{r[b]['vs_wiener_db']:+.2f}" for b in r),
                     " / ".join(f"{r[b]['worst_frame_db']:+.2f}" for b in r),
                     f"{150 * np.mean([v['seconds_per_frame'] for v in r.values()]):.1f}" if r else "n/a"])
        print(f"{name}: done", flush=True)
    blurs = " / ".join(next(iter(out.values())).get("real_photos", {}))
    print(markdown_table(["variant", "parameters", "steps", "train minutes", "test a / b / c (dB)",
                          f"real vs Wiener ({blurs})", f"real worst frame vs nothing ({blurs})",
                          "s per 150 frames"], rows))
    if args.json:
        write_json_atomic(args.json, json_safe(out))
    return out


if __name__ == "__main__":
    main()
