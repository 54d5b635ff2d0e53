"""The refiner's views averaged at inference (``views`` of ours' ``model_kwargs``), graded per set.

    python benchmarks/views.py [--views 1 2 4 8] [--test] [--json PATH]

A Gaussian blur has no direction: flipping or transposing a blurred frame asks the refiner the same
question in another orientation. ``views`` > 1 averages its corrections of the flipped (and, from 8,
transposed) frames, each turned back; the estimate, the Wiener layer and the gate are as before. It
takes no part in training, so one checkpoint (notebook 02's) serves every value. For each value, on
the validation frames (the embedded validation split at b and c; the real-photo validation set at b,
c and sigma 1.2), and with ``--test`` also on both test sets for the record: the mean PSNR, the mean
gain over doing nothing, the worst frame's gain, and the seconds each frame takes here.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from deblur_utils import config, paths, real_photos  # noqa: E402
from deblur_utils.atomic import json_safe, write_json_atomic  # noqa: E402
from deblur_utils.blind import VIEWS  # noqa: E402
from deblur_utils.data import load_cached  # noqa: E402
from deblur_utils.metrics import psnr_db  # noqa: E402
from deblur_utils.numerics import cpu_threads  # noqa: E402
from deblur_utils.tables import markdown_table  # noqa: E402
from deblur_utils.train import pick_device, predict_uint8  # noqa: E402
from deblur_utils.workflow import PSNR_CAP_DB  # noqa: E402
from gate import notebook_model  # noqa: E402


def frame_sets(test: bool) -> dict:
    """name -> {"sharp": frames, <blur>: frames}: the validation sets, and with ``test`` the test sets."""
    sets = {}
    for split in ("val", "test") if test else ("val",):
        emb = load_cached(paths.processed_dir(), split, ("a", "b", "c"))
        blurs = ("b", "c") if split == "val" else ("a", "b", "c")
        sets[f"embedded {split}"] = {k: np.asarray(emb[k]) for k in ("sharp", *blurs)}
        real = real_photos.load(blurs=blurs + ("s1.2",), which=split)
        if real is not None:
            sets[f"real-photo {split}"] = {k: real[k] for k in ("sharp", *blurs, "s1.2")}
    return sets


def grade(model, frames: dict, blur: str, device) -> dict:
    sharp, blurred = frames["sharp"], frames[blur]
    start = time.perf_counter()
    pred = predict_uint8(model, blurred, device)
    seconds = (time.perf_counter() - start) / len(blurred)
    psnr = np.array([min(psnr_db(s, p), PSNR_CAP_DB) for s, p in zip(sharp, pred)])
    gain = psnr - np.array([min(psnr_db(s, b), PSNR_CAP_DB) for s, b in zip(sharp, blurred)])
    return {"frames": len(sharp), "psnr_db": float(psnr.mean()), "gain_db": float(gain.mean()),
            "worst_gain_db": float(gain.min()), "seconds_per_frame": seconds}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--param-set", default="default")
    ap.add_argument("--views", type=int, nargs="+", default=sorted(VIEWS), choices=sorted(VIEWS))
    ap.add_argument("--test", action="store_true", help="also grade both test sets (for the record, not for choosing)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    P = config.load_params(args.param_set)
    device = pick_device(P["device"])
    ckpt, model = notebook_model(P, ap)
    sets = frame_sets(args.test)
    out, rows = {}, []
    with cpu_threads(P.get("cpu_threads")):
        for v in args.views:
            model.views = v
            for set_name, frames in sets.items():
                for blur in (b for b in frames if b != "sharp"):
                    r = out.setdefault(str(v), {}).setdefault(set_name, {})[blur] = grade(model, frames, blur, device)
                    rows.append([v, set_name, blur, f"{r['psnr_db']:.2f}", f"{r['gain_db']:+.2f}",
                                 f"{r['worst_gain_db']:+.2f}", f"{r['seconds_per_frame']:.3f}"])
    print(f"\n## {ckpt}: PSNR dB by views averaged\n")
    print(markdown_table(["views", "set", "blur", "PSNR", "gain vs nothing", "worst frame", "s per frame"], rows))
    if args.json:
        write_json_atomic(args.json, json_safe(out))
        print(f"\nwritten to {args.json}")
    return out


if __name__ == "__main__":
    main()
