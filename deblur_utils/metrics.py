"""The course metric and the no-learning baselines.

Input convention (the course's grading script): both images are read as uint8
RGB arrays, PSNR is ``skimage.metrics.peak_signal_noise_ratio(sharp, pred)``
with the data range of uint8 (255), no border crop, on all three channels;
per-image values are averaged with equal weight. Identical images have an
infinite PSNR: summaries count those and average the finite ones, and say so.
SSIM is scikit-image's ``structural_similarity`` on the same uint8 arrays
(channel_axis=-1, data_range=255).

>>> import numpy as np
>>> a = np.zeros((4, 4, 3), np.uint8); b = a.copy(); b[0, 0, 0] = 255
>>> round(psnr_db(a, b), 2)   # MSE = 255^2 / 48  ->  10 log10(48)
16.81
"""
from __future__ import annotations

import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.restoration import richardson_lucy, wiener

from .blur import gaussian_kernel_2d, get_preset
from .frames import available_cpus
from .imageio import ImageReadError, list_images, read_rgb

COURSE_LINE = "Average PSNR between corresponding images: {} dB"


def map_frames(fn, frames, workers: int | None = None) -> list:
    """``[fn(f) for f in frames]``, a thread per core. The classical deconvolutions and SSIM spend their time
    in numpy's and scipy's FFTs and filters, which release the GIL: on 2 cores Richardson-Lucy runs
    1.8x faster. Results come back in order and are the same as one thread's."""
    frames = list(frames)
    workers = min(workers or available_cpus(), len(frames))
    if workers <= 1:
        return [fn(f) for f in frames]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, frames))


def _check_pair(sharp, pred):
    if sharp.dtype != np.uint8 or pred.dtype != np.uint8:
        raise ValueError(f"the course metric compares uint8 images, got {sharp.dtype} and {pred.dtype}")
    if sharp.shape != pred.shape:
        raise ValueError(f"image shapes differ: sharp {sharp.shape} vs deblurred {pred.shape}")


def psnr_db(sharp_uint8: np.ndarray, pred_uint8: np.ndarray) -> float:
    """PSNR in dB of one uint8 image against its sharp original; inf when identical."""
    _check_pair(sharp_uint8, pred_uint8)
    with warnings.catch_warnings(), np.errstate(divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(peak_signal_noise_ratio(sharp_uint8, pred_uint8))


def ssim(sharp_uint8: np.ndarray, pred_uint8: np.ndarray) -> float:
    _check_pair(sharp_uint8, pred_uint8)
    return float(structural_similarity(sharp_uint8, pred_uint8, channel_axis=-1, data_range=255))


def summarize(psnrs, ssims=None) -> dict:
    """Mean PSNR over images with a finite PSNR, the image count and how many were infinite (identical)."""
    psnrs = [float(p) for p in psnrs]
    finite = [p for p in psnrs if math.isfinite(p)]
    out = {
        "psnr_db": float(np.mean(finite)) if finite else None,
        "ssim": float(np.mean(ssims)) if ssims else None,
        "n_images": len(psnrs),
        "n_infinite": len(psnrs) - len(finite),
    }
    return out


def describe(summary: dict, short: bool = False) -> str:
    """The mean PSNR and, when there are any, how many images were identical (infinite PSNR).

    ``short`` gives a table cell ("31.20 (2 inf)"), otherwise a sentence.
    """
    n, n_inf, mean = summary["n_images"], summary["n_infinite"], summary["psnr_db"]
    if mean is None:
        return f"inf (all {n} identical)" if short else f"all {n} images identical to the sharp ones (PSNR infinite)"
    if short:
        return f"{mean:.2f}" + (f" ({n_inf} inf)" if n_inf else "")
    text = f"{mean:.2f} dB over {n - n_inf} images"
    if n_inf:
        text += f" ({n_inf} identical images, infinite PSNR, left out of the mean)"
    return text


def paired_files(pred_dir, sharp_dir) -> list[tuple[Path, Path]]:
    """Match deblurred to sharp images by relative path (extension ignored); errors name what is missing."""
    pred_dir, sharp_dir = Path(pred_dir), Path(sharp_dir)
    sharp = {p.with_suffix("").as_posix(): p for p in list_images(sharp_dir, "sharp folder")}
    pred = {p.with_suffix("").as_posix(): p for p in list_images(pred_dir, "deblurred folder")}
    missing = sorted(set(sharp) - set(pred))
    extra = sorted(set(pred) - set(sharp))
    if missing or extra:
        lines = [f"{pred_dir} and {sharp_dir} do not hold the same images:"]
        if missing:
            lines.append(f"  {len(missing)} sharp image(s) have no deblurred copy, e.g. {sharp[missing[0]]}")
        if extra:
            lines.append(f"  {len(extra)} deblurred image(s) have no sharp original, e.g. {pred[extra[0]]}")
        lines.append("  Name each deblurred PNG like its sharp original (same relative path).")
        raise FileNotFoundError("\n".join(lines))
    return [(pred_dir / pred[k], sharp_dir / sharp[k]) for k in sorted(sharp)]


def evaluate_dirs(pred_dir, sharp_dir, with_ssim=True) -> dict:
    """The course's grading of a folder of deblurred PNGs against the sharp ones, per image then mean."""
    pairs = paired_files(pred_dir, sharp_dir)

    def grade(pair):
        pred_path, sharp_path = pair
        pred, sharp = read_rgb(pred_path), read_rgb(sharp_path)
        if pred.shape != sharp.shape:
            raise ImageReadError(f"{pred_path}: size {pred.shape[1]}x{pred.shape[0]} differs from the sharp "
                                 f"{sharp_path} ({sharp.shape[1]}x{sharp.shape[0]}): deblur at full size")
        return psnr_db(sharp, pred), ssim(sharp, pred) if with_ssim else None

    graded = map_frames(grade, pairs)  # SSIM's filters release the GIL: a thread per core
    psnrs = [g[0] for g in graded]
    out = summarize(psnrs, [g[1] for g in graded] if with_ssim else None)
    out["per_image"] = dict(zip((str(sharp_path.relative_to(sharp_dir)) for _, sharp_path in pairs), psnrs))
    return out


# --- classical non-blind baselines: told the true kernel -------------------------------------

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
