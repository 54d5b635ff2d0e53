"""Set A / Set B on disk, the split by sequence, the uint8 cache and the paired dataset.

Layout (see paths.py)::

    <processed>/sharp/<seq>/<frame>.png       Set A: frames resized to 256x448
    <processed>/blur_<p>/<seq>/<frame>.png    Set B: one folder per blur preset
    <processed>/splits.json                   {"train": [seq...], "val": [...], "test": [...]}
    <processed>/cache/<split>_<set>.npy       uint8 (N, H, W, 3), memory-mapped

A *sequence* is a frame's parent folder relative to the data root (REDS-style
``<seq>/<frame>.png``); in a flat folder each image is its own sequence.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import multiprocessing
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import paths
from .atomic import replacing, write_json_atomic
from .blur import get_preset
from .frames import FRAME_HEIGHT, FRAME_WIDTH, available_cpus, prepare_frame
from .imageio import ImageReadError, list_images, read_rgb

SPLIT_NAMES = ("train", "val", "test")


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
    skipped: list = field(default_factory=list)
    frames: list = field(default_factory=list)  # relative paths of the frames in Set A

    def __str__(self):
        lines = [f"{self.n_frames} frames: {self.written} files written, {self.already_done} already done"]
        if self.skipped:
            lines.append(f"{len(self.skipped)} input files skipped:")
            lines += [f"  {p}: {why}" for p, why in self.skipped]
        return "\n".join(lines)


def prepare_sets(raw_dir, processed_dir, presets=("a", "b", "c"), height=FRAME_HEIGHT, width=FRAME_WIDTH,
                 on_bad_image="skip", max_sequences=None, max_frames_per_sequence=None,
                 progress=True, workers: int | None = None) -> PrepareSummary:
    """Write Set A (resized sharp frames) and Set B (one blurred copy per preset) as uint8 PNG.

    Idempotent and interrupt-safe: each PNG is written atomically, a frame whose
    files all exist is skipped, so a rerun finishes what an interrupted run left.
    ``on_bad_image``: "skip" (default; listed in the summary) or "error".
    ``workers``: processes that decode, resize, blur and write frames (None: every core this
    process may use; 1: all in this process). Frames are handed out in order and the summary
    lists them in order, whatever the number of workers.
    """
    if on_bad_image not in ("skip", "error"):
        raise ValueError(f"on_bad_image must be 'skip' or 'error', got {on_bad_image!r}")
    if workers is not None and not (isinstance(workers, int) and workers >= 1):
        raise ValueError(f"prepare_workers must be a whole number >= 1 or null (every core), got {workers!r}")
    presets = [get_preset(p) for p in presets]
    processed_dir = Path(processed_dir)
    frames = select_frames(list_images(raw_dir, "raw data folder"), max_sequences, max_frames_per_sequence)
    _check_settings(processed_dir, {"raw_dir": str(Path(raw_dir).resolve()), "height": height, "width": width,
                                    "max_sequences": max_sequences, "max_frames_per_sequence": max_frames_per_sequence})
    names = [None] + [p.name for p in presets]
    jobs = [(str(Path(raw_dir) / rel),
             [str(paths.sharp_dir(processed_dir) / rel.with_suffix(".png"))] +
             [str(paths.blur_dir(p.name, processed_dir) / rel.with_suffix(".png")) for p in presets],
             names, height, width) for rel in frames]
    summary = PrepareSummary()
    workers = min(workers or available_cpus(), max(1, len(jobs) // 8))  # a handful of frames: no pool
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


def _fingerprint(files) -> str:
    h = hashlib.sha1()
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _read_frame(path) -> np.ndarray:
    try:
        return read_rgb(path)
    except ImageReadError as err:
        raise ImageReadError(f"{str(err).rstrip('.')}: a damaged Set A/B frame. Delete it and rerun "
                             "notebook 01 (prepare), which rewrites missing frames.") from None


def _write_cache(npy: Path, files, desc: str) -> None:
    """Decode PNGs one by one into a memory-mapped .npy (no RAM spike), then rename it into place."""
    first = _read_frame(files[0])
    with replacing(npy, suffix=".npy") as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(files), *first.shape))
        for i, f in enumerate(tqdm(files, desc=desc, unit="frame", leave=False, disable=len(files) < 200)):
            img = first if i == 0 else _read_frame(f)
            if img.shape != first.shape:
                raise ValueError(f"{f} is {img.shape[1]}x{img.shape[0]}, not {first.shape[1]}x{first.shape[0]} "
                                 "like the other frames: delete it and rerun notebook 01 to rewrite it")
            arr[i] = img
        arr.flush()
        del arr


def load_cached(processed_dir, split: str, presets=("a", "b", "c"), max_frames=None) -> dict:
    """uint8 arrays (N, H, W, 3) for Set A ("sharp") and each preset of Set B, memory-mapped.

    Built on first use from the PNGs and rebuilt when any of them changes (size or
    mtime), so training never decodes a PNG per step.
    """
    processed_dir = Path(processed_dir)
    rels = split_frames(processed_dir, split)[: max_frames or None]
    if not rels:
        raise ValueError(f"split {split!r} of {processed_dir} has no frames: check splits.json or the subset sizes")
    names = ["sharp"] + [get_preset(p).name for p in presets]
    folders = [paths.sharp_dir(processed_dir)] + [paths.blur_dir(n, processed_dir) for n in names[1:]]
    files = [[folder / r for r in rels] for folder in folders]
    for name, fs in zip(names, files):
        missing = [f for f in fs if not f.exists()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} frame(s) of Set {'A' if name == 'sharp' else 'B (' + name + ')'} are missing, "
                f"first {missing[0]}: rerun notebook 01 (prepare) to write them")
    cache = paths.cache_dir(processed_dir)
    key = f"{split}_{len(rels)}"
    meta_path = cache / f"{key}.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    out = {}
    for name, fs in zip(names, files):
        npy = cache / f"{key}_{name}.npy"
        fp = _fingerprint(fs)  # each array's own files: asking for other presets rebuilds nothing
        if meta.get(name) != fp or not npy.exists():
            _write_cache(npy, fs, f"cache {split} {name}")
            meta[name] = fp
            write_json_atomic(meta_path, meta)
        out[name] = np.load(npy, mmap_mode="r")
    out["files"] = rels
    return out


class PairedFrames(torch.utils.data.Dataset):
    """Each sharp frame paired with each of its blurred versions, as the original loader did.

    Item ``i`` is frame ``i // P`` under preset ``i % P``: ``(blurred, sharp, preset_index)``,
    uint8 tensors (3, H, W), RGB: a quarter of float32's bytes through collation, pinned memory and
    the host-to-device copy; the training device turns them into [0, 1] floats
    (``accel.Speed.to_device``). The blurred input is the uint8 Set B
    frame, so the model sees exactly what it is graded on. With ``crop_size`` each
    item is a random crop with random flips (training); without, the whole frame.
    An item may be asked for as ``(i, seed)`` (what ``EpochOrder`` yields): the crop and
    flips then come from that seed alone, the same in any worker process and after a resume.
    """

    def __init__(self, arrays: dict, presets=("a", "b", "c"), crop_size=None, augment=False):
        self.sharp = arrays["sharp"]
        self.names = [get_preset(p).name for p in presets]
        self.blurred = [arrays[n] for n in self.names]
        n, h, w = self.sharp.shape[:3]
        if crop_size is not None and (crop_size > h or crop_size > w):
            raise ValueError(f"crop_size {crop_size} is larger than the {h}x{w} frames: use at most {min(h, w)}")
        self.crop_size, self.augment = crop_size, augment

    def __len__(self):
        return len(self.sharp) * len(self.names)

    def __getitem__(self, i):
        i, seed = i if isinstance(i, tuple) else (i, None)
        gen = None if seed is None else torch.Generator().manual_seed(seed)
        f, p = divmod(int(i), len(self.names))
        blurred, sharp = self.blurred[p][f], self.sharp[f]
        if self.crop_size:
            h, w = sharp.shape[:2]
            y = int(torch.randint(0, h - self.crop_size + 1, (), generator=gen))
            x = int(torch.randint(0, w - self.crop_size + 1, (), generator=gen))
            blurred = blurred[y:y + self.crop_size, x:x + self.crop_size]
            sharp = sharp[y:y + self.crop_size, x:x + self.crop_size]
        pair = [torch.from_numpy(np.array(a)).permute(2, 0, 1) for a in (blurred, sharp)]  # own, writable copies
        if self.augment:
            if torch.rand((), generator=gen) < 0.5:
                pair = [t.flip(-1) for t in pair]
            if torch.rand((), generator=gen) < 0.5:
                pair = [t.flip(-2) for t in pair]
        return pair[0], pair[1], p


class EpochOrder(torch.utils.data.Sampler):
    """One epoch's items as ``(index, item_seed)``: a pure function of (seed, epoch), resumable mid-way.

    ``n_draws`` items of ``range(n_items)``: a permutation, or draws with ``replacement`` (random
    patches, ``epoch_samples``). Each item carries its own seed for its crop and flips, so the data a
    step sees depends on nothing but (seed, epoch, position): not on the global RNG, the number of
    workers, or whether the run was interrupted. ``start`` skips the first items (those already done).
    """

    def __init__(self, n_items: int, n_draws: int, seed: int, epoch: int, replacement: bool = False, start: int = 0):
        if not replacement and n_draws > n_items:
            raise ValueError(f"an epoch without replacement has at most {n_items} items, asked for {n_draws}")
        self.n_items, self.n_draws, self.replacement = n_items, n_draws, replacement
        self.seed, self.epoch, self.start = seed, epoch, start

    def order(self) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % 2**63)
        idx = (torch.randint(self.n_items, (self.n_draws,), generator=gen) if self.replacement
               else torch.randperm(self.n_items, generator=gen)[:self.n_draws])
        return idx, torch.randint(2**62, (self.n_draws,), generator=gen)

    def __iter__(self):
        idx, seeds = self.order()
        for i in range(self.start, self.n_draws):
            yield int(idx[i]), int(seeds[i])

    def __len__(self):
        return max(0, self.n_draws - self.start)
