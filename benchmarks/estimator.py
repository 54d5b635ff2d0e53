"""The blur estimate across sharpness: validation frames rendered at several downscale factors, blurred
at several sigmas; the estimate's error and what it costs in PSNR against the same checkpoint told.

    python benchmarks/estimator.py [--factors 1 2 3 4] [--sigmas 0.3 0.8 1.0 1.2 1.4 1.6]
                                   [--views-per-photo 2] [--views 1] [--test] [--checkpoint PATH] [--json PATH]

The ladder: each validation photo (the embedded validation split's and the real-photo validation
set's originals) cut into ``--views-per-photo`` views of 256x448 reduced ``factor`` times from the
original (Lanczos; 1: the photo's own pixels; a photo too small for a factor is left out of that rung,
never enlarged). The course's frames are 720p video reduced 2.86 times: rung 3 is their kind. Each
rung is blurred at every sigma (the course's kernel size for a, b, c and 1.2, ``kernel_size_for_sigma``
otherwise) and read by notebook 02's checkpoint of ours (or ``--checkpoint``):

- **one sigma per set**: the frames' estimates at the model's ``set_quantile``, their median in log
  (``one_sigma``, the one-blur row and ``deblur --one-blur``): its relative error;
- **frame by frame**: each frame's estimate at ``sigma_quantile`` (what ``deblur`` uses): the median
  frame's relative error and the share of frames within 5%;
- **what a set of these photos allows**: the spread (standard deviation) of the photos' own readings
  (each photo's frames averaged, in log, relative to the truth), and the standard error of the set's
  sigma over sets of as many photos drawn from these (a bootstrap over photos, seed 0): a set estimate
  off by less than its standard error is as right as a set of that many photos can show;
- **PSNR cost**: the mean PSNR of the checkpoint told the true sigma minus that given the set's sigma,
  and minus that deblurring frame by frame, each with the refiner's ``--views`` views averaged (1:
  none; 8: as the one-blur row and ``deblur --one-blur --views 8``), so that each gap is the
  estimate's alone.

Choices are made on the validation photos only. ``--test`` also reads the two test sets at the blurs
notebook 04 grades (the embedded test split at b and c, the real-photo test set at b, c and 7x7 sigma
1.2), for the record.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

import common  # noqa: E402
from deblur_utils.data import embedded, ladder, real_photos  # noqa: E402
from deblur_utils.data.blur import EVAL_BLURS, BlurPreset, blur_uint8, kernel_size_for_sigma  # noqa: E402
from deblur_utils.data.imageio import read_rgb  # noqa: E402
from deblur_utils.evaluation import frame_sets  # noqa: E402
from deblur_utils.evaluation.grading import capped  # noqa: E402
from deblur_utils.evaluation.metrics import psnr_db  # noqa: E402
from deblur_utils.networks.blind import VIEWS, GivenSigma, one_sigma  # noqa: E402
from deblur_utils.report.tables import markdown_table  # noqa: E402
from deblur_utils.training.checkpoint import model_from_checkpoint  # noqa: E402
from deblur_utils.training.config import pick_device  # noqa: E402
from deblur_utils.training.inference import estimate_sigmas, predict_uint8  # noqa: E402

WITHIN = 0.05  # frame by frame: the share of frames read within this relative error
BOOTSTRAP = 1000  # resamples of the photos for the set estimate's standard error


def validation_photos() -> dict:
    """name -> uint8 RGB original of every validation photo found (embedded val, real-photo val)."""
    found = {seq: embedded.photo_path(*embedded.PHOTOS[seq]) for seq in embedded.SPLITS["val"]}
    for photo in real_photos.VAL_PHOTOS:
        where = real_photos.locate(photo)
        if where:
            found[photo.name] = where[0]
    return {name: read_rgb(path) for name, path in found.items()}


def blur_for(sigma: float) -> BlurPreset:
    """The course's kernel for its own sigmas (a, b, c, 1.2), else one that holds +-3 sigma."""
    for preset in EVAL_BLURS.values():
        if abs(preset.sigma - sigma) < 1e-9:
            return preset
    return BlurPreset(f"s{sigma:g}", kernel_size_for_sigma(sigma), sigma)


def rungs(photos: dict, factors, n: int) -> dict:
    """factor -> (frame names, uint8 frames (N, 256, 448, 3))."""
    out = {}
    for f in factors:
        names, frames = [], []
        for name, photo in photos.items():
            for k, view in enumerate(ladder.views(photo, f, n)):
                names.append(f"{name}/{k}")
                frames.append(view)
        if frames:
            out[f] = (names, np.stack(frames))
    return out


