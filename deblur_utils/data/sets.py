"""Set A / Set B on disk and the split by sequence.

Layout (see ``runtime.paths``)::

    <processed>/sharp/<seq>/<frame>.png       Set A: frames resized to 256x448
    <processed>/blur_<p>/<seq>/<frame>.png    Set B: one folder per blur preset
    <processed>/splits.json                   {"train": [seq...], "val": [...], "test": [...]}

A *sequence* is a frame's parent folder relative to the data root (REDS-style
``<seq>/<frame>.png``); in a flat folder each image is its own sequence. The uint8 cache the training
reads is ``cache.py``'s; the paired dataset ``dataset.py``'s.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import json
import multiprocessing
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..runtime import paths
from ..runtime.atomic import DiskFullError, check_space, free_bytes, gb, remove_temporaries, write_json_atomic
from ..runtime.parallel import available_cpus
from .blur import get_preset
from .frames import FRAME_HEIGHT, FRAME_WIDTH, prepare_frame
from .imageio import ImageReadError, list_images, scan_folder

SPLIT_NAMES = ("train", "val", "test")
PNG_FRACTION = 0.5  # a frame's PNG over its raw bytes, measured 0.52 on camera frames (benchmarks/faults.py): a
#                    disk with less is refused up front; one that fills up anyway stops cleanly (DiskFullError)


def sequence_of(rel_path: Path) -> str:
    """The sequence a frame belongs to: its folder, or its own name in a flat folder."""
    rel_path = Path(rel_path)
    return rel_path.parent.as_posix() if rel_path.parent != Path(".") else rel_path.stem


@dataclass
class PrepareSummary:
    """What prepare_sets did: counts, and every file it skipped with the reason."""

    n_frames: int = 0
    written: int = 0
    already_done: int = 0
    skipped: list = field(default_factory=list)  # (raw file, why): unreadable frames
    ignored: list = field(default_factory=list)  # files of the raw folder that are no pictures
    frames: list = field(default_factory=list)  # relative paths of the frames in Set A

    def __str__(self):
        lines = [f"{self.n_frames} frames: {self.written} files written, {self.already_done} already done"]
        if self.skipped:
            lines.append(f"{len(self.skipped)} input files skipped:")
            lines += [f"  {p}: {why}" for p, why in self.skipped]
        if self.ignored:
            lines.append(f"{len(self.ignored)} files that are no pictures ignored: "
                         + ", ".join(map(str, self.ignored[:5])) + (" ..." if len(self.ignored) > 5 else ""))
        return "\n".join(lines)

    def record(self) -> dict:
        """What the data manifest keeps of it: the frames skipped (and why) and the files ignored."""
        return {"frames": self.n_frames, "skipped": [{"file": str(p), "why": why} for p, why in self.skipped],
                "ignored": [str(p) for p in self.ignored]}


def prepare_sets(raw_dir, processed_dir, presets=("a", "b", "c"), height=FRAME_HEIGHT, width=FRAME_WIDTH,
                 on_bad_image="skip", max_sequences=None, max_frames_per_sequence=None,
                 progress=True, workers: int | None = None, recipe: str | None = None) -> PrepareSummary:
    """Write Set A (resized sharp frames) and Set B (one blurred copy per preset) as uint8 PNG.

    Idempotent and interrupt-safe: each PNG is written atomically, a frame whose files all exist is
    skipped, so a rerun finishes what an interrupted run left (and deletes the temporary files a kill
    left). A disk too small is refused before anything is written, and one that fills up all the same
    stops with DiskFullError naming the folder, the space needed and the space free. Files of the raw
    folder that are no pictures are listed (``ignored``), unreadable ones skipped and listed.
    ``on_bad_image``: "skip" (default; listed in the summary) or "error".
    ``workers``: processes that decode, resize, blur and write frames (None: every core this
    process may use; 1: all in this process). Frames are handed out in order and the summary
    lists them in order, whatever the number of workers. ``recipe``: how generated raw frames were
    cut (``embedded.RECIPE``), kept with the settings so that frames of two recipes never mix.
    """
    if on_bad_image not in ("skip", "error"):
        raise ValueError(f"on_bad_image must be 'skip' or 'error', got {on_bad_image!r}")
    if workers is not None and not (isinstance(workers, int) and workers >= 1):
        raise ValueError(f"prepare_workers must be a whole number >= 1 or null (every core), got {workers!r}")
    presets = [get_preset(p) for p in presets]
    processed_dir = Path(processed_dir)
    images = list_images(raw_dir, "raw data folder")
    frames = select_frames(images, max_sequences, max_frames_per_sequence)
    _check_settings(processed_dir, {"raw_dir": str(Path(raw_dir).resolve()), "height": height, "width": width,
                                    "max_sequences": max_sequences, "max_frames_per_sequence": max_frames_per_sequence,
                                    **({"recipe": recipe} if recipe else {})})
    names = [None] + [p.name for p in presets]
    jobs = [(str(Path(raw_dir) / rel),
             [str(paths.sharp_dir(processed_dir) / rel.with_suffix(".png"))] +
             [str(paths.blur_dir(p.name, processed_dir) / rel.with_suffix(".png")) for p in presets],
             names, height, width) for rel in frames]
    summary = PrepareSummary(ignored=[Path(raw_dir) / p for p in scan_folder(raw_dir)[1]])
    for folder in [paths.sharp_dir(processed_dir)] + [paths.blur_dir(p.name, processed_dir) for p in presets]:
        remove_temporaries(folder, ".*.png.*.tmp")  # what a killed run was writing: rewritten whole below
    missing = sum(not os.path.exists(t) for _, targets, *_ in jobs for t in targets)
    needed = int(missing * height * width * 3 * PNG_FRACTION)
    check_space(processed_dir, needed, f"Set A and Set B ({missing:,} PNGs of {width}x{height} still to write)")
    workers = min(workers or available_cpus(), max(1, len(jobs) // 8))  # a handful of frames: no pool
    try:
        with _frame_results(jobs, workers) as results:
            for rel, (raw, *_), (written, done, err) in zip(
                    frames, jobs, tqdm(results, total=len(jobs), desc="Set A/B", disable=not progress, unit="frame")):
                if err is not None:
                    if on_bad_image == "error":
                        raise ImageReadError(f"{err.rstrip('.')}, or set on_bad_image='skip' to leave it out.")
                    summary.skipped.append((raw, err.split(": ", 1)[-1]))
                    continue
                summary.n_frames += 1
                summary.written += written
                summary.already_done += done
                summary.frames.append(rel.with_suffix(".png"))
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
        raise DiskFullError(f"the disk filled up in {processed_dir} while writing Set A and Set B: about "
                            f"{gb(needed)} was needed for {missing:,} PNGs, {gb(free_bytes(processed_dir))} is free "
                            "now. Free space (or set DEBLUR_WORKDIR to a larger disk) and rerun: the frames written "
                            "are kept, none is left half-written.") from None
    if summary.n_frames == 0:
        raise FileNotFoundError(f"no readable image in {raw_dir}:\n{summary}")
    return summary


@contextlib.contextmanager
def _frame_results(jobs, workers: int):
    """``prepare_frame`` over ``jobs``, in order: in this process, or in ``workers`` spawned processes
    (spawn, not fork: a notebook's process has torch's threads running, and the workers need only
    numpy and Pillow). Leaving early (an error) cancels what has not started."""
    if workers <= 1:
        yield map(prepare_frame, jobs)
        return
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool.map(prepare_frame, jobs, chunksize=max(1, min(16, len(jobs) // (workers * 8))))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _check_settings(processed_dir: Path, settings: dict) -> None:
    """One processed folder, one source and size: refuse to mix frames made with other settings."""
    path = processed_dir / "settings.json"
    if path.exists():
        before = json.loads(path.read_text())
        if before != settings:
            diff = {k: (before.get(k), v) for k, v in settings.items() if before.get(k) != v}
            raise ValueError(
                f"{processed_dir} was built with other settings {diff} (before, now). Set A/B would mix "
                "frames of both: delete that folder (`make clean`) or set DEBLUR_WORKDIR to another folder.")
    else:
        write_json_atomic(path, settings)


def select_frames(frames, max_sequences=None, max_frames_per_sequence=None):
    """A subset for quick runs: the first sequences, the first frames of each (sorted, so reproducible)."""
    by_seq: dict[str, list] = {}
    for rel in frames:
        by_seq.setdefault(sequence_of(rel), []).append(rel)
    seqs = sorted(by_seq)[: max_sequences or None]
    return [f for s in seqs for f in by_seq[s][: max_frames_per_sequence or None]]


def make_splits(sequences, val_fraction=0.15, test_fraction=0.15, seed=0, fixed=None) -> dict:
    """Split by sequence, never by frame: neighbouring frames are near-duplicates and would leak.

    ``fixed``: a ready {"train", "val", "test"} mapping (the embedded default's), filtered to what exists.
    Otherwise sequences are shuffled with ``seed``; val and test get at least one each (fraction > 0).
    """
    sequences = sorted(set(sequences))
    if fixed is not None:
        return {k: [s for s in fixed[k] if s in sequences] for k in SPLIT_NAMES}
    for name, frac in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= frac < 1:
            raise ValueError(f"{name} must be in [0, 1), got {frac}")
    if val_fraction + test_fraction >= 1:
        raise ValueError("val_fraction + test_fraction must leave sequences for training (sum < 1)")
    order = sequences[:]
    random.Random(seed).shuffle(order)
    n = len(order)
    n_test = max(1 if test_fraction > 0 else 0, round(n * test_fraction))
    n_val = max(1 if val_fraction > 0 else 0, round(n * val_fraction))
    if n - n_test - n_val < 1:
        raise ValueError(f"only {n} sequence(s): need at least {n_test + n_val + 1} to split train/val/test "
                         "by sequence (a flat folder counts each image as its own sequence)")
    return {"test": sorted(order[:n_test]), "val": sorted(order[n_test:n_test + n_val]),
            "train": sorted(order[n_test + n_val:])}


def save_splits(processed_dir, splits) -> Path:
    path = paths.splits_path(processed_dir)
    write_json_atomic(path, splits)
    return path


def load_splits(processed_dir) -> dict:
    path = paths.splits_path(processed_dir)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run notebook 01 (or `python -m deblur_utils prepare`) first")
    return json.loads(path.read_text())


def split_frames(processed_dir, split: str) -> list[Path]:
    """Relative paths (<seq>/<frame>.png) of Set A frames in one split, sorted."""
    if split not in SPLIT_NAMES:
        raise ValueError(f"unknown split {split!r}: choose one of {SPLIT_NAMES}")
    seqs = set(load_splits(processed_dir)[split])
    return [f for f in list_images(paths.sharp_dir(processed_dir), "Set A folder") if sequence_of(f) in seqs]
