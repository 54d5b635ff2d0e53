"""A training run's recipe: ``TrainConfig``, the losses, the learning-rate schedule, the device.

**A recipe is its number of optimiser steps**, ``epochs`` x steps per epoch: the learning-rate
schedule runs over those steps, so the same seed gives the same model on a fast CPU, a slow one or a
GPU; a slower machine only takes longer. ``max_minutes`` is a safety cap (a Kaggle/Colab session
that ends), never part of the recipe.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ..data.blur import get_preset
from ..runtime import accel


@dataclass
class TrainConfig:
    """Every knob of one training run. The defaults are the original report's recipe."""

    model: str = "srcnn"
    model_kwargs: dict = field(default_factory=lambda: {"width": 64})
    presets: list = field(default_factory=lambda: ["a", "b", "c"])
    epochs: int = 50
    batch_size: int = 2
    lr: float = 1e-4
    loss: str = "mse"              # mse, l1, charbonnier, psnr
    optimizer: str = "adam"        # adam, adamw
    weight_decay: float = 0.0
    warmup_steps: int = 0          # linear warm-up, then cosine decay to 0 over the recipe's steps
    cosine: bool = False
    grad_clip: float | None = None
    ema_decay: float | None = None
    crop_size: int | None = None   # None: whole frames
    epoch_samples: int | None = None
    max_minutes: float | None = None  # safety cap only: the recipe is epochs x steps per epoch
    train_max_frames: int | None = None
    val_max_frames: int | None = None
    device: str = "auto"
    seed: int = 0
    num_workers: int = 0
    # Threads of a single-process CPU run: fixed, so the sums of a step are the same on any machine
    # (numerics.py); 0 or None: torch's default (every core; faster there, the last bits differ).
    cpu_threads: int | None = 2
    resume: bool = False           # continue from run_dir/last.pt (or last.prev.pt when last.pt is unreadable)
    checkpoint_every_steps: int | None = None   # also save last.pt mid-epoch every N steps ...
    checkpoint_every_minutes: float | None = 10.0  # ... and every M minutes (a cut-off session loses at most M)
    # Speed (accel.py): "auto" = bf16/fp16 autocast on CUDA (float32 on the CPU); channels_last on CUDA and the CPU.
    amp: str = "auto"              # auto, bf16, fp16 (with loss scaling), off
    channels_last: str = "auto"    # auto, on, off
    compile: bool = False          # torch.compile the model
    # best.pt is chosen by: val_psnr_db (course metric, all presets), val_loss, or "last" (the final
    # weights, validated each epoch but not picked by a validation split too small to rank them)
    select_on: str = "val_psnr_db"
    # What the model trains on: "sets" = the Set B PNGs of ``presets``; "continuum" = crops of Set A
    # blurred on the device with a fresh sigma each (a preset with ``preset_fraction``, else uniform in
    # ``sigma_range``), quantised exactly like Set B. Needs crop_size.
    blur_sampling: str = "sets"
    sigma_range: list = field(default_factory=lambda: [0.25, 2.4])
    preset_fraction: float = 0.3
    sigma_law: str = "uniform"     # "log": uniform in log sigma, as many mild blurs (0.4-0.6) as strong ones
    # The presets the continuum draws with ``preset_fraction`` (None: every preset). The blind Wiener
    # network's output at preset a is its fixed floor, whatever its weights (the no-harm gate is shut
    # there), so its refiner learns nothing from a preset-a crop; its estimator draws every preset still.
    continuum_presets: list | None = None
    # Blind Wiener model only: the deconvolution trains on the true sigma times exp(N(0, sigma_jitter)), so
    # it learns to live with an estimate that is off; the estimator trains on its own batch of larger crops.
    sigma_jitter: float = 0.05
    estimator_batch: int = 16  # crops of the estimator's own tile size (model_kwargs est_tile)
    estimator_vary_content: bool = False  # zoom out and rescale contrast of the estimator's crops (sampling.py)
    # The estimator's own sigma draw (None: as the deconvolution's). Presets drawn often pull ambiguous
    # mild blurs (0.4-0.6) towards preset a's 0.3, so the estimator may see fewer presets and a log law.
    estimator_sigma_law: str | None = None
    estimator_preset_fraction: float | None = None
    # The quantile of log sigma the estimator's pinball loss aims at: 0.5, the median (mean absolute
    # error); lower, a low reading where a spectrum leaves the blur uncertain (blind.SpectralSigma.loss).
    estimator_tau: float = 0.5

    def __post_init__(self):
        check = [("epochs", self.epochs, 1), ("batch_size", self.batch_size, 1)]
        for name, value, low in check:
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {list(LOSSES)}, got {self.loss!r}")
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"optimizer must be 'adam' or 'adamw', got {self.optimizer!r}")
        if self.crop_size is not None and (not isinstance(self.crop_size, int) or self.crop_size < 8):
            raise ValueError(f"crop_size must be null (whole frames) or an integer >= 8, got {self.crop_size!r}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1) or null, got {self.ema_decay!r}")
        if self.select_on not in ("val_psnr_db", "val_loss", "last"):
            raise ValueError(f"select_on must be 'val_psnr_db', 'val_loss' or 'last', got {self.select_on!r}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be > 0 or null, got {self.max_minutes!r}")
        t = self.cpu_threads
        if t is not None and (isinstance(t, bool) or not isinstance(t, int) or t < 0):
            raise ValueError(f"cpu_threads must be an integer >= 1, or 0 or null for every core, got {t!r}")
        n = self.checkpoint_every_steps
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"checkpoint_every_steps must be an integer >= 1 or null, got {n!r}")
        m = self.checkpoint_every_minutes
        if m is not None and not (isinstance(m, (int, float)) and m > 0):
            raise ValueError(f"checkpoint_every_minutes must be > 0 or null, got {m!r}")
        accel.check(self.amp, self.channels_last)
        if not (isinstance(self.estimator_tau, (int, float)) and 0 < self.estimator_tau < 1):
            raise ValueError(f"estimator_tau must be in (0, 1) (0.5: the median of log sigma), got {self.estimator_tau!r}")
        if self.blur_sampling not in ("sets", "continuum"):
            raise ValueError(f"blur_sampling must be 'sets' or 'continuum', got {self.blur_sampling!r}")
        if self.continuum_presets is not None:
            if isinstance(self.continuum_presets, str) or not isinstance(self.continuum_presets, (list, tuple)) \
                    or not self.continuum_presets:
                raise ValueError(f"continuum_presets must be a non-empty list of preset names (e.g. [b, c]) or "
                                 f"null (every preset), got {self.continuum_presets!r}")
            for p in self.continuum_presets:
                try:
                    get_preset(p)
                except ValueError as e:
                    raise ValueError(f"continuum_presets: {e}") from None
        if self.blur_sampling == "continuum" and self.crop_size is None:
            raise ValueError("blur_sampling='continuum' trains on crops: set crop_size (e.g. 64)")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown training parameter(s) {unknown}; known: {sorted(names)}")
        return cls(**d)