def mean_psnr(sharp, out) -> float:
    """The mean course PSNR, an identical frame counted as 100 dB (as the grading loop's gains count it)."""
    return float(np.mean([capped(psnr_db(s, o)) for s, o in zip(sharp, out)]))


def photo_spread(log_error: np.ndarray, photos: list) -> dict:
    """The photos' spread and the set estimate's standard error, from each frame's log reading relative to
    the truth (``log_error``) and its photo (``photos``): the standard deviation over photos of their
    frames' mean, and that of ``one_sigma``'s error over ``BOOTSTRAP`` sets of as many photos drawn with
    replacement (seed 0), both as relative errors."""
    groups = [log_error[[p == name for p in photos]] for name in dict.fromkeys(photos)]
    means = np.array([g.mean() for g in groups])
    rng = np.random.default_rng(0)
    draws = [np.log(one_sigma(np.exp(np.concatenate([groups[k] for k in rng.integers(0, len(groups), len(groups))]))))
             for _ in range(BOOTSTRAP)]  # the set's own rule, one_sigma, on each draw
    return {"photos": len(groups), "photo_spread": float(np.expm1(means.std(ddof=1))) if len(groups) > 1 else 0.0,
            "set_se": float(np.expm1(np.std(draws)))}


def measure(model, device, sharp: np.ndarray, blur: BlurPreset, views: int = 1,
            blurred: np.ndarray | None = None, photos: list | None = None) -> dict:
    """One rung (or test set) at one blur: the estimates' errors and the PSNR told, given the set's sigma,
    frame by frame, each with ``views`` refiner views. ``blurred``: the frames as a set holds them
    (default: ``sharp`` blurred here with ``blur``); ``photos``: each frame's photo (default: each its own)."""
    true = blur.sigma
    blurred = np.stack([blur_uint8(s, blur) for s in sharp]) if blurred is None else blurred
    readings = estimate_sigmas(model, blurred, device, quantile=model.set_quantile)
    set_sigma = one_sigma(readings)
    spread = photo_spread(np.log(readings / true), photos or list(range(len(sharp))))
    frame_err = estimate_sigmas(model, blurred, device) / true - 1
    # told: a known blur; the set's sigma: an estimate, under the blind rules (the same from sigma 0.8 up,
    # and at preset a; between them the gap holds the rules' difference too: ablation.py told)
    told = mean_psnr(sharp, predict_uint8(GivenSigma(model, true, views=views), blurred, device))
    given_set = mean_psnr(sharp, predict_uint8(GivenSigma(model, set_sigma, views=views, known=False), blurred, device))
    own, model.views = model.views, views
    try:
        frame_by_frame = mean_psnr(sharp, predict_uint8(model, blurred, device))
    finally:
        model.views = own
    return {"frames": len(sharp), "true_sigma": true, "set_sigma": set_sigma, "set_error": set_sigma / true - 1,
            "frame_error_median": float(np.median(frame_err)), "frames_within": float(np.mean(np.abs(frame_err) <= WITHIN)),
            "blurred_psnr_db": mean_psnr(sharp, blurred), "told_psnr_db": told,
            "set_cost_db": told - given_set, "frame_cost_db": told - frame_by_frame, **spread}


def ladder_table(results: dict, first: str = "factor") -> str:
    rows = [[f if isinstance(f, str) else f"{f:g}x", f"{r['frames']} / {r['photos']}", f"{r['true_sigma']:g}",
             f"{100 * r['set_error']:+.1f}%", f"{100 * r['photo_spread']:.1f}%", f"{100 * r['set_se']:.1f}%",
             f"{100 * r['frame_error_median']:+.1f}%", f"{100 * r['frames_within']:.0f}%", f"{r['told_psnr_db']:.2f}",
             f"{r['set_cost_db']:+.2f}", f"{r['frame_cost_db']:+.2f}"]
            for f, per_sigma in results.items() for r in per_sigma.values()]
    return markdown_table([first, "frames / photos", "sigma", "set estimate error", "photos' spread",
                           "set estimate's SE", "median frame's error",
                           f"frames within {WITHIN:.0%}", "told: PSNR", "cost: one sigma per set (dB)",
                           "cost: frame by frame (dB)"], rows)


