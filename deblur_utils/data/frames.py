"""One raw frame into Set A and Set B: decode, resize, blur, write. Light on purpose (numpy and Pillow,
no torch), so notebook 01's worker processes start in a fraction of a second.

``prepare_frame`` is what each worker runs; ``data.prepare_sets`` hands out the frames, keeps the
progress bar and the summary.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from .blur import blur_uint8, get_preset
from .imageio import ImageReadError, read_rgb, write_png_atomic

FRAME_HEIGHT, FRAME_WIDTH = 256, 448
# Downscaling filter for Set A: Pillow's Lanczos, which low-passes before it samples (no aliasing).
RESAMPLE = Image.Resampling.LANCZOS


def resize_frame(image_uint8: np.ndarray, height=FRAME_HEIGHT, width=FRAME_WIDTH) -> np.ndarray:
    """Resize to height x width (no crop) with Lanczos; returns the input when it already fits."""
    if image_uint8.shape[:2] == (height, width):
        return image_uint8
    return np.asarray(Image.fromarray(image_uint8).resize((width, height), RESAMPLE))


def prepare_frame(job: tuple) -> tuple[int, int, str | None]:
    """Write one frame's Set A file and its Set B files, those that do not exist yet.

    ``job``: (raw path, [Set A target, Set B target per preset], [None, preset names...], height, width).
    Returns (files written, files already there, None) or (0, 0, the reason) for a file that cannot
    be read; every PNG is written atomically, so an interrupted run leaves no half-written frame.
    """
    raw, targets, presets, height, width = job
    missing = [(Path(t), p) for t, p in zip(targets, presets) if not os.path.exists(t)]
    if not missing:
        return 0, len(targets), None
    try:
        sharp = resize_frame(read_rgb(raw), height, width)
    except ImageReadError as err:
        return 0, 0, str(err)
    for target, preset in missing:
        write_png_atomic(target, sharp if preset is None else blur_uint8(sharp, get_preset(preset)))
    return len(missing), len(targets) - len(missing), None

