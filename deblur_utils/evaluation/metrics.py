"""The course metric.

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
from pathlib import Path

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ..data.imageio import ImageReadError, list_images, read_rgb
from ..runtime.parallel import map_frames

COURSE_LINE = "Average PSNR between corresponding images: {} dB"


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


def _grey(rgb: np.ndarray) -> bool:
    """Whether a frame read as RGB holds grey levels only (its three channels equal)."""
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


def _by_name(folder: Path, what: str) -> dict:
    """{relative path without its suffix: relative path} of the images below ``folder``; two images that
    differ only in their suffix ("a.png" and "a.jpg") are refused, since either could be the one graded."""
    out: dict = {}
    for p in list_images(folder, what):
        key = p.with_suffix("").as_posix()
        if key in out:
            raise ValueError(f"{what} {folder} holds both {out[key]} and {p}: images are paired by name without "
                             "the suffix; keep one of them")
        out[key] = p
    return out


def paired_files(pred_dir, sharp_dir) -> list[tuple[Path, Path]]:
    """Match deblurred to sharp images by relative path (extension ignored); errors name what is missing."""
    pred_dir, sharp_dir = Path(pred_dir), Path(sharp_dir)
    sharp = _by_name(sharp_dir, "sharp folder")
    pred = _by_name(pred_dir, "deblurred folder")
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
    """The course's grading of a folder of deblurred PNGs against the sharp ones, per image then mean:
    ``summarize``'s keys, and ``per_image`` / ``per_image_ssim``, {relative path: value} in file order."""
    pairs = paired_files(pred_dir, sharp_dir)

    def grade(pair):
        pred_path, sharp_path = pair
        pred, sharp = read_rgb(pred_path), read_rgb(sharp_path)
        if pred.shape != sharp.shape:
            raise ImageReadError(f"{pred_path}: size {pred.shape[1]}x{pred.shape[0]} differs from the sharp "
                                 f"{sharp_path} ({sharp.shape[1]}x{sharp.shape[0]}): deblur at full size")
        return psnr_db(sharp, pred), ssim(sharp, pred) if with_ssim else None, _grey(pred) != _grey(sharp)

    graded = map_frames(grade, pairs)  # SSIM's filters release the GIL: a thread per core
    psnrs, ssims = [g[0] for g in graded], [g[1] for g in graded] if with_ssim else None
    out = summarize(psnrs, ssims)
    mixed = [pred for (pred, _), g in zip(pairs, graded) if g[2]]
    out["notes"] = [f"{len(mixed)} image(s) grey on one side and colour on the other, e.g. {mixed[0]}: compared "
                    "as RGB, the grey one repeated on three channels"] if mixed else []
    names = [str(sharp_path.relative_to(sharp_dir)) for _, sharp_path in pairs]
    out["per_image"] = dict(zip(names, psnrs))
    out["per_image_ssim"] = dict(zip(names, ssims)) if with_ssim else None
    return out


def grade_arrays(sharp_uint8, pred_uint8, with_ssim=True) -> tuple[list, list | None]:
    """Per-frame PSNR and SSIM (None without ``with_ssim``) of uint8 frames (N, H, W, 3) against their
    sharp originals, as ``evaluate_dirs`` grades the same frames written as PNGs (PNG is lossless)."""
    pairs = list(zip(np.asarray(sharp_uint8), np.asarray(pred_uint8)))
    psnrs = [psnr_db(s, q) for s, q in pairs]
    return psnrs, (map_frames(lambda sq: ssim(*sq), pairs) if with_ssim else None)
