"""Running a trained model: uint8 frames in and out, tiles for frames too large for the device, and
validation (the course PSNR on whole frames)."""
from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn

from ..evaluation.metrics import psnr_db, summarize
from ..runtime import accel


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
def estimate_sigmas(model: nn.Module, frames_uint8: np.ndarray, device, batch_size: int = 8,
                    quantile: float | None = None) -> np.ndarray:
    """A blind Wiener network's own estimate of each frame's blur, (N,) float: the tiles' ``quantile``,
    by default its ``sigma_quantile`` (what its deconvolution of a single frame uses)."""
    model.eval()
    q = model.sigma_quantile if quantile is None else quantile
    return np.concatenate([model.estimator.estimate(to_tensor(frames_uint8[i:i + batch_size]).to(device),
                                                    q)[0].cpu().numpy()
                           for i in range(0, len(frames_uint8), batch_size)])


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


@torch.inference_mode()
def validation_seconds(model, val_arrays: dict, presets, device, batch_size: int = 4) -> float:
    """What one ``validate`` will take, from one timed batch of its frames (the first call's set-up
    included, so the estimate errs long): the budget must leave room for a validation before the first
    one has run (a 1024-wide SRCNN on 50 frames x 3 presets takes minutes on a CPU)."""
    model.eval()
    sharp = val_arrays["sharp"]
    n = min(batch_size, len(sharp))
    t0 = time.monotonic()
    to_uint8(model(to_tensor(val_arrays[presets[0]][:n]).to(device)))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.monotonic() - t0) * math.ceil(len(sharp) / n) * len(presets)
