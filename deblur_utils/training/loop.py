"""The training loop: one model, one run folder, steps until the recipe or the cap ends it.

``train(cfg, processed_dir, run_dir)`` leaves in ``run_dir``::

    config.json    the TrainConfig
    history.json   per epoch: train loss, val loss, val PSNR (dB), minutes, step
    progress.json  step, steps asked, loss and minutes, rewritten every few seconds while it trains
                   (what ``make report`` shows in the terminal while a notebook trains)
    last.pt        everything needed to continue exactly (checkpoint.RunState, weights, optimiser,
                   EMA, RNG states), written atomically at the end of each epoch and every
                   ``checkpoint_every_steps`` / ``checkpoint_every_minutes``
    last.prev.pt   the checkpoint before it: ``resume`` falls back to it when last.pt is unreadable
    best.pt        the weights ``select_on`` picks (EMA weights when EMA is on)
    summary.json   steps done and asked, minutes, what stopped it

An *epoch* is one pass over all (frame, preset) pairs, or ``epoch_samples`` random patches when
that is set. The data order is a pure function of (seed, epoch, position), so a run killed mid-epoch
and resumed sees the same batches, and ends with the same weights bit for bit on the CPU, as one
that was never interrupted. The budget (``max_minutes``) counts training and validation, the first
validation included (``validation_seconds`` estimates it before it has run).
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.cache import load_cached
from ..data.dataset import PairedFrames
from ..data.sampling import ContinuumCrops
from ..networks.registry import build_model, count_parameters
from ..runtime import accel, atomic, distributed, numerics
from ..runtime.atomic import write_json_atomic
from .checkpoint import RunState, load_checkpoint, load_resumable, payload, resume, save_checkpoint, save_rotating
from .config import LOSSES, TrainConfig, lr_factor, pick_device
from .inference import validate, validation_seconds
from .objectives import ContinuumBatches, SetBatches, objective_for

PROGRESS_EVERY_S = 2.0


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
    # One process on the CPU computes with the recipe's thread count (numerics.py); torchrun's workers
    # keep the OMP_NUM_THREADS it gives them.
    threads = cfg.cpu_threads if device.type == "cpu" and not ranks.distributed else None
    try:
        with numerics.cpu_threads(threads):
            result = _train(cfg, processed_dir, Path(run_dir), progress, stop_when, on_step, ranks, device)
        distributed.barrier(ranks)
        return result
    finally:
        distributed.teardown(ranks)


class _Run:
    """What one run holds: model, optimiser, EMA, data, objective, state; built by ``_setup``."""


def _setup(cfg, processed_dir, run_dir: Path, ranks, device) -> _Run:
    r = _Run()
    if ranks.main:
        run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    r.model = model = build_model(cfg.model, **cfg.model_kwargs).to(device)
    r.n_params = count_parameters(model)
    if ranks.rank:  # same initial weights on every rank, its own stream after them (jitter, dropout)
        torch.manual_seed(distributed.rank_seed(cfg.seed, ranks.rank))
    r.speed = speed = accel.resolve(device, cfg.amp, cfg.channels_last, cfg.compile)
    # what the training step calls (compiled when asked; in DDP under torchrun); the weights are model's
    r.net = None if ranks.distributed else speed.prepare_model(model)
    seed = distributed.rank_seed(cfg.seed, ranks.rank)  # cfg.seed in one process
    if not ranks.main:  # rank 0 builds a missing cache (the others write nothing), then they read it
        distributed.barrier(ranks)
    train_arrays = load_cached(processed_dir, "train", cfg.presets, cfg.train_max_frames)
    r.val_arrays = load_cached(processed_dir, "val", cfg.presets, cfg.val_max_frames) if ranks.main else None
    if ranks.main:
        distributed.barrier(ranks)
    r.dataset = PairedFrames(train_arrays, cfg.presets, cfg.crop_size, augment=cfg.crop_size is not None)
    r.continuum = (ContinuumCrops(train_arrays["sharp"], cfg.crop_size, cfg.sigma_range, cfg.preset_fraction, seed,
                                  sigma_law=cfg.sigma_law, presets=cfg.continuum_presets)
                   if cfg.blur_sampling == "continuum" else None)
    r.loss_fn = LOSSES[cfg.loss]
    r.objective = objective_for(model, r.loss_fn, cfg, train_arrays, seed, device)
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    r.optimizer = opt_cls(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    r.ema = (torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.ema_decay))
        if cfg.ema_decay else None)
    r.last_path, r.best_path = run_dir / "last.pt", run_dir / "best.pt"
    if not cfg.resume and ranks.main:
        _set_aside(run_dir)
    ckpt = load_resumable(r.last_path) if cfg.resume else None  # every rank reads it; none writes before DDP's sync
    if cfg.resume and ranks.main:  # a kill during a save leaves its temporary file behind
        for name in ("last.pt", "best.pt", "history.json", "summary.json", "config.json"):
            atomic.remove_leftovers(run_dir / name)
    r.resumed = ckpt is not None
    r.state = (resume(ckpt, cfg, model, r.optimizer, r.ema, speed, ranks, device, r.last_path) if ckpt is not None
               else RunState())
    if ranks.distributed:  # the estimator of a model told its blur is never used: DDP must not wait for it
        r.net = distributed.wrap(model, speed, ranks, find_unused=r.objective.find_unused_parameters)
    if ranks.main:
        extra = {"world_size": ranks.world_size} if ranks.distributed else {}
        write_json_atomic(run_dir / "config.json", {**dataclasses.asdict(cfg), "parameters": r.n_params,
                                                     "device": str(device), **extra})
    r.per_step = cfg.batch_size * ranks.world_size  # images per optimiser step, all ranks together
    samples = cfg.epoch_samples or len(r.dataset)
    r.steps_per_epoch = max(1, samples // r.per_step)
    if ranks.distributed and r.continuum is None and cfg.epoch_samples is None and \
            r.steps_per_epoch * r.per_step > len(r.dataset):
        raise ValueError(f"{len(r.dataset)} training pairs cannot fill one step of {ranks.world_size} processes x "
                         f"batch_size {cfg.batch_size}: lower batch_size or the number of processes, or set epoch_samples")
    r.total_steps = r.steps_per_epoch * cfg.epochs
    r.batches = (ContinuumBatches(r.continuum, cfg.batch_size, device, speed) if r.continuum is not None else
                 SetBatches(r.dataset, cfg, ranks, device, speed, r.steps_per_epoch, r.per_step))
    return r


def _train(cfg, processed_dir, run_dir: Path, progress, stop_when, on_step, ranks, device) -> dict:
    r = _setup(cfg, processed_dir, run_dir, ranks, device)
    model, optimizer, ema, speed, state = r.model, r.optimizer, r.ema, r.speed, r.state
    t0 = time.monotonic()  # the budget counts training and validation, not loading the data
    minutes_before = state.minutes
    budget_s = cfg.max_minutes * 60 if cfg.max_minutes else math.inf
    if not r.resumed:  # how long one validation takes, so training stops early enough to still validate and save
        state.val_seconds = (validation_seconds(model, r.val_arrays, cfg.presets, device)
                             if ranks.main and budget_s < math.inf else 0.0)
    stopped_by = "steps"  # "steps": the recipe ran to its end; "max_minutes": the safety cap cut it

    def elapsed_min():  # across resumes: the budget and the schedule continue where they stopped
        return minutes_before + (time.monotonic() - t0) / 60

    def save(path, eval_model, shared=None, rotating=True):
        state.minutes = elapsed_min()
        ckpt = payload(state, cfg, model, eval_model, optimizer, ema, speed, device, r.n_params, r.total_steps,
                       shared, ranks.world_size)
        (save_rotating if rotating else save_checkpoint)(path, ckpt)

    progress_file = _Progress(run_dir / "progress.json", r.total_steps) if ranks.main else None
    every_s = cfg.checkpoint_every_minutes * 60 if cfg.checkpoint_every_minutes else math.inf
    last_save = time.monotonic()
    steps_here, train_s = 0, 0.0  # this process's optimiser steps and seconds in them (throughput)
    bar = tqdm(total=r.total_steps, initial=state.step, disable=not (progress and ranks.main), unit="step",
               desc=f"{cfg.model} {cfg.model_kwargs}" + (f" (cap {cfg.max_minutes:g} min)" if cfg.max_minutes else ""))
    for epoch in range(state.epoch, cfg.epochs):
        model.train()
        # Resuming mid-epoch: the same order, the batches already done skipped.
        start, losses, est_losses = state.epoch_pos, state.epoch_losses, state.epoch_est_losses
        state.epoch_pos, state.epoch_losses, state.epoch_est_losses = 0, [], []
        r.batches.start_epoch(epoch, start)
        t_loop, save_s = time.monotonic(), 0.0
        for pos in range(start, r.steps_per_epoch):
            over = elapsed_min() * 60 + state.val_seconds * 1.2 + 2 > budget_s
            if ranks.distributed and budget_s < math.inf:  # N clocks, one decision
                over = distributed.any_rank(over, ranks)
            if over:
                stopped_by = "max_minutes"
                break
            loss = _step(r, cfg, epoch, state.step, ranks, est_losses)
            losses.append(loss)
            state.step += 1
            steps_here += 1
            bar.update(1)
            if progress_file is not None:
                progress_file.write(state.step, loss, elapsed_min())
            if on_step is not None:
                on_step(state.step, model)
            every_n = cfg.checkpoint_every_steps and state.step % cfg.checkpoint_every_steps == 0
            due = time.monotonic() - last_save > every_s
            if ranks.distributed and every_s < math.inf:
                due = distributed.any_rank(due, ranks)
            if (every_n or due) and pos + 1 < r.steps_per_epoch:  # mid-epoch: where this epoch stands
                ts = time.monotonic()
                shared = distributed.rank_states(ranks, device, losses, est_losses)  # all ranks; None in one
                if ranks.main:
                    state.epoch, state.epoch_pos = epoch, pos + 1
                    state.epoch_losses, state.epoch_est_losses = losses, est_losses
                    save(r.last_path, ema.module if ema is not None else model, shared)
                    state.epoch_pos, state.epoch_losses, state.epoch_est_losses = 0, [], []
                last_save = time.monotonic()
                save_s += last_save - ts
        train_s += time.monotonic() - t_loop - save_s
        if not losses:
            if stopped_by == "max_minutes" and steps_here and ranks.main and r.last_path.exists():
                # spent between epochs, after last.pt was written: record the time it was found spent,
                # so that a resume under the same budget stays stopped however slow that save was
                ckpt = load_checkpoint(r.last_path)
                ckpt["minutes"] = max(ckpt["minutes"], elapsed_min())
                save_rotating(r.last_path, ckpt)
            elif stopped_by == "max_minutes" and ranks.main and not r.last_path.exists():
                # a cap too short for one validation: the untrained weights are saved, and graded as
                # a run the cap cut at step 0, rather than leaving nothing to grade
                state.epoch = epoch
                save(r.last_path, ema.module if ema is not None else model)
            break
        stopped_by = _end_of_epoch(r, cfg, epoch, losses, est_losses, ranks, device, run_dir, bar, save,
                                   elapsed_min, stop_when) or stopped_by
        last_save = time.monotonic()
        if stopped_by != "steps":
            break
    bar.close()
    if progress_file is not None:
        progress_file.write(state.step, None, elapsed_min(), done=True)
    return _summary(r, cfg, run_dir, ranks, device, stopped_by, steps_here, train_s, elapsed_min())


def _step(r, cfg, epoch: int, step: int, ranks, est_losses: list) -> float:
    """One optimiser step at ``step``: the batch, the schedule's learning rate, the objective, a check
    that the loss is finite on every rank, backward, the EMA. Returns the loss."""
    blurred, sharp, sigma = r.batches.next(step)
    for group in r.optimizer.param_groups:
        group["lr"] = cfg.lr * lr_factor(step, step / r.total_steps, cfg)
    with r.speed.autocast():  # the loss itself in float32
        loss, total, est_loss = r.objective(r.net, blurred, sharp, sigma, step)
    if est_loss is not None:
        est_losses.append(est_loss.item())
    bad = not torch.isfinite(loss)
    if ranks.distributed:  # all ranks stop together, none is left waiting in backward
        bad = distributed.any_rank(bad, ranks)
    if bad:
        kept = f"the last good checkpoint {r.last_path} is kept" if r.last_path.exists() else "no checkpoint yet"
        raise FloatingPointError(f"loss became {loss.item()} at step {step} (epoch {epoch}); {kept}. "
                                 "Lower lr (or set grad_clip) and rerun with resume=True.")
    r.optimizer.zero_grad(set_to_none=True)
    r.speed.backward_step(total, r.optimizer, r.model.parameters(), cfg.grad_clip)
    if r.ema is not None:
        r.ema.update_parameters(r.model)
    return loss.item()


def _end_of_epoch(r, cfg, epoch, losses, est_losses, ranks, device, run_dir, bar, save, elapsed_min,
                  stop_when) -> str | None:
    """Validate (rank 0), record the epoch, save best.pt and last.pt; "stop_when" when it asks to stop."""
    state, stopped = r.state, None
    tv = time.monotonic()
    eval_model = r.ema.module if r.ema is not None else r.model
    shared = distributed.rank_states(ranks, device, losses, est_losses)
    if shared is not None:  # the epoch's losses over all ranks
        losses = [v for s in shared for v in s["epoch_losses"]]
        est_losses = [v for s in shared for v in s["epoch_est_losses"]]
    if ranks.main:
        extra = {"estimator_loss": float(np.mean(est_losses))} if r.objective.has_estimator else {}
        val = validate(eval_model, r.val_arrays, cfg.presets, device, r.loss_fn)
        state.val_seconds = time.monotonic() - tv
        state.history.append({"epoch": epoch + 1, "step": state.step, "train_loss": float(np.mean(losses)),
                              **val, **extra, "minutes": elapsed_min()})
        bar.set_postfix(val_psnr=f"{val['val_psnr_db']:.2f}")
        score = {"val_loss": -val["val_loss"], "last": float(state.step)}.get(cfg.select_on, val["val_psnr_db"])
        state.epoch = epoch + 1
        if score is not None and score > state.best_score:
            state.best_score = score
            save(r.best_path, eval_model, shared, rotating=False)
        save(r.last_path, eval_model, shared)
        write_json_atomic(run_dir / "history.json", state.history)
        if stop_when is not None and stop_when(state.history[-1]):
            stopped = "stop_when"
    else:
        state.epoch = epoch + 1
    if ranks.distributed and distributed.any_rank(stopped == "stop_when", ranks):
        stopped = "stop_when"  # decided on rank 0, which alone validates
    return stopped


def _summary(r, cfg, run_dir, ranks, device, stopped_by, steps_here, train_s, minutes) -> dict:
    throughput = {"world_size": ranks.world_size,
                  "train_images_per_second": steps_here * r.per_step / train_s if train_s > 0 else None}
    state = r.state
    if not ranks.main:
        return {"rank": ranks.rank, "steps": state.step, "stopped_by": stopped_by, **throughput}
    if not r.best_path.exists() and r.last_path.exists():
        save_checkpoint(r.best_path, load_checkpoint(r.last_path))
    best_epoch = load_checkpoint(r.best_path)["epoch"] if r.best_path.exists() else None
    summary = {"run_dir": str(run_dir), "model": cfg.model, "model_kwargs": cfg.model_kwargs,
               "parameters": r.n_params, "device": str(device), "steps": state.step, "steps_asked": r.total_steps,
               "epochs_done": len(state.history),
               "epochs_asked": cfg.epochs, "stopped_by": stopped_by, "minutes": minutes,
               "best_epoch": best_epoch, "selected_on": cfg.select_on,
               "best_val_psnr_db": state.history[best_epoch - 1]["val_psnr_db"] if best_epoch else None,
               **throughput, **_arithmetic(device, cfg), "history": state.history}
    write_json_atomic(run_dir / "summary.json", {k: v for k, v in summary.items() if k != "history"})
    return summary


def _arithmetic(device, cfg) -> dict:
    """What a CPU run computed with, for the summary: its threads, whether the recipe fixed them, and the
    kernel pins (numerics.py)."""
    if device.type != "cpu":
        return {}
    return {"cpu_threads": torch.get_num_threads(), "cpu_threads_fixed": bool(cfg.cpu_threads),
            "cpu_kernels": numerics.cpu_kernels()}


class _Progress:
    """run_dir/progress.json, rewritten at most every PROGRESS_EVERY_S seconds (and at the end): the run,
    its step of the steps asked, the last loss and minutes so far, for a watcher in another process."""

    def __init__(self, path: Path, steps_asked: int):
        self.path, self.steps_asked, self.last = path, steps_asked, 0.0

    def write(self, step: int, loss, minutes: float, done: bool = False) -> None:
        now = time.monotonic()
        if not done and now - self.last < PROGRESS_EVERY_S and step < self.steps_asked:
            return
        self.last = now
        write_json_atomic(self.path, {"run": self.path.parent.name, "step": step, "steps_asked": self.steps_asked,
                                      "loss": loss, "minutes": minutes, "done": done})
