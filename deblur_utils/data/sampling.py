"""Training batches blurred on the fly: random crops of Set A, each with its own Gaussian.

``ContinuumCrops`` draws, per image, a sigma (one of the course presets, or of ``presets``, with
probability ``preset_fraction``, else drawn from ``sigma_range``, uniformly in sigma or in log sigma
(``sigma_law``); kernel size ``kernel_size_for_sigma``),
cuts a crop with enough real context around it (reflect-101 at frame borders, as the
blur itself uses) and blurs it on the training device with ``blur_torch.blur_valid_q8``:
bit-identical to saving the blurred frame as a PNG and cropping it, so the model learns
on exactly what it is graded on. Nothing is decoded per step (the frames come from the
uint8 cache) and every batch is a pure function of (seed, step), so a resumed run sees
the same batches as an uninterrupted one.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from .blur import PRESETS, get_preset
from .blur_torch import blur_valid_q8, margin_for

PRESET_SIGMAS = tuple(p.sigma for p in PRESETS.values())


def reflect101(idx: np.ndarray, n: int) -> np.ndarray:
    """Indices folded into 0..n-1 the way OpenCV's reflect-101 border does (-1 -> 1, n -> n-2)."""
    period = 2 * n - 2
    idx = np.abs(idx) % period
    return np.where(idx >= n, period - idx, idx)


