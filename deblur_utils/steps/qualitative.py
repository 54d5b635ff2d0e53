"""Notebook 05: the very PNGs notebook 04 graded, and the test frames to show."""
from __future__ import annotations

import numpy as np

from ..data.cache import load_cached
from ..data.imageio import read_rgb
from ..data.sets import sequence_of
from ..params import Params
from ..runtime import paths


def load_prediction(method: str, preset: str, rel) -> np.ndarray:
    """The uint8 PNG that notebook 04 graded for this method, preset and frame."""
    return read_rgb(paths.predictions_dir() / method / preset / rel)


def pick_frames(P: Params, k: int = 1) -> list:
    """``k`` test frames, one per test sequence first (spread over photos), deterministic."""
    test = load_cached(paths.processed_dir(), "test", P.presets, P.test_max_frames)
    seen, picked = set(), []
    for i, rel in enumerate(test["files"]):
        if sequence_of(rel) not in seen:
            seen.add(sequence_of(rel))
            picked.append(i)
    return [(test["files"][i], np.asarray(test["sharp"][i])) for i in picked[:k]]
