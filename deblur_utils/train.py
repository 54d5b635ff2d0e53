"""The training loop: devices, recipe, budgets, validation, checkpoints, resume.

One function, ``train(cfg, processed_dir, run_dir)``, trains one model on the
paired dataset and leaves in ``run_dir``::

    config.json    the TrainConfig
    history.json   per epoch: train loss, val loss, val PSNR (dB), minutes, step
    last.pt        everything needed to continue exactly (model, optimiser, EMA, RNG states,
                   epoch, step, position in the epoch's data order), written atomically at the
                   end of each epoch and every ``checkpoint_every_steps`` / ``checkpoint_every_minutes``
    last.prev.pt   the checkpoint before it: ``resume`` falls back to it when last.pt is unreadable
    best.pt        the weights ``select_on`` picks (EMA weights when EMA is on)

An *epoch* is one pass over all (frame, preset) pairs, or ``epoch_samples``
random patches when that is set. **A recipe is its number of optimiser steps**,
``epochs`` x steps per epoch: the learning-rate schedule runs over those steps, so the
same seed gives the same model on a fast CPU, a slow one or a GPU; a slower machine
only takes longer. ``max_minutes`` is a safety cap (a Kaggle/Colab session that
ends): when it cuts a run, the summary says ``stopped_by: "max_minutes"`` with the
steps done and asked, and the run always saves before it stops.
The data order is a pure function of (seed, epoch, position), so a run killed
mid-epoch and resumed sees the same batches, and ends with the same weights
bit for bit on the CPU, as one that was never interrupted.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import accel, distributed
from . import atomic
from .atomic import replacing
from .blind import BlindWienerNet
from .blur import get_preset
from .data import EpochOrder, PairedFrames, load_cached, write_json_atomic
from .metrics import psnr_db, summarize
from .models import build_model, count_parameters
from .sampling import ContinuumCrops

CHECKPOINT_FORMAT = "deblur_utils.checkpoint/1"


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
    resume: bool = False           # continue from run_dir/last.pt (or last.prev.pt when last.pt is unreadable)
    checkpoint_every_steps: int | None = None   # also save last.pt mid-epoch every N steps ...
    checkpoint_every_minutes: float | None = 10.0  # ... and every M minutes (a cut-off session loses at most M)
    # Speed (accel.py): "auto" = bf16/fp16 autocast and channels_last on CUDA, off on the CPU.
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
    # Blind Wiener model only: the deconvolution trains on the true sigma times exp(N(0, sigma_jitter)), so
    # it learns to live with an estimate that is off; the estimator trains on its own batch of larger crops.
    sigma_jitter: float = 0.05
    estimator_batch: int = 16  # crops of the estimator's own tile size (model_kwargs est_tile)
    estimator_vary_content: bool = False  # zoom out and rescale contrast of the estimator's crops (sampling.py)
    # The estimator's own sigma draw (None: as the deconvolution's). Presets drawn often pull ambiguous
    # mild blurs (0.4-0.6) towards preset a's 0.3, so the estimator may see fewer presets and a log law.
    estimator_sigma_law: str | None = None
    estimator_preset_fraction: float | None = None

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
        n = self.checkpoint_every_steps
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"checkpoint_every_steps must be an integer >= 1 or null, got {n!r}")
        m = self.checkpoint_every_minutes
        if m is not None and not (isinstance(m, (int, float)) and m > 0):
            raise ValueError(f"checkpoint_every_minutes must be > 0 or null, got {m!r}")
        accel.check(self.amp, self.channels_last)
        if self.blur_sampling not in ("sets", "continuum"):
            raise ValueError(f"blur_sampling must be 'sets' or 'continuum', got {self.blur_sampling!r}")
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


# --- checkpoints -------------------------------------------------------------------------------

def save_checkpoint(path, payload: dict) -> None:
    """torch.save via a temporary file and a rename: an interrupt never leaves a half-written checkpoint."""
    with replacing(path) as tmp:
        torch.save(payload, tmp)


def save_rotating(path, payload: dict) -> None:
    """Like save_checkpoint, keeping the file it replaces as ``<name>.prev.pt`` (the fallback for resume).

    Order: the new checkpoint is written whole first, then the old one becomes .prev, then the new
    one takes its name. A kill at any point leaves at least one complete checkpoint.
    """
    path = Path(path)
    with replacing(path) as tmp:
        torch.save(payload, tmp)
        if path.exists():
            os.replace(path, previous_path(path))


def previous_path(path) -> Path:
    path = Path(path)
    return path.with_name(path.stem + ".prev" + path.suffix)


def load_resumable(path) -> dict | None:
    """The newest readable of ``path`` and its ``.prev``; None when neither exists.

    An unreadable newest checkpoint (truncated by a kill, a full disk, a bad copy) is reported with a
    RuntimeWarning and the previous one is used; when both exist and neither reads, a clear error.
    """
    path = Path(path)
    candidates = [p for p in (path, previous_path(path)) if p.exists()]
    if not candidates:
        return None
    errors = []
    for i, p in enumerate(candidates):
        try:
            ckpt = load_checkpoint(p)
        except ValueError as err:
            errors.append(str(err))
            continue
        if i > 0 or errors:
            warnings.warn(f"{path} could not be read ({errors[0] if errors else 'missing'}); falling back to "
                          f"the previous checkpoint {p} (step {ckpt['step']})", RuntimeWarning, stacklevel=2)
        return ckpt
    raise ValueError(f"no readable checkpoint to resume from in {path.parent}: " + "; ".join(errors) +
                     ". Delete them to start over (resume=False sets them aside), or restore a copy.")


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load one of our checkpoints with ``weights_only=True`` (no code runs); clear errors otherwise."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist: train first (notebook 02 or "
                                "`python -m deblur_utils train`) or check the path")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle errors, truncated zip, unsafe globals
        detail = (str(err).splitlines() or [""])[0][:200]
        raise ValueError(f"{path} is not a readable deblur_utils checkpoint ({err.__class__.__name__}: "
                         f"{detail}); retrain or pick another file") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a deblur_utils checkpoint (no '{CHECKPOINT_FORMAT}' marker)")
    return ckpt


def model_from_checkpoint(path, device="cpu") -> tuple[nn.Module, dict]:
    """The model a checkpoint describes, with its (EMA, when saved) weights, in eval mode."""
    ckpt = load_checkpoint(path)
    model = build_model(ckpt["model"], **ckpt["model_kwargs"])
    model.load_state_dict(ckpt["weights"])
    return model.to(device).eval(), ckpt


# --- validation --------------------------------------------------------------------------------

def to_tensor(frames_uint8) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.array(frames_uint8)).permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8(batch: torch.Tensor) -> np.ndarray:
    """float (N, 3, H, W) -> uint8 (N, H, W, 3): clipped to [0, 1], rounded, as a saved PNG."""
    return batch.clamp(0, 1).mul(255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _forward_tiled(model: nn.Module, x: torch.Tensor, tile: int | None, overlap: int) -> torch.Tensor:
    """model(x), or for frames larger than ``tile``: overlapping tiles, each keeping its centre."""
    _, _, h, w = x.shape
    if not tile or (h <= tile and w <= tile):
        return model(x)
    step = tile - 2 * overlap
    if step < 16:
        raise ValueError(f"tile {tile} leaves no centre with an overlap of {overlap} px: use tile >= {2 * overlap + 16}")
    out = None
    for y0 in range(0, h, step):
        for x0 in range(0, w, step):
            y1, x1 = min(y0 + step, h), min(x0 + step, w)
            ya, xa, yb, xb = max(0, y0 - overlap), max(0, x0 - overlap), min(h, y1 + overlap), min(w, x1 + overlap)
            part = model(x[..., ya:yb, xa:xb])
            if out is None:
                out = part.new_empty((*part.shape[:2], h, w))
            out[..., y0:y1, x0:x1] = part[..., y0 - ya:y1 - ya, x0 - xa:x1 - xa]
    return out


@torch.inference_mode()
def predict_uint8(model: nn.Module, blurred_uint8: np.ndarray, device, batch_size: int | None = None,
                  tile: int | None = None, overlap: int = 32, amp: str = "off",
                  channels_last: str = "on") -> np.ndarray:
    """Deblur uint8 frames (N, H, W, 3) or one (H, W, 3); returns uint8 of the same shape (rounded, clipped).

    Batches of ``batch_size`` frames under ``inference_mode`` (None: 2 on the CPU, where larger
    batches of 256x448 frames measured slower as they leave the cache, 8 on a GPU); ``tile``: frames
    larger than ``tile`` x ``tile`` go through in overlapping tiles (``overlap`` pixels of context on
    each side, discarded), for frames that do not fit the device's memory; ``amp``: "off" (exact
    float32, what grading uses), "auto" (bf16 on a GPU and on a CPU with native bf16, see
    ``accel``), "bf16" or "fp16"; ``channels_last``: NHWC convolutions, on by default (measured ~2x
    faster through the blind model's CNN on the CPU, and what tensor cores want); the model's
    weights are switched to it in place, the input stays NCHW (the blind model's FFTs want it).
    """
    single = blurred_uint8.ndim == 3
    frames = blurred_uint8[None] if single else blurred_uint8
    out = np.empty(frames.shape, np.uint8)
    speed = accel.resolve(device, amp, channels_last=channels_last, inference=True)
    if batch_size is None:
        batch_size = 2 if speed.device.type == "cpu" else 8
    model.eval()
    if speed.channels_last:  # the weights only: convolutions then run NHWC, while FFTs keep their NCHW input
        model.to(memory_format=torch.channels_last)
    for i in range(0, len(frames), batch_size):
        x = to_tensor(frames[i:i + batch_size]).to(device, non_blocking=True)
        with speed.autocast():
            y = _forward_tiled(model, x, tile, overlap)
        out[i:i + batch_size] = to_uint8(y.float())
    return out[0] if single else out


@torch.inference_mode()
def validate(model, val_arrays: dict, presets, device, loss_fn, batch_size: int = 4) -> dict:
    """Validation loss and the course PSNR (uint8 outputs, per image then mean) on whole frames, in batches."""
    model.eval()
    sharp = val_arrays["sharp"]
    losses, psnrs, per_preset = [], [], {}
    for p in presets:
        vals = []
        for i in range(0, len(sharp), batch_size):
            x, t = to_tensor(val_arrays[p][i:i + batch_size]).to(device), to_tensor(sharp[i:i + batch_size]).to(device)
            y = model(x)
            losses.append((float(loss_fn(y, t)), len(x)))
            pred = to_uint8(y)
            vals += [psnr_db(s_, q) for s_, q in zip(np.asarray(sharp[i:i + batch_size]), pred)]
        per_preset[p] = summarize(vals)["psnr_db"]
        psnrs += vals
    val_loss = sum(v * n for v, n in losses) / sum(n for _, n in losses)
    return {"val_loss": val_loss, "val_psnr_db": summarize(psnrs)["psnr_db"], "val_psnr_db_per_preset": per_preset}


# --- the loop ----------------------------------------------------------------------------------

def _set_aside(run_dir: Path) -> None:
    """A fresh run never overwrites an earlier one: its files move to run_dir/replaced-<UTC time>/."""
    old = [run_dir / n for n in ("best.pt", "last.pt", "last.prev.pt", "history.json", "summary.json",
                                 "config.json")]
    old = [p for p in old if p.exists()]
    if not old:
        return
    dest = run_dir / time.strftime("replaced-%Y%m%dT%H%M%SZ", time.gmtime())
    dest.mkdir(exist_ok=True)
    for p in old:
        p.replace(dest / p.name)


def train(cfg: TrainConfig, processed_dir, run_dir, progress=True, stop_when=None, on_step=None) -> dict:
    """Train one model; returns {"history", "best_val_psnr_db", "minutes", "stopped_by", "parameters", ...}.

    ``stop_when(history_entry) -> bool``, called after each validation, ends training early
    (``stopped_by: "stop_when"``): the time-to-quality benchmark stops at a target PSNR with it.
    ``on_step(step, model)`` is called after every optimiser step (on every rank).

    Started by ``torchrun`` (see distributed.py), each process trains data-parallel on its own shard;
    rank 0 alone writes files and returns the summary, the others return {"rank", "world_size", ...}.
    """
    ranks, device = distributed.setup(pick_device(cfg.device))
    try:
        result = _train(cfg, processed_dir, Path(run_dir), progress, stop_when, on_step, ranks, device)
        distributed.barrier(ranks)
        return result
    finally:
        distributed.teardown(ranks)


def _resume_rank(ckpt: dict, ranks, device, seed: int) -> None:
    """Under torchrun: this rank's RNG states as the checkpoint saved them. A checkpoint written by
    another number of processes (end of an epoch) gives rank 0 its saved state, the others fresh streams."""
    states = ckpt.get("rank_states")
    if states and len(states) == ranks.world_size:
        mine = states[ranks.rank]
    elif ranks.rank == 0:
        cuda = ckpt.get("cuda_rng_state")  # one process saved every visible GPU's: take this rank's
        mine = {"rng_state": ckpt["rng_state"],
                "cuda_rng_state": cuda[device.index] if isinstance(cuda, list) and device.type == "cuda" else None}
    else:
        torch.manual_seed(distributed.rank_seed(seed, ranks.rank) + ckpt["step"])
        return
    torch.set_rng_state(mine["rng_state"])
    if mine.get("cuda_rng_state") is not None and device.type == "cuda":
        torch.cuda.set_rng_state(mine["cuda_rng_state"], device)


def _train(cfg, processed_dir, run_dir: Path, progress, stop_when, on_step, ranks, device) -> dict:
    if ranks.main:
        run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, **cfg.model_kwargs).to(device)
    n_params = count_parameters(model)
    if ranks.rank:  # same initial weights on every rank, its own stream after them (jitter, dropout)
        torch.manual_seed(distributed.rank_seed(cfg.seed, ranks.rank))
    speed = accel.resolve(device, cfg.amp, cfg.channels_last, cfg.compile)
    # what the training step calls (compiled when asked; in DDP under torchrun); the weights are model's
    net = None if ranks.distributed else speed.prepare_model(model)
    seed = distributed.rank_seed(cfg.seed, ranks.rank)  # cfg.seed in one process
    if not ranks.main:  # rank 0 builds a missing cache (the others write nothing), then they read it
        distributed.barrier(ranks)
    train_arrays = load_cached(processed_dir, "train", cfg.presets, cfg.train_max_frames)
    val_arrays = load_cached(processed_dir, "val", cfg.presets, cfg.val_max_frames) if ranks.main else None
    if ranks.main:
        distributed.barrier(ranks)
    dataset = PairedFrames(train_arrays, cfg.presets, cfg.crop_size, augment=cfg.crop_size is not None)
    continuum = (ContinuumCrops(train_arrays["sharp"], cfg.crop_size, cfg.sigma_range, cfg.preset_fraction, seed,
                                sigma_law=cfg.sigma_law)
                 if cfg.blur_sampling == "continuum" else None)
    est_crops = (ContinuumCrops(train_arrays["sharp"], cfg.crop_size, cfg.sigma_range,
                                cfg.preset_fraction if cfg.estimator_preset_fraction is None
                                else cfg.estimator_preset_fraction, seed,
                                sigma_law=cfg.estimator_sigma_law or cfg.sigma_law)
                 if cfg.blur_sampling == "continuum" else None)
    wiener_net = isinstance(model, BlindWienerNet)  # trains on a given sigma; the blind one also its estimator
    blind = wiener_net and model.blind
    preset_sigmas = torch.tensor([get_preset(p).sigma for p in cfg.presets], device=device)
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = (torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.ema_decay))
        if cfg.ema_decay else None)
    loss_fn = LOSSES[cfg.loss]
    history, step, start_epoch, best, minutes_before = [], 0, 0, -math.inf, 0.0  # best: higher is better
    epoch_pos, epoch_losses, epoch_est_losses = 0, [], []  # a checkpoint written mid-epoch: where it stood

    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if not cfg.resume and ranks.main:
        _set_aside(run_dir)
    ckpt = load_resumable(last_path) if cfg.resume else None  # every rank reads it; none writes before DDP's sync
    if cfg.resume and ranks.main:  # a kill during a save leaves its temporary file behind
        for name in ("last.pt", "best.pt", "history.json", "summary.json", "config.json"):
            atomic.remove_leftovers(run_dir / name)
    if ckpt is not None:
        if (ckpt["model"], ckpt["model_kwargs"]) != (cfg.model, dict(cfg.model_kwargs)):
            raise ValueError(f"{last_path} holds {ckpt['model']} {ckpt['model_kwargs']}, not {cfg.model} "
                             f"{cfg.model_kwargs}: resume with the same model, or resume=False to start over")
        written_by = ckpt.get("world_size", 1)
        if written_by != ranks.world_size and ckpt.get("epoch_pos", 0):
            raise ValueError(f"{last_path} was written mid-epoch by {written_by} process(es) and its position counts "
                             f"their batches: resume it with {written_by} (torchrun --nproc_per_node {written_by}; "
                             "1: without torchrun), or resume from an end-of-epoch checkpoint")
        model.load_state_dict(ckpt["raw_weights"])
        optimizer.load_state_dict(ckpt["optimizer"])
        speed.load_state_dict(ckpt.get("scaler"))
        if ema is not None and ckpt.get("ema_state") is not None:
            ema.load_state_dict(ckpt["ema_state"])
        if ranks.distributed:
            _resume_rank(ckpt, ranks, device, cfg.seed)
        else:
            torch.set_rng_state(ckpt["rng_state"])
            if ckpt.get("cuda_rng_state") and device.type == "cuda":
                torch.cuda.set_rng_state_all(ckpt["cuda_rng_state"])
        history, step, start_epoch = ckpt["history"], ckpt["step"], ckpt["epoch"]
        best, minutes_before = ckpt["best_score"], ckpt["minutes"]
        epoch_pos = ckpt.get("epoch_pos", 0)
        val_s = ckpt.get("val_seconds", 0.0)  # so a run its budget stopped stays stopped
        epoch_losses, epoch_est_losses = list(ckpt.get("epoch_losses", [])), list(ckpt.get("epoch_est_losses", []))
        if ranks.distributed and ckpt.get("rank_states"):  # this rank's own partial epoch
            mine = ckpt["rank_states"][ranks.rank]
            epoch_losses, epoch_est_losses = list(mine["epoch_losses"]), list(mine["epoch_est_losses"])
    if ranks.distributed:  # the estimator of a model told its blur is never used: DDP must not wait for it
        net = distributed.wrap(model, speed, ranks, find_unused=wiener_net and not blind)
    if ranks.main:
        extra = {"world_size": ranks.world_size} if ranks.distributed else {}
        write_json_atomic(run_dir / "config.json", {**dataclasses.asdict(cfg), "parameters": n_params,
                                                     "device": str(device), **extra})

    t0 = time.monotonic()  # the budget counts training and validation, not loading the data
    samples = cfg.epoch_samples or len(dataset)
    per_step = cfg.batch_size * ranks.world_size  # images per optimiser step, all ranks together
    steps_per_epoch = max(1, samples // per_step)
    if ranks.distributed and continuum is None and cfg.epoch_samples is None and steps_per_epoch * per_step > len(dataset):
        raise ValueError(f"{len(dataset)} training pairs cannot fill one step of {ranks.world_size} processes x "
                         f"batch_size {cfg.batch_size}: lower batch_size or the number of processes, or set epoch_samples")
    total_steps = steps_per_epoch * cfg.epochs
    budget_s = cfg.max_minutes * 60 if cfg.max_minutes else math.inf
    if ckpt is None:
        val_s = 0.0  # how long one validation takes, so training stops early enough to still save
    stopped_by = "steps"  # "steps": the recipe ran to its end; "max_minutes": the safety cap cut it

    def elapsed_min():  # across resumes: the budget and the schedule continue where they stopped
        return minutes_before + (time.monotonic() - t0) / 60

    def payload(epoch, eval_model, pos=0, losses=(), est_losses=(), shared=None):
        """``epoch``: epochs completed; ``pos``: batches done of the next one (mid-epoch checkpoints);
        ``shared``: every rank's RNG states and losses (distributed.rank_states), under torchrun."""
        extra = {} if shared is None else {"world_size": ranks.world_size, "rank_states": shared}
        return {**extra, "format": CHECKPOINT_FORMAT, "model": cfg.model, "model_kwargs": dict(cfg.model_kwargs),
                "weights": eval_model.state_dict(), "raw_weights": model.state_dict(),
                "optimizer": optimizer.state_dict(), "ema_state": ema.state_dict() if ema else None,
                "scaler": speed.state_dict(),
                "rng_state": torch.get_rng_state(),
                "cuda_rng_state": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
                "epoch": epoch, "epoch_pos": pos, "epoch_losses": list(losses), "epoch_est_losses": list(est_losses),
                "step": step, "steps_asked": total_steps, "history": history,
                "best_score": best, "minutes": elapsed_min(), "val_seconds": val_s, "parameters": n_params,
                "config": json.loads(json.dumps(dataclasses.asdict(cfg)))}

    every_s = cfg.checkpoint_every_minutes * 60 if cfg.checkpoint_every_minutes else math.inf
    last_save = time.monotonic()
    steps_here, train_s = 0, 0.0  # this process's optimiser steps and seconds in them (throughput)

    bar = tqdm(total=total_steps, initial=step, disable=not (progress and ranks.main), unit="step",
               desc=f"{cfg.model} {cfg.model_kwargs}" + (f" (cap {cfg.max_minutes:g} min)" if cfg.max_minutes else ""))
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        # Resuming mid-epoch: the same order, the batches already done skipped.
        start, losses, est_losses = epoch_pos, epoch_losses, epoch_est_losses
        epoch_pos, epoch_losses, epoch_est_losses = 0, [], []
        if continuum is None and not ranks.distributed:
            sampler = EpochOrder(len(dataset), steps_per_epoch * cfg.batch_size, cfg.seed, epoch,
                                 replacement=cfg.epoch_samples is not None, start=start * cfg.batch_size)
        elif continuum is None:  # this rank's shard of the epoch's order over all ranks
            sampler = distributed.RankShard(EpochOrder(len(dataset), steps_per_epoch * per_step, cfg.seed, epoch,
                                                       replacement=cfg.epoch_samples is not None),
                                            ranks.rank, ranks.world_size, start=start * cfg.batch_size)
        if continuum is None:
            # its own generator: creating the loader's iterator must not draw from the global RNG
            loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler,
                                                 num_workers=cfg.num_workers, drop_last=True,
                                                 pin_memory=device.type == "cuda",
                                                 generator=torch.Generator().manual_seed(cfg.seed))
        else:
            loader = range(start, steps_per_epoch)
        pos = start
        t_loop, save_s = time.monotonic(), 0.0
        for item in loader:
            over = elapsed_min() * 60 + val_s * 1.2 + 2 > budget_s
            if ranks.distributed and budget_s < math.inf:  # N clocks, one decision
                over = distributed.any_rank(over, ranks)
            if over:
                stopped_by = "max_minutes"
                break
            if continuum is None:
                blurred, sharp, p_idx = item
                sigma = preset_sigmas[p_idx.to(device)]
            else:  # blurred on the device, exactly, outside autocast
                blurred, sharp, sigma = continuum.batch(step, cfg.batch_size, device)
            blurred, sharp = speed.to_device(blurred), speed.to_device(sharp)
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * lr_factor(step, step / total_steps, cfg)
            with speed.autocast():  # the loss itself in float32
                if wiener_net and not blind:  # told the blur
                    loss = loss_total = loss_fn(net(blurred).float(), sharp)
                elif blind:  # deconvolve with a jittered true sigma; train the estimator on its own batch
                    jitter = torch.exp(torch.randn(len(sigma), device=device) * cfg.sigma_jitter)
                    loss = loss_fn(net(blurred, sigma=sigma * jitter).float(), sharp)
                    if continuum is not None:
                        crop = min(model.estimator.tile, *train_arrays["sharp"].shape[1:3])
                        eb, _, es = est_crops.batch(step, cfg.estimator_batch, device, crop=crop, stream=1,
                                                    vary_content=cfg.estimator_vary_content)
                    else:
                        eb, es = blurred, sigma
                    est_loss = model.estimator.loss(eb, es)
                    est_losses.append(est_loss.item())
                    loss_total = loss + est_loss
                else:
                    loss = loss_total = loss_fn(net(blurred).float(), sharp)
            bad = not torch.isfinite(loss)
            if ranks.distributed:  # all ranks stop together, none is left waiting in backward
                bad = distributed.any_rank(bad, ranks)
            if bad:
                kept = f"the last good checkpoint {last_path} is kept" if last_path.exists() else "no checkpoint yet"
                raise FloatingPointError(f"loss became {loss.item()} at step {step} (epoch {epoch}); {kept}. "
                                         "Lower lr (or set grad_clip) and rerun with resume=True.")
            optimizer.zero_grad(set_to_none=True)
            speed.backward_step(loss_total, optimizer, model.parameters(), cfg.grad_clip)
            if ema is not None:
                ema.update_parameters(model)
            losses.append(loss.item())
            step += 1
            pos += 1
            steps_here += 1
            bar.update(1)
            if on_step is not None:
                on_step(step, model)
            every_n = cfg.checkpoint_every_steps and step % cfg.checkpoint_every_steps == 0
            due = time.monotonic() - last_save > every_s
            if ranks.distributed and every_s < math.inf:
                due = distributed.any_rank(due, ranks)
            if (every_n or due) and pos < steps_per_epoch:
                ts = time.monotonic()
                eval_model = ema.module if ema is not None else model
                shared = distributed.rank_states(ranks, device, losses, est_losses)  # all ranks; None in one
                if ranks.main:
                    save_rotating(last_path, payload(epoch, eval_model, pos, losses, est_losses, shared))
                last_save = time.monotonic()
                save_s += last_save - ts
        train_s += time.monotonic() - t_loop - save_s
        if not losses:
            if stopped_by == "max_minutes" and steps_here and ranks.main and last_path.exists():
                # spent between epochs, after last.pt was written: record the time it was found spent,
                # so that a resume under the same budget stays stopped however slow that save was
                state = load_checkpoint(last_path)
                state["minutes"] = max(state["minutes"], elapsed_min())
                save_rotating(last_path, state)
            break
        tv = time.monotonic()
        eval_model = ema.module if ema is not None else model
        shared = distributed.rank_states(ranks, device, losses, est_losses)
        if shared is not None:  # the epoch's losses over all ranks
            losses = [v for s in shared for v in s["epoch_losses"]]
            est_losses = [v for s in shared for v in s["epoch_est_losses"]]
        if ranks.main:
            extra = {}
            if blind:  # how far the sigma estimate is off on training crops (mean |log ratio|)
                extra = {"estimator_loss": float(np.mean(est_losses))}
            val = validate(eval_model, val_arrays, cfg.presets, device, loss_fn)
            val_s = time.monotonic() - tv
            history.append({"epoch": epoch + 1, "step": step, "train_loss": float(np.mean(losses)),
                            **val, **extra, "minutes": elapsed_min()})
            bar.set_postfix(val_psnr=f"{val['val_psnr_db']:.2f}")
            score = {"val_loss": -val["val_loss"], "last": float(step)}.get(cfg.select_on, val["val_psnr_db"])
            if score is not None and score > best:
                best = score
                save_checkpoint(best_path, payload(epoch + 1, eval_model, shared=shared))
            save_rotating(last_path, payload(epoch + 1, eval_model, shared=shared))
            write_json_atomic(run_dir / "history.json", history)
            if stop_when is not None and stop_when(history[-1]):
                stopped_by = "stop_when"
        if ranks.distributed and distributed.any_rank(stopped_by == "stop_when", ranks):
            stopped_by = "stop_when"  # decided on rank 0, which alone validates
        last_save = time.monotonic()
        if stopped_by != "steps":
            break
    bar.close()
    throughput = {"world_size": ranks.world_size,
                  "train_images_per_second": steps_here * per_step / train_s if train_s > 0 else None}
    if not ranks.main:
        return {"rank": ranks.rank, "steps": step, "stopped_by": stopped_by, **throughput}
    if not best_path.exists() and last_path.exists():
        save_checkpoint(best_path, load_checkpoint(last_path))
    best_epoch = load_checkpoint(best_path)["epoch"] if best_path.exists() else None
    summary = {"run_dir": str(run_dir), "model": cfg.model, "model_kwargs": cfg.model_kwargs,
               "parameters": n_params, "device": str(device), "steps": step, "steps_asked": total_steps,
               "epochs_done": len(history),
               "epochs_asked": cfg.epochs, "stopped_by": stopped_by, "minutes": elapsed_min(),
               "best_epoch": best_epoch, "selected_on": cfg.select_on,
               "best_val_psnr_db": history[best_epoch - 1]["val_psnr_db"] if best_epoch else None,
               **throughput, "history": history}
    write_json_atomic(run_dir / "summary.json", {k: v for k, v in summary.items() if k != "history"})
    return summary