class ContinuumCrops:
    """Batches (blurred, sharp, sigma) of ``crop`` x ``crop`` patches from uint8 frames (N, H, W, 3)."""

    def __init__(self, sharp_frames, crop: int, sigma_range=(0.25, 2.4), preset_fraction: float = 0.3,
                 seed: int = 0, augment: bool = True, sigma_law: str = "uniform", presets=None):
        self.frames = sharp_frames
        n, h, w = sharp_frames.shape[:3]
        if crop > h or crop > w:
            raise ValueError(f"crop_size {crop} is larger than the {h}x{w} frames: use at most {min(h, w)}")
        lo, hi = sigma_range
        if not 0 < lo <= hi:
            raise ValueError(f"sigma_range must be [low, high] with 0 < low <= high (pixels), got {list(sigma_range)}")
        if not 0 <= preset_fraction <= 1:
            raise ValueError(f"preset_fraction must be in [0, 1], got {preset_fraction!r}")
        if sigma_law not in ("uniform", "log"):
            raise ValueError(f"sigma_law must be 'uniform' or 'log' (uniform in log sigma), got {sigma_law!r}")
        self.crop, self.sigma_range, self.preset_fraction = crop, (lo, hi), preset_fraction
        self.sigma_law = sigma_law
        self.seed, self.augment = seed, augment
        if presets is not None and (isinstance(presets, str) or not len(presets)):
            raise ValueError(f"the presets drawn with preset_fraction must be a non-empty list of preset names "
                             f"({list(PRESETS)}) or null (every preset), got {presets!r}")
        self.preset_sigmas = PRESET_SIGMAS if presets is None else tuple(get_preset(p).sigma for p in presets)

    def sigmas(self, gen: torch.Generator, n: int) -> np.ndarray:
        lo, hi = self.sigma_range
        u = torch.rand(n, generator=gen, dtype=torch.float64)
        u = lo * (hi / lo) ** u if self.sigma_law == "log" else lo + (hi - lo) * u
        pick = torch.randint(0, len(self.preset_sigmas), (n,), generator=gen)
        use_preset = torch.rand(n, generator=gen) < self.preset_fraction
        return np.where(use_preset.numpy(), np.array(self.preset_sigmas)[pick.numpy()], u.numpy())

    def plan(self, step: int, batch_size: int, crop: int, stream: int = 0) -> dict:
        """What batch ``step`` holds: frame index, crop corner, sigma and flips per image (deterministic)."""
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + step) * 8 + stream)
        n, h, w = self.frames.shape[:3]
        return {"sigma": self.sigmas(gen, batch_size),
                "frame": torch.randint(0, n, (batch_size,), generator=gen).numpy(),
                "y": torch.randint(0, h - crop + 1, (batch_size,), generator=gen).numpy(),
                "x": torch.randint(0, w - crop + 1, (batch_size,), generator=gen).numpy(),
                "flips": (torch.rand(batch_size, 2, generator=gen) < 0.5).numpy() & self.augment}

    def batch(self, step: int, batch_size: int, device, crop: int | None = None, stream: int = 0,
              vary_content: bool = False):
        """The batch for ``step`` (deterministic): float tensors in [0, 1] on ``device`` and sigmas (B,).
        ``stream`` gives independent batches for the same step (the estimator's uses 1).

        ``vary_content`` widens the range of content the few training photos offer (for the sigma
        estimator, whose enemy is a photo whose own spectrum looks blurred): each sharp crop is first
        zoomed out by up to 2x (antialiased, so finer detail per pixel) and its contrast scaled by
        0.5-1.35, both rounded back to whole grey levels before the blur.
        """
        crop = crop or self.crop
        plan = self.plan(step, batch_size, crop, stream)
        sig, flips = plan["sigma"], plan["flips"]
        r = margin_for(sig)
        if vary_content:
            big = self._varied(step, stream, plan, crop + 2 * r, device)
        else:  # flipped while cut (free views): the Q8 kernels are symmetric, so blur and flip commute
            crops = np.stack([self._cut(i, y - r, x - r, crop + 2 * r)[::(-1 if fy else 1), ::(-1 if fx else 1)]
                              for i, y, x, (fx, fy) in zip(plan["frame"], plan["y"], plan["x"], flips)])
            big = torch.from_numpy(crops).to(device).permute(0, 3, 1, 2)
            flips = np.zeros_like(flips)  # already applied
        blurred = blur_valid_q8(big, sig)
        sharp = big[..., r:r + crop, r:r + crop].float()
        if flips.any():  # the same flips for the pair
            for k, dims in ((0, (-1,)), (1, (-2,))):
                sel = torch.from_numpy(flips[:, k]).to(device)
                blurred = torch.where(sel[:, None, None, None], blurred.flip(dims), blurred)
                sharp = torch.where(sel[:, None, None, None], sharp.flip(dims), sharp)
        return blurred / 255.0, sharp / 255.0, torch.tensor(sig, dtype=torch.float32, device=device)

    def _cut(self, i: int, y: int, x: int, side: int) -> np.ndarray:
        """side x side pixels of frame i from (y, x), reflect-101 past the frame's border (a plain slice
        inside it, which most crops are)."""
        h, w = self.frames.shape[1:3]
        if y >= 0 and x >= 0 and y + side <= h and x + side <= w:
            return self.frames[i, y:y + side, x:x + side]
        return self.frames[i][np.ix_(reflect101(np.arange(y, y + side), h), reflect101(np.arange(x, x + side), w))]

    def _varied(self, step, stream, plan, side, device) -> torch.Tensor:
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + step) * 8 + stream + 4)
        h, w = self.frames.shape[1:3]
        out = []
        for i in plan["frame"]:
            zoom = 1 + (min(2.0, min(h, w) / side) - 1) * float(torch.rand((), generator=gen))
            src = min(h, w, int(round(side * zoom)))
            y = int(torch.randint(0, h - src + 1, (), generator=gen))
            x = int(torch.randint(0, w - src + 1, (), generator=gen))
            gain = float(torch.empty(()).uniform_(-0.7, 0.3, generator=gen).exp())
            patch = torch.from_numpy(np.ascontiguousarray(self.frames[i][y:y + src, x:x + src])).to(device)
            patch = patch.permute(2, 0, 1)[None].float()
            if src != side:
                patch = F.interpolate(patch, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
            mean = patch.mean()
            out.append(((patch - mean) * gain + mean).round().clamp(0, 255)[0])
        return torch.stack(out)
