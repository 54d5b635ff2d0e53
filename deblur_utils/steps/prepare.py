"""Notebook 01: the raw frames (the embedded photos when no ``raw_dir`` is given), Set A, Set B, the
split by sequence, the real-photo sets, and the data manifest. Safe to rerun: every file it finds
made with the same settings is kept."""
from __future__ import annotations

import json

from ..data import embedded, real_photos
from ..data.sets import make_splits, prepare_sets, save_splits, sequence_of
from ..params import Params
from ..runtime import paths
from ..runtime.atomic import write_json_atomic


def prepare(P: Params, progress=True) -> dict:
    """Build the embedded raw frames (when no raw_dir is given), Set A, Set B, the split, the real-photo
    test and validation sets and data/processed/manifest.json (where every photo comes from)."""
    processed = paths.processed_dir()
    trained_on = {"photos": [], "missing": []}
    if P.raw_dir is None:
        raw = paths.embedded_raw_dir()
        embedded.build_embedded_raw(raw, P.frames_per_sequence, P.frame_height, P.frame_width)
        fixed = dict(embedded.SPLITS)
        if P.training_photos:
            trained_on = real_photos.write_training_sequences(raw, P.training_views_per_photo, P.frame_height,
                                                              P.frame_width)
            fixed["train"] = fixed["train"] + [r["sequence"] for r in trained_on["photos"]]
            if trained_on["missing"]:
                print(f"note: {len(trained_on['missing'])} of the recipe's training photos are not here "
                      f"({', '.join(sorted({p.package for p in real_photos.TRAIN_PHOTOS}))}): training goes on "
                      "without them and the report says its numbers are below the recipe's. "
                      "`make real-photos` unpacks them where apt-get exists.")
    else:
        raw, fixed = paths.resolve(P.raw_dir), None
    summary = prepare_sets(raw, processed, P.presets, P.frame_height, P.frame_width, P.on_bad_image,
                           P.max_sequences, P.max_frames_per_sequence, progress=progress, workers=P.prepare_workers,
                           recipe=embedded.RECIPE if P.raw_dir is None else None)
    seqs = {sequence_of(f) for f in summary.frames}
    splits = make_splits(seqs, P.val_fraction, P.test_fraction, P.split_seed, fixed)
    save_splits(processed, splits)
    real = real_val = None
    if P.real_photos:
        real, real_val = (real_photos.build(P.real_frames_per_photo, P.frame_height, P.frame_width,
                                            max_photos=P.real_max_photos, progress=progress, which=which)
                          for which in ("test", "val"))
    manifest = {"training_validation_test": embedded.manifest() + trained_on["photos"] if P.raw_dir is None else
                [{"folder": str(raw), "note": "the user's own frames"}],
                "training_photos_missing": trained_on["missing"],
                "raw_frames": summary.record(),
                "real_photo_test_set": real["photos"] if real else None,
                "real_photo_validation_set": real_val["photos"] if real_val else None}
    write_json_atomic(paths.manifest_path(), manifest)
    return {"raw_dir": str(raw), "processed_dir": str(processed), "summary": summary, "splits": splits,
            "real_photos": real, "real_photos_val": real_val, "manifest": manifest}


def training_photos_missing() -> list:
    """The recipe's training photos (``training_photos``) that notebook 01 did not find, from the data
    manifest: a model trained without them is below the recipe's, and the report says so."""
    path = paths.manifest_path()
    if not path.exists():
        return []
    return json.loads(path.read_text()).get("training_photos_missing") or []
