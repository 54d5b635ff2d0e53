"""Frames of one photo at a chosen sharpness: views of height x width reduced from the original by a
downscale factor, never enlarged.

A frame reduced 3x from a photo holds three times finer detail per pixel than one cut at the photo's
own scale; the course's frames are 720p video reduced 2.86x. The blur estimate learns what "sharp"
looks like from its training frames, so both what it trains on and what it is judged on span a
ladder of factors (``benchmarks/estimator.py``; ``real_photos.write_training_sequences``).
"""
from __future__ import annotations

import numpy as np
from PIL import Image

# Where the views of one photo sit, as fractions of the room left around the crop (top, left): the
# centre first, then spread over the photo. Deterministic.
PLACES = ((0.5, 0.5), (0.25, 0.3), (0.75, 0.7), (0.3, 0.75), (0.7, 0.25), (0.5, 0.1), (0.5, 0.9))


def fits(shape, factor: float, height: int, width: int) -> bool:
    """Whether a photo of ``shape`` (h, w, ...) holds a view reduced ``factor`` times to height x width."""
    return factor >= 1 and round(height * factor) <= shape[0] and round(width * factor) <= shape[1]


def boxes(shape, factor: float, n: int, height: int, width: int) -> list[tuple[int, int, int, int]]:
    """Up to ``n`` crop boxes (top, left, crop height, crop width) of height*factor x width*factor, spread
    over the photo (``PLACES``); [] when the photo is smaller than one (a view is never enlarged)."""
    if not fits(shape, factor, height, width):
        return []
    h, w = shape[:2]
    ch, cw = round(height * factor), round(width * factor)
    out = []
    for fy, fx in PLACES[:n]:
        box = (round((h - ch) * fy), round((w - cw) * fx), ch, cw)
        if box not in out:  # a photo just the crop's size has one place
            out.append(box)
    return out


def reduce(photo_uint8: np.ndarray, box, height: int, width: int) -> np.ndarray:
    """The crop ``box`` reduced to height x width, uint8: Lanczos, antialiased (the real-photo sets'
    reduction); a crop already that size is returned as it is."""
    y, x, ch, cw = box
    crop = np.ascontiguousarray(photo_uint8[y:y + ch, x:x + cw])
    if (ch, cw) == (height, width):
        return crop
    return np.asarray(Image.fromarray(crop).resize((width, height), Image.Resampling.LANCZOS, reducing_gap=None))


def views(photo_uint8: np.ndarray, factor: float, n: int, height: int = 256, width: int = 448) -> list[np.ndarray]:
    """``boxes`` of the photo reduced to height x width frames."""
    return [reduce(photo_uint8, b, height, width) for b in boxes(photo_uint8.shape, factor, n, height, width)]


def spread(shape, n: int, height: int = 256, width: int = 448) -> list[tuple[int, int, int, int]]:
    """``n`` crop boxes of one photo spread over the ladder: factors evenly spaced in log from 1 (the
    photo's own pixels) to the whole photo's reduction, each at its own place (``PLACES``); fewer when the
    photo holds fewer distinct views, [] when it is smaller than one frame."""
    top = min(shape[0] / height, shape[1] / width)
    if top < 1 or n < 1:
        return []
    out = []
    for k in range(n):
        places = boxes(shape, top ** (k / (n - 1)) if n > 1 else top, len(PLACES), height, width)
        box = places[k % len(places)]
        if box not in out:
            out.append(box)
    return out
