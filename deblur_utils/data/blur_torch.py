"""The blur on the training device, and the blur's transfer function, in torch.

``blur_valid_q8`` blurs a batch with a different Gaussian per image, each exactly as
``blur.blur_uint8`` (and so OpenCV's 8-bit ``GaussianBlur``) does: the Q8 kernel of
``blur.gaussian_kernel_q8``, integer sums, one rounding. Float32 holds every partial sum
exactly (at most 255 * 256 * 256 < 2**24), so the result is bit-identical on CPU and GPU.
Training blurs sharp crops on the fly with it, so a model can learn a continuum of blurs
from the same inputs it is graded on (uint8-quantised), without a Set B per sigma.

``otf_q8`` is the same kernel's frequency response, used by the Wiener layer of the
blind model.

>>> import numpy as np
>>> from deblur_utils.data.blur import blur_uint8
>>> img = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
>>> pad = np.pad(img, ((3, 3), (3, 3), (0, 0)), mode="reflect")   # reflect-101, like OpenCV
>>> x = torch.from_numpy(pad).permute(2, 0, 1)[None].float()
>>> out = blur_valid_q8(x, [1.0])[0].permute(1, 2, 0).to(torch.uint8).numpy()
>>> bool((out == blur_uint8(img, "b")).all())
True
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch.nn import functional as F

from .blur import gaussian_kernel_q8, kernel_size_for_sigma


@lru_cache(maxsize=4096)
def _taps(sigma: float) -> tuple:
    return tuple(int(v) for v in gaussian_kernel_q8(kernel_size_for_sigma(sigma), sigma))


def q8_taps(sigmas, size: int | None = None) -> torch.Tensor:
    """(B, size) float taps in 1/256 units, each kernel ``kernel_size_for_sigma`` wide, centred and
    zero-padded to ``size`` (default: the widest), so one grouped convolution serves the batch."""
    taps = [_taps(round(float(s), 6)) for s in sigmas]
    size = size or max(len(t) for t in taps)
    out = torch.zeros(len(taps), size)
    for i, t in enumerate(taps):
        off = (size - len(t)) // 2
        out[i, off:off + len(t)] = torch.tensor(t, dtype=torch.float32)
    return out


def margin_for(sigmas) -> int:
    """Pixels a crop loses on each side under ``blur_valid_q8`` (the widest kernel's radius)."""
    return max(kernel_size_for_sigma(float(s)) for s in sigmas) // 2


def blur_valid_q8(sharp: torch.Tensor, sigmas) -> torch.Tensor:
    """Blur (B, C, H, W) grey levels 0..255 (float or uint8), image i with sigma ``sigmas[i]``.

    'Valid' convolution: the output is smaller by ``2 * margin_for(sigmas)`` in each dimension,
    so give crops with that margin of real context (or a reflect-101 pad at a frame border).
    Returns float grey levels, already rounded like OpenCV's 8-bit blur (integers 0..255).
    """
    b, c, h, w = sharp.shape
    if len(sigmas) != b:
        raise ValueError(f"blur_valid_q8: {len(sigmas)} sigmas for a batch of {b} images")
    taps = q8_taps(sigmas).to(sharp.device)
    k = taps.shape[1]
    if k > h or k > w:
        raise ValueError(f"blur_valid_q8: crops of {h}x{w} are smaller than the {k}x{k} kernel")
    x = sharp.float().reshape(1, b * c, h, w)
    wts = taps.repeat_interleave(c, 0)
    x = F.conv2d(x, wts.view(b * c, 1, 1, k), groups=b * c)
    x = F.conv2d(x, wts.view(b * c, 1, k, 1), groups=b * c)
    x = torch.floor((x + 32768.0) / 65536.0).clamp_(max=255.0)
    return x.view(b, c, h - k + 1, w - k + 1)


def otf_q8(sigma: float, freqs: np.ndarray) -> np.ndarray:
    """The 1-D Q8 kernel's (real, symmetric) frequency response at ``freqs`` (cycles per pixel)."""
    taps = np.array(_taps(round(float(sigma), 6)), np.float64) / 256.0
    j = np.arange(len(taps)) - len(taps) // 2
    return (taps[:, None] * np.cos(2 * np.pi * np.outer(j, np.asarray(freqs)))).sum(0)
