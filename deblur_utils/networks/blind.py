"""The blind Wiener network: estimate the blur, deconvolve it, then let a CNN clean up.

Not told which blur it sees, the model works in three steps, then guards against harm:

1. **Estimate sigma** (``estimator.SpectralSigma``): the image's radially averaged log power spectrum
   (a Gaussian blur bends it down as exp(-4 pi^2 sigma^2 f^2); uint8 rounding adds a flat floor) goes
   through small MLPs (``est_heads`` of them, averaged in log sigma) that return sigma, per tile.
2. **Deconvolve** (``WienerLayer``): a Wiener filter with the Q8 kernel's exact transfer function
   (``blur_torch.otf_q8``) and a Laplacian regulariser whose strength is learned per sigma on a fine
   grid; three copies at sigma_hat * (1 - spread), sigma_hat and sigma_hat * (1 + spread), so the CNN
   can correct an estimate that is off. Frames are reflection-padded first, as the blur itself was.
3. **Refine** (a residual ResNet): from the input, the three deconvolutions and a sigma map, predict
   what the middle deconvolution still gets wrong (ringing, lost edges, amplified rounding noise).

**No harm to sharp-enough input.** Preset a (3x3, sigma 0.3) changes a frame by at most a grey level,
and the spectrum cannot tell it from a mild blur on a soft photo, while deconvolving a preset-a frame
with a slightly larger sigma costs tens of dB. So below ``gate_lo`` the output is the Wiener
deconvolution for the smallest preset's kernel (``floor_sigma``), blending into the full output
over ``gate_width``. The floor's regularisation is fixed (``floor_balance``), not learned: in
training, the continuum's milder blurs below the gate go through the floor too, and their errors,
far larger than preset a's, would set its strength (each seed's elsewhere, all far from preset a's
best). A frame that preset a's 8-bit blur maps onto itself comes back unchanged
(``keep_fixed``) while its sharpest tile reads below ``keep_below``: such a frame is its own best
explanation. The gate reads a low quantile of the tiles, ``gate_quantile`` (1/16: the sharpest of a
256x448 frame's 8 tiles; a blur of the whole frame softens every tile, so the sharpest bound it from
above; a quantile, not the minimum, so that a 24-megapixel photo's thousands of tiles read as a
frame's eight do); the deconvolution takes the tiles' ``sigma_quantile``, so that a
soft region (a defocused background, a sky) is not read as a blur of the frame. Frames that share
one blur (``one_sigma``) each read the tiles' ``set_quantile`` instead: the median over the set
already discounts a photo soft before any blur, so each frame's reading need not err low. A model
told a known blur (``GivenSigma``) has nothing to guard against: below the gate its floor is that
blur's own Wiener inverse (``told(..., known=True)``), not preset a's. The
thresholds of the default parameter set come from ``benchmarks/ablation.py gate --thresholds`` on validation
frames; the measurements behind each choice are in docs/method.md and docs/results_history.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..data.blur import kernel_size_for_sigma
from ..data.blur_torch import blur_valid_q8, otf_q8
from .estimator import SpectralSigma
from .layers import ResBlock

SIGMA_GRID = np.round(np.arange(0.15, 3.0001, 0.025), 4)  # the Wiener layer's sigmas; the estimate is clamped here
GRID_STEP = 0.025


class WienerLayer(nn.Module):
    """Per-image Wiener deconvolution with the Q8 Gaussian at any sigma of ``SIGMA_GRID`` (linear
    interpolation between grid filters) and a learned regularisation strength per grid sigma."""

    def __init__(self, pad: int = 16, balance: float = 1e-4):
        super().__init__()
        self.pad = pad
        self.register_buffer("grid", torch.tensor(SIGMA_GRID, dtype=torch.float32))
        self.log_balance = nn.Parameter(torch.full((len(SIGMA_GRID),), math.log(balance)))
        self._otf: dict = {}

    def _otfs(self, n: int, half: bool, device) -> torch.Tensor:
        key = (n, half, str(device))
        if key not in self._otf:
            f = np.fft.rfftfreq(n) if half else np.fft.fftfreq(n)
            self._otf[key] = torch.tensor(np.stack([otf_q8(s, f) for s in SIGMA_GRID]), dtype=torch.float32,
                                          device=device)
        return self._otf[key]

    def forward(self, x: torch.Tensor, sigmas: list, balances: list | None = None) -> list:
        """Deconvolve ``x`` (B, C, H, W) once per entry of ``sigmas`` (each a (B,) tensor); ``balances``: per
        entry, None (the learned strength at that sigma) or a fixed regularisation strength."""
        _, _, h, w = x.shape
        m = min(self.pad, h - 1, w - 1)
        xp = F.pad(x, (m, m, m, m), mode="reflect") if m else x
        hp, wp = xp.shape[-2:]
        gy, gx = self._otfs(hp, False, x.device), self._otfs(wp, True, x.device)
        fy = torch.fft.fftfreq(hp, device=x.device)[:, None]
        fx = torch.fft.rfftfreq(wp, device=x.device)[None]
        lap2 = (4 - 2 * torch.cos(2 * math.pi * fy) - 2 * torch.cos(2 * math.pi * fx)) ** 2
        spectrum = torch.fft.rfft2(xp)
        learned = self.log_balance.exp()
        out = []
        for sigma, fixed in zip(sigmas, balances or [None] * len(sigmas)):
            balance = learned if fixed is None else torch.full_like(learned, float(fixed))
            pos = (sigma.clamp(float(SIGMA_GRID[0]), float(SIGMA_GRID[-1])) - float(SIGMA_GRID[0])) / GRID_STEP
            lo = pos.floor().long().clamp(max=len(SIGMA_GRID) - 2)
            t = (pos - lo)[:, None, None]
            filt = 0.0
            for idx, wt in ((lo, 1 - t), (lo + 1, t)):  # the two grid filters around each image's sigma
                g = gy[idx][:, :, None] * gx[idx][:, None, :]
                filt = filt + wt * g / (g * g + balance[idx][:, None, None] * lap2)
            y = torch.fft.irfft2(spectrum * filt[:, None], s=(hp, wp))
            out.append(y[..., m:m + h, m:m + w])
        return out


def _dihedral(flip_h: bool, flip_v: bool, transpose: bool):
    """A view of an image stack (flips, then a transpose) and the map that turns it back."""
    dims = [d for d, on in ((-1, flip_h), (-2, flip_v)) if on]

    def do(t):
        t = t.flip(dims) if dims else t
        return t.transpose(-1, -2) if transpose else t

    def undo(t):
        t = t.transpose(-1, -2) if transpose else t
        return t.flip(dims) if dims else t
    return do, undo


_ALL_VIEWS = [_dihedral(h, v, t) for t in (False, True) for h, v in ((0, 0), (1, 0), (0, 1), (1, 1))]
VIEWS = {1: _ALL_VIEWS[:1], 2: _ALL_VIEWS[:2], 4: _ALL_VIEWS[:4], 8: _ALL_VIEWS}


class BlindWienerNet(nn.Module):
    """Blind deblurring: ``SpectralSigma`` -> ``WienerLayer`` (3 sigmas) -> residual ResNet refiner -> gate.

    ``forward(x)`` estimates sigma itself; ``forward(x, sigma=...)`` (training) uses the given one.
    ``fixed_sigma`` makes a non-blind model that is told the blur (notebook 03's per-preset models);
    ``refine=False`` and ``gate=False`` switch off the CNN and the no-harm gate (ablations).
    """

    def __init__(self, width: int = 32, blocks: int = 4, spread: float = 0.15, est_hidden: int = 64,
                 gate_lo: float = 0.42, gate_width: float = 0.1, floor_sigma: float = 0.3, refine: bool = True,
                 gate: bool = True, fixed_sigma: float | None = None, est_tile: int = 192,
                 refine_on: str = "rgb", refine_scale: int = 1, gate_on: str = "sharpest_tile", est_heads: int = 1,
                 sigma_quantile: float = 0.5, keep_fixed: bool = True, keep_below: float = 0.8,
                 views: int = 1, set_quantile: float = 0.5, gate_quantile: float = 0.0625,
                 floor_balance: float | None = None):
        super().__init__()
        if floor_balance is not None and not (isinstance(floor_balance, (int, float)) and floor_balance > 0):
            raise ValueError(f"floor_balance must be a positive number (the floor's fixed Wiener regularisation, "
                             f"e.g. 1e-5) or null (learned with the other sigmas), got {floor_balance!r}")
        self.floor_balance = None if floor_balance is None else float(floor_balance)
        if views not in VIEWS:
            raise ValueError(f"views must be one of {sorted(VIEWS)} (the refiner's flipped or transposed views "
                             f"averaged at inference; 1: none), got {views!r}")
        self.views = int(views)
        if not (isinstance(sigma_quantile, (int, float)) and 0 <= sigma_quantile <= 1):
            raise ValueError(f"sigma_quantile must be in [0, 1] (0: the sharpest tile's sigma, 0.5: the median "
                             f"tile's), got {sigma_quantile!r}")
        if not (isinstance(set_quantile, (int, float)) and 0 <= set_quantile <= 1):
            raise ValueError(f"set_quantile must be in [0, 1] (the tiles' quantile of each frame's estimate when a "
                             f"set shares one blur; 0.5: the median tile), got {set_quantile!r}")
        self.sigma_quantile, self.keep_fixed, self.keep_below = float(sigma_quantile), bool(keep_fixed), float(keep_below)
        self.set_quantile = float(set_quantile)
        if not (isinstance(gate_quantile, (int, float)) and 0 <= gate_quantile <= 1):
            raise ValueError(f"gate_quantile must be in [0, 1] (the tiles' quantile the gate reads; 0.0625: the "
                             f"sharpest of a 256x448 frame's 8 tiles), got {gate_quantile!r}")
        self.gate_quantile = float(gate_quantile)
        if gate_on not in ("sharpest_tile", "median_tile"):
            raise ValueError(f"gate_on must be 'sharpest_tile' (the gate reads a low quantile of the tiles, "
                             f"gate_quantile) or 'median_tile' (the same estimate as the deconvolution), got {gate_on!r}")
        self.gate_on = gate_on
        if refine_scale not in (1, 2, 4):
            raise ValueError(f"refine_scale must be 1, 2 or 4 (the refiner works on pixel-unshuffled "
                             f"scale x scale blocks), got {refine_scale!r}")
        self.scale = int(refine_scale)
        if fixed_sigma is not None and not (isinstance(fixed_sigma, (int, float)) and fixed_sigma > 0):
            raise ValueError(f"fixed_sigma must be a positive number (pixels) or null, got {fixed_sigma!r}")
        self.fixed_sigma, self.use_gate = fixed_sigma, gate and fixed_sigma is None
        if refine_on not in ("rgb", "luma"):
            raise ValueError(f"refine_on must be 'rgb' or 'luma' (one correction for all channels), got {refine_on!r}")
        self.luma = refine_on == "luma"
        ch = 1 if self.luma else 3
        self.estimator = SpectralSigma(hidden=est_hidden, tile=est_tile, heads=est_heads)
        self.wiener = WienerLayer()
        self.spread, self.refine = spread, refine
        self.gate_lo, self.gate_width, self.floor_sigma = float(gate_lo), float(gate_width), float(floor_sigma)
        if refine:
            s2 = self.scale ** 2
            self.head = nn.Conv2d(ch * 4 * s2 + 1, width, 3, padding=1)
            self.blocks = nn.Sequential(*[ResBlock(width) for _ in range(blocks)])
            self.tail = nn.Conv2d(width, ch * s2, 3, padding=1)
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    @property
    def blind(self) -> bool:
        return self.fixed_sigma is None

    def gate(self, sigma: torch.Tensor) -> torch.Tensor:
        if not self.use_gate:
            return torch.ones_like(sigma)
        return ((sigma - self.gate_lo) / self.gate_width).clamp(0, 1)

    def _refine(self, z: torch.Tensor, sigma: torch.Tensor, views: int) -> torch.Tensor:
        """The CNN's correction of the Wiener estimate; at inference with ``views`` > 1, the mean of its
        corrections of the flipped (and transposed) stack, each turned back. A Gaussian blur has no
        direction, so every view is an equally good question; averaging their answers cancels part of
        the refiner's own error."""
        if self.training or views == 1:
            return self._refine_view(z, sigma)
        return torch.stack([undo(self._refine_view(do(z), sigma)) for do, undo in VIEWS[views]]).mean(0)

    def _refine_view(self, z: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """One pass of the CNN. With ``scale`` > 1 it works on pixel-unshuffled blocks (scale x scale
        pixels to channels): scale**2 times fewer positions, a wider view."""
        h, w = z.shape[-2:]
        s = self.scale
        if s > 1:
            ph, pw = -h % s, -w % s
            if ph or pw:
                z = F.pad(z, (0, pw, 0, ph), mode="replicate")
            z = F.pixel_unshuffle(z, s)
        smap = sigma[:, None, None, None].expand(-1, 1, *z.shape[-2:])
        r = self.tail(self.blocks(self.head(torch.cat([z, smap], 1))))
        if s > 1:
            r = F.pixel_shuffle(r, s)[..., :h, :w]
        return r

    def fixed_points(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) True where the frame is left unchanged by the mildest blur the model knows (the floor's,
        preset a's 3x3 kernel, 8-bit exactly as Set B). A frame that preset a leaves identical to its
        sharp original is one (a smooth sky, a soft dark interior): deblurring it can only harm it. So is
        a frame under a strong blur (it is smooth), which is why ``forward`` keeps a fixed point only
        when even its sharpest tile reads below ``keep_below``."""
        q = (x.float() * 255.0).round()
        k = kernel_size_for_sigma(self.floor_sigma) // 2
        again = blur_valid_q8(F.pad(q, (k, k, k, k), mode="reflect"), [self.floor_sigma] * len(x))
        return (again == q).flatten(1).all(1)

    def read(self, x: torch.Tensor, fixed: torch.Tensor | None = None) -> Reading:
        """The model's own reading of whole frames x (B, 3, H, W): its estimate, what its gate reads, and
        whether each frame comes back unchanged. ``fixed``: the frames' fixed points when already known
        (a large picture's, found strip by strip)."""
        if self.fixed_sigma is not None:
            told = torch.full((len(x),), float(self.fixed_sigma), device=x.device)
            return Reading(told, told)
        sigma, low = self.estimator.estimate(x, self.sigma_quantile, self.gate_quantile)
        return self.reading(sigma, low if self.gate_on == "sharpest_tile" else sigma, x, fixed)

    def told(self, sigma: float, x: torch.Tensor, fixed: torch.Tensor | None = None, known: bool = False) -> Reading:
        """The reading of frames given one sigma (``GivenSigma``): the deconvolution and the gate at ``sigma``.

        ``known=False`` (an estimate, one sigma per set): the blind model's rules, read on ``sigma``:
        below the gate the floor is preset a's inverse, and a fixed point of preset a's blur comes back
        unchanged while ``sigma`` is below ``keep_below``. ``known=True`` (the blur is known: the user's
        ``--sigma``, the true sigma): the gate protects preset a from a misread blur, and a told blur of
        sigma 0.5 is not a misread preset a, so the floor is the Wiener inverse of ``sigma`` itself, and
        a fixed point comes back unchanged only where ``sigma`` is preset a's or milder. The floor then
        blends into the full output one gate width higher than the blind gate, from ``gate_lo +
        gate_width``: training blends the refiner's output with the floor below that (the gate reads
        the true sigma there), so only above it is the refiner trained at full weight; below it, the
        Wiener inverse alone measured better on the validation frames (``benchmarks/ablation.py
        told``). At preset a's sigma (the floor's) and from ``gate_lo + 2 gate_width`` up the reading
        is the blind rules' own, so the output is theirs bit for bit."""
        told = torch.full((len(x),), float(sigma), device=x.device)
        top = self.gate_lo + self.gate_width
        same = abs(sigma - self.floor_sigma) <= 1e-6 or sigma >= top + self.gate_width - 1e-9
        if not known or same or not self.use_gate:
            return self.reading(told, told, x, fixed)
        reading = self.reading(told, told, x, fixed) if sigma < self.floor_sigma else Reading(told, told)
        return replace(reading, floor=told, opening=((told - top) / self.gate_width).clamp(0, 1))

    def floor_regularisation(self, reading: Reading) -> float | None:
        """The floor's fixed Wiener regularisation, ``floor_balance`` (chosen at preset a), while the floor's
        sigma is preset a's or milder; for a known blur stronger than that, None: the strength the Wiener
        layer holds for that sigma (near its 1e-4 start below the gate; 1e-5 at sigma 0.4-0.6 measured
        0.1-0.7 dB worse on the validation frames, and 5 dB better at preset a)."""
        if reading.floor is None or float(reading.floor.max()) <= self.floor_sigma + 1e-6:  # float32's 0.3
            return self.floor_balance
        return None

    def opening(self, reading: Reading, dtype=None) -> torch.Tensor:
        """How far the gate is open for each frame of ``reading``, in [0, 1] (0: the floor's output), in ``dtype``."""
        if reading.opening is None:
            return self.gate(reading.gate_sigma.to(dtype or reading.gate_sigma.dtype))
        return reading.opening.to(dtype or reading.opening.dtype)

    def reading(self, sigma: torch.Tensor, gate_sigma: torch.Tensor, x: torch.Tensor,
                fixed: torch.Tensor | None = None) -> Reading:
        """A ``Reading``: frames that are fixed points and read below ``keep_below`` are kept as they are."""
        keep = None
        if self.use_gate and self.keep_fixed:
            fixed = self.fixed_points(x) if fixed is None else fixed.to(x.device)
            keep = fixed & (gate_sigma < self.keep_below)
        return Reading(sigma, gate_sigma, keep)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | None = None, views: int | None = None,
                reading: Reading | None = None) -> torch.Tensor:
        """``sigma``: the blur of each frame (training), else the model's own reading (``read``) of x;
        ``reading``: one made beforehand (``GivenSigma``; a large picture read whole, deblurred in tiles);
        ``views``: the refiner's views averaged at inference (None: the model's ``views``)."""
        views = self.views if views is None else views
        if views not in VIEWS:
            raise ValueError(f"views must be one of {sorted(VIEWS)}, got {views!r}")
        if reading is None:
            reading = self.read(x) if sigma is None else Reading(sigma, sigma)
        sigma = reading.sigma.to(x.dtype)
        sigmas = [sigma * (1 - self.spread), sigma, sigma * (1 + self.spread)]
        if self.use_gate:
            sigmas.append(torch.full_like(sigma, self.floor_sigma) if reading.floor is None
                          else reading.floor.to(x.device, x.dtype))
        lo, mid, hi, *floor = self.wiener(x, sigmas, [None, None, None, self.floor_regularisation(reading)])
        y = mid
        if self.refine:
            inputs = [x, lo, mid, hi]
            if self.luma:  # Rec. 601 luma in, one correction added to R, G and B alike
                w = x.new_tensor([0.299, 0.587, 0.114])[None, :, None, None]
                inputs = [(t * w).sum(1, keepdim=True) for t in inputs]
            y = mid + self._refine(torch.cat(inputs, 1), sigma, views)
        if not self.use_gate:
            return y
        y = floor[0] + self.opening(reading, x.dtype)[:, None, None, None] * (y - floor[0])
        if reading.keep is None:
            return y
        return torch.where(reading.keep[:, None, None, None], x.to(y.dtype), y)


@dataclass
class Reading:
    """What a blind Wiener network reads from whole frames before it deblurs any part of them, per frame:
    the sigma its deconvolution uses, the sigma its no-harm gate reads, whether the frame comes back
    unchanged (``keep``; None: no frame is), the sigma of the floor the gate blends from (``floor``;
    None: preset a's, ``floor_sigma``; a known blur's own, ``told(..., known=True)``) and how far the gate
    is open (``opening``; None: ``gate(gate_sigma)``). A large picture is read once, whole, then deblurred
    in tiles that share the reading, so that every tile is deblurred as the whole would be."""

    sigma: torch.Tensor
    gate_sigma: torch.Tensor
    keep: torch.Tensor | None = None
    floor: torch.Tensor | None = None
    opening: torch.Tensor | None = None


class GivenSigma(nn.Module):
    """A blind Wiener network given one sigma for its input's blur in place of its own estimate.

    ``known=True`` (the default): the blur is known, the true sigma or the user's ``deblur --sigma``.
    Graded beside the blind model (notebook 04's ``..._true_sigma`` row), the difference is what the
    blur estimate costs, at no training cost. At preset a and from ``gate_lo + 2 gate_width`` up (0.8
    in the default) the output is the blind model's at that sigma; below ``gate_lo + gate_width`` the
    Wiener inverse of that sigma, blending into the former between the two (``BlindWienerNet.told``),
    where the blind model, unable to tell a mild blur from preset a on a soft photo, keeps preset a's
    inverse.
    ``known=False``: the sigma is an estimate (one sigma per set, ``deblur --one-blur``) and the
    blind model's no-harm rules hold, read on it. ``views``: the refiner's views averaged (None: the
    model's own ``views``), without touching the wrapped model, which other rows share.
    """

    def __init__(self, model: BlindWienerNet, sigma: float, views: int | None = None, known: bool = True):
        super().__init__()
        if not isinstance(model, BlindWienerNet) or not model.blind:
            raise ValueError("GivenSigma wraps a blind Wiener network (model: blind_wiener without fixed_sigma)")
        if views is not None and views not in VIEWS:
            raise ValueError(f"views must be one of {sorted(VIEWS)} or None (the model's own), got {views!r}")
        self.model, self.sigma, self.views, self.known = model, float(sigma), views, bool(known)

    def forward(self, x: torch.Tensor, reading: Reading | None = None) -> torch.Tensor:
        return self.model(x, views=self.views, reading=reading or self.read(x))

    def read(self, x: torch.Tensor, fixed: torch.Tensor | None = None) -> Reading:
        """The reading of frames given this sigma (``BlindWienerNet.told``)."""
        return self.model.told(self.sigma, x, fixed, self.known)


def one_sigma(estimates) -> float:
    """One sigma for frames that share one blur (each preset's folder, the course's grading set): the
    median of the frames' own estimates, in log. The frames' estimates scatter with each photo's own
    sharpness (a photo soft before any blur reads high); their median over a set does not. Each
    frame's estimate is the tiles' ``set_quantile`` (``estimate_sigmas(..., quantile=model.set_quantile)``):
    the per-frame deconvolution's lower quartile reads low on sharp photos, and that bias, shared by
    every frame, is what a median over frames keeps."""
    logs = np.log(np.asarray(estimates, dtype=np.float64))
    if logs.size == 0:
        raise ValueError("one_sigma needs the estimates of at least one frame")
    return float(np.exp(np.median(logs)))
