"""The blind Wiener network's sigma estimate: small MLPs read the radially binned log power spectrum of
192x192 tiles (a Gaussian blur bends it down as exp(-4 pi^2 sigma^2 f^2); uint8 rounding adds a flat
floor), and a quantile of the tiles' estimates stands for the frame. A quantile, not an extreme: it
means the same on a frame of 8 tiles and on a photo of thousands.
"""
from __future__ import annotations

import math

import torch
from torch import nn

CHUNK_TILES = 64  # tiles through the MLPs at a time


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

    def estimate(self, x: torch.Tensor, quantile: float = 0.5,
                 low_quantile: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(the tiles' ``quantile``, their ``low_quantile``) of the tiles' estimates, each (B,); 0.5 is the
        median, 0 the sharpest tile."""
        with torch.autocast(x.device.type, enabled=False):  # float32 even under AMP: the gate reads it to 0.01
            log_sigma = self.tile_log_sigma(x.float())
        return tile_quantile(log_sigma, quantile).exp(), tile_quantile(log_sigma, low_quantile).exp()

    def whole(self, h: int, w: int) -> bool:
        """Whether an h x w image is read whole, as one tile: no larger than a tile, or narrower than one."""
        t = self.tile
        return h <= t and w <= t or h < t or w < t

    def tile_boxes(self, h: int, w: int) -> list[tuple[int, int]]:
        """The top-left corners of the tiles an h x w image is read on (side ``tile``, overlapping by half;
        the last row and column flush with the border); [(0, 0)] for an image read ``whole``."""
        t = self.tile
        if self.whole(h, w):
            return [(0, 0)]
        ys = sorted({min(y, h - t) for y in range(0, h - t // 2, t // 2)})
        xs = sorted({min(x_, w - t) for x_ in range(0, w - t // 2, t // 2)})
        return [(y, x_) for y in ys for x_ in xs]

    def tile_log_sigma(self, x: torch.Tensor, chunk: int = CHUNK_TILES) -> torch.Tensor:
        """log sigma_hat of every tile (the heads' mean), (B, tiles); one "tile" (the whole image) when it is
        no larger than one. The tiles go through the MLPs ``chunk`` at a time: a 24-megapixel photo has
        thousands of them."""
        b, c, h, w = x.shape
        t = self.tile
        if self.whole(h, w):
            return self.head_log_sigma(x).mean(1, keepdim=True)
        boxes = self.tile_boxes(h, w)
        if b * len(boxes) <= chunk:  # a frame's few tiles: one batch
            tiles = torch.stack([x[..., y:y + t, x_:x_ + t] for y, x_ in boxes], 1).reshape(-1, c, t, t)
            return self.head_log_sigma(tiles).mean(1).reshape(b, -1)
        out = [self.head_log_sigma(torch.stack([x[:, :, y:y + t, x_:x_ + t] for y, x_ in boxes[i:i + chunk]], 1)
                                   .reshape(-1, c, t, t)).mean(1).reshape(b, -1)
               for i in range(0, len(boxes), chunk)]
        return torch.cat(out, 1)


def tile_quantile(log_sigma: torch.Tensor, q: float) -> torch.Tensor:
    """The ``q`` quantile of each row of tile estimates (B, tiles), the lower of two neighbours (so a
    value some tile read): 0 the sharpest tile, 0.5 the median. A quantile means the same on a frame
    of 8 tiles and on a photo of thousands, where the sharpest tile would read ever sharper."""
    if q == 0.5:
        return log_sigma.median(1).values
    if q == 0.0:
        return log_sigma.min(1).values
    return torch.quantile(log_sigma, q, dim=1, interpolation="lower")