def charbonnier(pred, target, eps=1e-3):
    return torch.sqrt((pred - target) ** 2 + eps * eps).mean()


def psnr_loss(pred, target, eps=1e-5):
    """Minus the mean per-image PSNR in dB, each capped at 50 dB: the course metric itself, as a loss.

    Averaging log-MSE per image weighs a 1% error on a lightly blurred crop as much as on a heavily
    blurred one, where MSE or L1 let the heavy blurs' large errors dominate. The cap (eps = MSE of
    1e-5, 50 dB) keeps near-perfect crops from taking over the gradient. A model that starts from
    the identity (plain residual nets) stays pinned there with this loss: use it with the blind
    Wiener network, whose starting point is a deconvolution.
    """
    mse = ((pred - target) ** 2).flatten(1).mean(1)
    return (10.0 * torch.log10(mse + eps)).mean()


LOSSES = {"mse": nn.functional.mse_loss, "l1": nn.functional.l1_loss, "charbonnier": charbonnier,
          "psnr": psnr_loss}


def pick_device(device: str = "auto") -> torch.device:
    """cuda, then mps, then cpu for 'auto'; a named device that is not there is refused with the fix."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} but no CUDA GPU is visible to torch {torch.__version__}: "
                           "use device='auto' or 'cpu', or turn the notebook's GPU accelerator on")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError(f"device={device!r} but Apple MPS is not available: use device='auto' or 'cpu'")
    return dev


def lr_factor(step: int, progress: float, cfg: TrainConfig) -> float:
    """Linear warm-up over ``warmup_steps``, then (if ``cosine``) cosine decay over ``progress``, the
    fraction of the recipe's steps done (never of the time cap: the schedule must not depend on the CPU)."""
    warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    decay = 0.5 * (1 + math.cos(math.pi * min(1.0, progress))) if cfg.cosine else 1.0
    return warm * max(decay, 0.02)
