"""What the Debian training photos (``training_photos``) are worth: ours trained with and without them.

    python benchmarks/training_photos.py [--test] [--retrain] [--json PATH]

Notebook 01 adds ten photographs of Debian's plasma-workspace-wallpapers to the embedded default's
training split (``real_photos.TRAIN_PHOTOS``). This trains ours with the default recipe on the same
split without them (a view of data/processed/ whose splits.json leaves them out; the frames are
shared through symbolic links) and grades it beside notebook 02's checkpoint, which trained with
them: on the validation frames (the embedded validation split at b and c, the real-photo validation
set at b, c and sigma 1.2), the mean PSNR, the gain over doing nothing, the worst frame, the frames
more than 0.5 dB below doing nothing and the estimate's mean error in log sigma. ``--test`` grades
the test sets too (what the README's tables report, for the record; the choice is made on the
validation frames). A run that already finished is graded again, not retrained (``--retrain``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from deblur_utils import config, paths, real_photos, workflow  # noqa: E402
from deblur_utils.atomic import json_safe, write_json_atomic  # noqa: E402
from deblur_utils.data import load_cached, load_splits, save_splits  # noqa: E402
from deblur_utils.tables import markdown_table  # noqa: E402
from deblur_utils.train import model_from_checkpoint, pick_device  # noqa: E402
from tile_statistic import grade, validation_sets  # noqa: E402


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


def test_sets() -> dict:
    """The embedded test split (a, b, c) and the real-photo test set (a, b, c, sigma 1.2), where built."""
    test = load_cached(paths.processed_dir(), "test", ("a", "b", "c"))
    sets = {"embedded test": {k: np.asarray(test[k]) for k in ("sharp", "a", "b", "c")}}
    real = real_photos.load(which="test")
    if real is not None:
        sets["real-photo test"] = {k: real[k] for k in ("sharp", "a", "b", "c", "s1.2")}
    return sets


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--param-set", default="default")
    ap.add_argument("--test", action="store_true", help="grade the test sets too")
    ap.add_argument("--retrain", action="store_true", help="train the run without the photos even if it finished")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    P = config.load_params(args.param_set)
    device = pick_device(P["device"])
    processed = paths.processed_dir()
    splits = load_splits(processed)
    names = {p.name for p in real_photos.TRAIN_PHOTOS}
    if not names & set(splits["train"]):
        ap.error("the training split holds no training photo: run notebook 01 with training_photos true "
                 "after `make real-photos` (the comparison needs both runs)")
    with_photos = workflow.learned_methods(P).get(f"ours_{P['ours']['model']}", {})
    if len(set(with_photos.values())) != 1:
        ap.error("no finished checkpoint of ours from notebook 02: run it (make report) first")
    runs = {"with the training photos (default)": Path(next(iter(with_photos.values())))}
    run_dir = paths.runs_dir() / "benchmarks" / "without_training_photos"
    ckpt = run_dir / "best.pt"
    done = (run_dir / "summary.json").exists() and ckpt.exists() and \
        (run_dir / "summary.json").stat().st_mtime >= ckpt.stat().st_mtime
    if args.retrain or not done:
        view = without_photos_view(processed, paths.runs_dir() / "benchmarks" / "without_training_photos_data")
        summary = workflow.train(workflow.ours_config(P), view, run_dir, progress=True)
        print(f"trained without the training photos: {summary['steps']:,} steps, {summary['minutes']:.1f} minutes")
    runs["without them"] = ckpt
    graded = {"validation": validation_sets(), **({"test": test_sets()} if args.test else {})}
    out, rows = {}, []
    for run, path in runs.items():
        model, _ = model_from_checkpoint(path, device)
        for kind, sets in graded.items():
            for set_name, frames in sets.items():
                for blur in (b for b in frames if b != "sharp"):
                    r = grade(model, frames, blur, device)
                    out.setdefault(run, {}).setdefault(set_name, {})[blur] = r
                    rows.append([run, set_name, blur, f"{r['psnr_db']:.2f}", f"{r['gain_db']:+.2f}",
                                 f"{r['worst_gain_db']:+.2f}", r["frames_harmed"], f"{r['log_error_mean']:+.3f}"])
    print("\nPSNR dB (identical frames count as 100 dB)\n")
    print(markdown_table(["run", "set", "blur", "PSNR", "gain vs nothing", "worst frame", "frames > 0.5 dB below",
                          "log sigma error (mean)"], rows))
    if args.json:
        write_json_atomic(args.json, json_safe(out))
        print(f"\nwritten to {args.json}")
    return out


if __name__ == "__main__":
    main()
