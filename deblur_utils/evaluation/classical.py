"""The classical methods, non-blind: scikit-image's Wiener filter and Richardson-Lucy, told the true
kernel, on frames padded by reflection; their knob (Wiener's balance, Richardson-Lucy's iteration
count) chosen on validation frames."""
from __future__ import annotations

import numpy as np
from skimage.restoration import richardson_lucy, wiener

from ..data.blur import gaussian_kernel_2d, get_preset
from ..runtime.parallel import map_frames
from .metrics import psnr_db


def pad_width_for(kernel_size: int) -> int:
    """Reflection padding for deconvolution: wide enough that the FFT's wrap-around stays in the pad."""
    return 4 * kernel_size + 8


def _deconvolve(blurred_uint8, preset, fn, dtype=np.float64) -> np.ndarray:
    """Pad by reflection (reflect-101), deconvolve each channel in ``dtype`` [0, 1], crop, round to uint8."""
    p = get_preset(preset)
    psf = gaussian_kernel_2d(p.kernel_size, p.sigma).astype(dtype)
    pad = pad_width_for(p.kernel_size)
    img = np.pad(blurred_uint8.astype(dtype) / dtype(255.0), ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    out = np.stack([fn(img[..., c], psf) for c in range(img.shape[2])], axis=-1)
    out = out[pad:-pad, pad:-pad]
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def wiener_deblur(blurred_uint8: np.ndarray, preset, balance: float) -> np.ndarray:
    """scikit-image's Wiener filter with the true PSF and regularisation ``balance``, reflection-padded."""
    return _deconvolve(blurred_uint8, preset, lambda ch, psf: wiener(ch, psf, balance, clip=True))


def richardson_lucy_deblur(blurred_uint8: np.ndarray, preset, num_iter: int) -> np.ndarray:
    """scikit-image's Richardson-Lucy with the true PSF, ``num_iter`` iterations, reflection-padded.

    In float32 (scikit-image keeps its input's precision): 2.5x faster than float64 on a 256x448
    frame (0.2-0.3 s instead of 0.5-0.7 at 20 iterations, this project's 2-core CPU), and after
    rounding to uint8 within one grey level of it, on about 1 pixel in 30,000 (tests/test_metrics.py)."""
    return _deconvolve(blurred_uint8, preset, lambda ch, psf: richardson_lucy(ch, psf, num_iter=num_iter, clip=True),
                       dtype=np.float32)


CLASSICAL = {"wiener": (wiener_deblur, "balance"), "richardson_lucy": (richardson_lucy_deblur, "num_iter")}


def tune_classical(method: str, blurred_frames, sharp_frames, preset, candidates) -> tuple:
    """Pick the candidate (balance or iteration count) with the best mean PSNR on validation frames.

    Returns (best value, {candidate: mean PSNR dB}). Infinite PSNRs count as 100 dB so a
    candidate that reproduces a frame exactly is never penalised.
    """
    fn, _ = CLASSICAL[method]
    scores = {}
    for value in candidates:
        vals = map_frames(lambda pair: min(psnr_db(pair[1], fn(pair[0], preset, value)), 100.0),
                          zip(blurred_frames, sharp_frames))
        scores[value] = float(np.mean(vals))
    best = max(scores, key=scores.get)
    return best, scores


def beyond_grid(grid, best, scores: dict, flat_db: float = 0.01) -> bool:
    """Whether the tuned optimum may lie beyond the grid: ``best`` is at one of its ends and scores more
    than ``flat_db`` over its neighbour there. A score that has gone flat at the end (Wiener's balance
    on preset a, where below 1e-8 the filter is the exact inverse) has nothing left beyond it."""
    ends = sorted(grid)
    if len(ends) < 2 or best not in (ends[0], ends[-1]):
        return False
    neighbour = ends[1] if best == ends[0] else ends[-2]
    return scores[best] - scores[neighbour] > flat_db