def worst(results: dict, sigmas) -> dict:
    """The largest |error| and cost over rungs, at the sigmas the targets name (b, c, 1.2)."""
    picked = [r for per_sigma in results.values() for s, r in per_sigma.items() if float(s) in sigmas]
    return {"set_error_max": max(abs(r["set_error"]) for r in picked),
            "frame_error_median_max": max(abs(r["frame_error_median"]) for r in picked),
            "set_cost_max_db": max(r["set_cost_db"] for r in picked),
            "frame_cost_max_db": max(r["frame_cost_db"] for r in picked)}


def main(argv=None):
    ap = common.parser(__doc__)
    ap.add_argument("--factors", type=float, nargs="+", default=[1, 2, 3, 4], help="downscale factors (>= 1)")
    ap.add_argument("--sigmas", type=float, nargs="+", default=[0.3, 0.8, 1.0, 1.2, 1.4, 1.6])
    ap.add_argument("--views-per-photo", type=int, default=2, help=f"views per photo and factor (at most {len(ladder.PLACES)})")
    ap.add_argument("--views", type=int, default=1, choices=sorted(VIEWS),
                    help="the refiner's views averaged in every row (8: as the one-blur row)")
    ap.add_argument("--test", action="store_true", help="also the embedded test split and the real-photo test set")
    ap.add_argument("--checkpoint", type=Path, help="this best.pt instead of notebook 02's")
    ap.add_argument("--sigma-quantile", type=float, help="frame by frame: this tile quantile instead of the model's")
    ap.add_argument("--set-quantile", type=float, help="one sigma per set: this tile quantile instead of the model's")
    args = ap.parse_args(argv)
    if min(args.factors) < 1:
        ap.error("--factors: a view is never enlarged; use factors >= 1")
    P = common.load(args)
    ckpt = args.checkpoint or common.notebook_checkpoint(P, ap)
    device = pick_device(P.device)
    model, _ = model_from_checkpoint(ckpt, device)
    model.sigma_quantile = model.sigma_quantile if args.sigma_quantile is None else args.sigma_quantile
    model.set_quantile = model.set_quantile if args.set_quantile is None else args.set_quantile
    photos = validation_photos()
    ladder_frames = rungs(photos, args.factors, args.views_per_photo)
    out = {**common.stamp(P), "checkpoint": str(ckpt), "sigma_quantile": model.sigma_quantile,
           "set_quantile": model.set_quantile, "views": args.views, "photos": sorted(photos),
           "frames": {f"{f:g}": names for f, (names, _) in ladder_frames.items()}, "ladder": {}}
    for f, (names, sharp) in ladder_frames.items():
        of_photo = [n.rsplit("/", 1)[0] for n in names]
        out["ladder"][f] = {f"{s:g}": measure(model, device, sharp, blur_for(s), args.views, photos=of_photo)
                            for s in args.sigmas}
        print(f"factor {f:g}: {len(sharp)} frames read", flush=True)
    print(f"\n## the estimate on the sharpness ladder ({len(photos)} validation photos)\n")
    print(ladder_table(out["ladder"]))
    targets = [s for s in (1.0, 1.2, 1.6) if s in args.sigmas]
    if targets:
        out["worst"] = worst(out["ladder"], targets)
        w = out["worst"]
        print(f"\nat sigma {', '.join(map(str, targets))}, over every rung: set estimate within "
              f"{100 * w['set_error_max']:.1f}%, median frame within {100 * w['frame_error_median_max']:.1f}%; "
              f"cost at most {w['set_cost_max_db']:+.2f} dB one sigma per set, {w['frame_cost_max_db']:+.2f} dB frame by frame")
    out["ladder"] = {f"{f:g}": v for f, v in out["ladder"].items()}
    if args.test:
        out["test"] = test_sets(P, model, device, args.views)
        print(f"\n## the test sets ({args.views} view{'s' * (args.views > 1)})\n")
        print(ladder_table(out["test"], first="set"))
    return common.finish(out, args.json)


def test_sets(P, model, device, views: int) -> dict:
    """The embedded test split at b and c and the real-photo test set at b, c and sigma 1.2, as notebook 04
    grades them (the frames it caches; an empty dict for a set notebook 01 has not built)."""
    sets = frame_sets.embedded(P, "test") + (frame_sets.real_photos_sets(P, blurs=("b", "c", "s1.2")) or [])
    out: dict = {}
    for fs in sets:
        name = "embedded test" if fs.name.startswith("embedded") else "real test"
        photos = [str(Path(f).parent) for f in fs.files]  # a photo's (a sequence's) frames share a folder
        out.setdefault(name, {})[fs.blur] = measure(model, device, fs.sharp, fs.kernel, views, blurred=fs.blurred,
                                                    photos=photos)
    return out


if __name__ == "__main__":
    main()
