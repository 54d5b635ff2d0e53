"""The blind Wiener network: estimate the blur, deconvolve it, then let a CNN clean up.

Not told which blur it sees, the model works in three steps, then guards against harm:

1. **Estimate sigma** (``SpectralSigma``): the image's radially averaged log power spectrum (a
   Gaussian blur bends it down as exp(-4 pi^2 sigma^2 f^2); uint8 rounding adds a flat floor) goes
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
over ``gate_width``. A frame that preset a's 8-bit blur maps onto itself comes back unchanged
(``keep_fixed``) while its sharpest tile reads below ``keep_below``: such a frame is its own best
explanation. The gate reads the sharpest tile (a blur of the whole frame softens every tile, so the
sharpest bounds it from above); the deconvolution takes the tiles' ``sigma_quantile``, so that a
soft region (a defocused background, a sky) is not read as a blur of the frame. Frames that share
one blur (``one_sigma``) each read the tiles' ``set_quantile`` instead: the median over the set
already discounts a photo soft before any blur, so each frame's reading need not err low. The
thresholds of the default parameter set come from ``benchmarks/gate.py --thresholds`` on validation
frames; the measurements behind each choice are in docs/method.md and docs/results_history.md.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..data.blur import kernel_size_for_sigma
from ..data.blur_torch import blur_valid_q8, otf_q8
from .layers import ResBlock

SIGMA_GRID = np.round(np.arange(0.15, 3.0001, 0.025), 4)  # the Wiener layer's sigmas; the estimate is clamped here
GRID_STEP = 0.025


class SpectralSigma(nn.Module):
    """sigma_hat (B,) from the radially binned log power spectrum (``bins`` rings up to the corner frequency).

    It trains on square crops of side ``tile``; a larger image is cut into tiles of that size
    (overlapping by half) and the estimate is the median over tiles, so the window and the
    spectral resolution at test time are those it learned on.

    ``heads`` MLPs, initialised independently and each trained on its own loss, read the same
    spectrum; a tile's estimate is the mean of their log sigma. With a dozen training photos many
    functions fit the spectra seen in training and each extrapolates to a new photo's differently:
    that choice, fixed by the seed, moved single frames' estimates by 2-5% from seed to seed, and
    preset b's PSNR with them (a 4% underestimate costs ~0.7 dB). The ensemble averages it out.
    """

    def __init__(self, bins: int = 64, hidden: int = 64, tile: int = 192, heads: int = 1):
        super().__init__()
        if not (isinstance(heads, int) and heads >= 1):
            raise ValueError(f"est_heads must be a whole number >= 1 (MLPs averaged in log sigma), got {heads!r}")
        self.bins, self.tile, self.heads = bins, tile, heads

        def mlp():
            return nn.Sequential(nn.Linear(bins, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, hidden),
                                 nn.ReLU(inplace=True), nn.Linear(hidden, 1))

        self.mlp = mlp()  # head 0 keeps its name: checkpoints of one head load unchanged
        self.more = nn.ModuleList(mlp() for _ in range(heads - 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        g = x - x.mean((2, 3), keepdim=True)
        win = torch.hann_window(h, periodic=False, device=x.device)[:, None] * \
            torch.hann_window(w, periodic=False, device=x.device)[None]
        power = (torch.fft.rfft2(g * win).abs() ** 2).mean(1) / (win ** 2).sum()
        fy = torch.fft.fftfreq(h, device=x.device)[:, None]
        fx = torch.fft.rfftfreq(w, device=x.device)[None]
        ring = (torch.sqrt(fy ** 2 + fx ** 2) / math.sqrt(0.5) * self.bins).long().clamp(max=self.bins - 1).flatten()
        sums = torch.zeros(b, self.bins, device=x.device).index_add_(1, ring, power.flatten(1))
        count = torch.zeros(self.bins, device=x.device).index_add_(0, ring, torch.ones_like(ring, dtype=x.dtype))
        return torch.log10(sums / count.clamp(min=1) + 1e-12) + 8.0  # ~centred: the rounding floor is ~1e-6

    def head_log_sigma(self, x: torch.Tensor) -> torch.Tensor:
        """log sigma_hat of every head for images no larger than one tile (the training crops), (B, heads)."""
        with torch.autocast(x.device.type, enabled=False):
            f = self.features(x.float())
            return torch.cat([self.mlp(f), *(m(f) for m in self.more)], 1)

    def loss(self, x: torch.Tensor, sigma: torch.Tensor, tau: float = 0.5) -> torch.Tensor:
        """Training loss: each head's own on crops no larger than a tile (so the heads stay independent),
        the estimate's on larger images; the pinball loss at quantile ``tau`` of log sigma, scaled so
        that 0.5 is the mean |log sigma_hat - log sigma| (a head then learns the median of what a
        spectrum leaves possible). Below 0.5 a head learns a lower quantile: it reads low by as much
        as the spectrum leaves the blur uncertain (a photo soft before any blur reads as a blur, and
        over-sharpening costs more than under-sharpening) and by little where the spectrum is clear."""
        if x.shape[-1] <= self.tile and x.shape[-2] <= self.tile:
            d = self.head_log_sigma(x) - sigma.log()[:, None]
        else:
            d = self(x).log() - sigma.log()
        return (2 * torch.maximum(-tau * d, (1 - tau) * d)).mean()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """sigma_hat (B,): the median over tiles."""
        return self.estimate(x)[0]

    def estimate(self, x: torch.Tensor, quantile: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
        """(the tiles' ``quantile``, the smallest) of the tiles' estimates, each (B,); 0.5 is the median."""
        with torch.autocast(x.device.type, enabled=False):  # float32 even under AMP: the gate reads it to 0.01
            log_sigma = self.tile_log_sigma(x.float())
        low = (log_sigma.median(1).values if quantile == 0.5 else
               torch.quantile(log_sigma, quantile, dim=1, interpolation="lower"))
        return low.exp(), log_sigma.min(1).values.exp()

    def tile_log_sigma(self, x: torch.Tensor) -> torch.Tensor:
        """log sigma_hat of every tile (the heads' mean), (B, tiles); one "tile" (the whole image) when it is
        no larger than one."""
        b, c, h, w = x.shape
        t = self.tile
        if h <= t and w <= t or h < t or w < t:
            return self.head_log_sigma(x).mean(1, keepdim=True)
        ys = sorted({min(y, h - t) for y in range(0, h - t // 2, t // 2)})
        xs = sorted({min(x_, w - t) for x_ in range(0, w - t // 2, t // 2)})
        tiles = torch.stack([x[..., y:y + t, x_:x_ + t] for y in ys for x_ in xs], 1).reshape(-1, c, t, t)
        return self.head_log_sigma(tiles).mean(1).reshape(b, -1)


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

    def forward(self, x: torch.Tensor, sigmas: list) -> list:
        """Deconvolve ``x`` (B, C, H, W) once per entry of ``sigmas`` (each a (B,) tensor)."""
        _, _, h, w = x.shape
        m = min(self.pad, h - 1, w - 1)
        xp = F.pad(x, (m, m, m, m), mode="reflect") if m else x
        hp, wp = xp.shape[-2:]
        gy, gx = self._otfs(hp, False, x.device), self._otfs(wp, True, x.device)
        fy = torch.fft.fftfreq(hp, device=x.device)[:, None]
        fx = torch.fft.rfftfreq(wp, device=x.device)[None]
        lap2 = (4 - 2 * torch.cos(2 * math.pi * fy) - 2 * torch.cos(2 * math.pi * fx)) ** 2
        spectrum = torch.fft.rfft2(xp)
        balance = self.log_balance.exp()
        out = []
        for sigma in sigmas:
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
                 views: int = 1, set_quantile: float = 0.5):
        super().__init__()
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
        if gate_on not in ("sharpest_tile", "median_tile"):
            raise ValueError(f"gate_on must be 'sharpest_tile' (the gate reads the smallest tile estimate) or "
                             f"'median_tile' (the same estimate as the deconvolution), got {gate_on!r}")
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

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | None = None, views: int | None = None) -> torch.Tensor:
        """``sigma``: the blur of each frame (training, ``GivenSigma``), else the model's own estimate;
        ``views``: the refiner's views averaged at inference (None: the model's ``views``)."""
        views = self.views if views is None else views
        if views not in VIEWS:
            raise ValueError(f"views must be one of {sorted(VIEWS)}, got {views!r}")
        gate_sigma, keep = sigma, None
        if sigma is None and self.use_gate and self.keep_fixed:
            keep = self.fixed_points(x)
        if sigma is None and self.fixed_sigma is None:
            sigma, sharpest = self.estimator.estimate(x, self.sigma_quantile)
            gate_sigma = sharpest if self.gate_on == "sharpest_tile" else sigma
        elif sigma is None:
            sigma = gate_sigma = torch.full((len(x),), float(self.fixed_sigma), device=x.device)
        sigma = sigma.to(x.dtype)
        sigmas = [sigma * (1 - self.spread), sigma, sigma * (1 + self.spread)]
        if self.use_gate:
            sigmas.append(torch.full_like(sigma, self.floor_sigma))
        lo, mid, hi, *floor = self.wiener(x, sigmas)
        y = mid
        if self.refine:
            inputs = [x, lo, mid, hi]
            if self.luma:  # Rec. 601 luma in, one correction added to R, G and B alike
                w = x.new_tensor([0.299, 0.587, 0.114])[None, :, None, None]
                inputs = [(t * w).sum(1, keepdim=True) for t in inputs]
            y = mid + self._refine(torch.cat(inputs, 1), sigma, views)
        if not self.use_gate:
            return y
        y = floor[0] + self.gate(gate_sigma.to(x.dtype))[:, None, None, None] * (y - floor[0])
        if keep is None:
            return y
        keep = keep & (gate_sigma < self.keep_below)
        return torch.where(keep[:, None, None, None], x.to(y.dtype), y)



class GivenSigma(nn.Module):
    """A blind Wiener network given the true sigma of its input's blur in place of its own estimate.

    The same checkpoint and the same no-harm rules, read on the true sigma: the gate, and a frame
    that preset a's 8-bit blur maps onto itself comes back unchanged when the sigma is below
    ``keep_below``. Graded beside the blind model (notebook 04's ``..._true_sigma`` row), the
    difference is what the blur estimate costs, at no training cost. ``views``: the refiner's views
    averaged (None: the model's own ``views``), without touching the wrapped model, which other
    rows share.
    """

    def __init__(self, model: BlindWienerNet, sigma: float, views: int | None = None):
        super().__init__()
        if not isinstance(model, BlindWienerNet) or not model.blind:
            raise ValueError("GivenSigma wraps a blind Wiener network (model: blind_wiener without fixed_sigma)")
        if views is not None and views not in VIEWS:
            raise ValueError(f"views must be one of {sorted(VIEWS)} or None (the model's own), got {views!r}")
        self.model, self.sigma, self.views = model, float(sigma), views

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        y = m(x, sigma=torch.full((len(x),), self.sigma, device=x.device), views=self.views)
        if m.use_gate and m.keep_fixed and self.sigma < m.keep_below:
            y = torch.where(m.fixed_points(x)[:, None, None, None], x.to(y.dtype), y)
        return y


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
