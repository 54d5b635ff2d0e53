"""The uint8 cache of Set A and Set B: one memory-mapped array per split and set, so training and
grading never decode a PNG per step.

    <processed>/cache/<split>_<n>_<set>.npy   uint8 (N, H, W, 3), memory-mapped
    <processed>/cache/<split>_<n>.json        each array's fingerprint (its PNGs' sizes and times)
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..runtime import paths
from ..runtime.atomic import check_space, remove_temporaries, replacing, write_json_atomic
from .blur import get_preset
from .imageio import ImageReadError, read_rgb
from .sets import split_frames


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
    """Decode PNGs one by one into a memory-mapped .npy (no RAM spike), then rename it into place. Its
    bytes are reserved on the disk first (a memory map that meets a full disk would kill the process),
    and a disk too small is refused, naming the folder, the space needed and the space free."""
    first = _read_frame(files[0])
    needed = len(files) * first.nbytes
    check_space(npy.parent, needed, f"the cache {npy.name} ({len(files):,} frames)")
    with replacing(npy, suffix=".npy") as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(files), *first.shape))
        if hasattr(os, "posix_fallocate"):
            with open(tmp, "r+b") as f:
                os.posix_fallocate(f.fileno(), 0, os.path.getsize(tmp))
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
    mtime), so training never decodes a PNG per step. Each array is written whole under a temporary
    name and renamed: a build killed half-way is redone from its first unfinished array, byte for
    byte the same.
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
    remove_temporaries(cache, ".*.npy.*.npy")  # what a killed build was writing: built whole again below
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
