"""Checkpoints: written atomically, read without running code, and the resume state in one place.

``RunState`` is everything a run needs to continue exactly where it stopped besides the weights and
the optimiser (epoch, step, position in the epoch's data order, losses so far, history, the best
score, minutes spent); ``payload`` writes it with the model, optimiser, EMA, loss scaler and RNG states
into one dict, ``resume`` restores all of it. One save/load pair: a field added to one is in the other.
Checkpoints of earlier versions (format ``deblur_utils.checkpoint/1``, without ``val_seconds``,
``epoch_pos`` or the loss lists) load with those fields at their defaults.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..networks.registry import build_model
from ..runtime import distributed
from ..runtime.atomic import replacing

CHECKPOINT_FORMAT = "deblur_utils.checkpoint/1"


@dataclass
class RunState:
    """Where a run stands: ``epoch`` epochs completed and ``epoch_pos`` batches of the next one,
    ``step`` optimiser steps in all, the next epoch's losses so far, the validation history, the best
    ``select_on`` score, minutes of training and validation, and how long one validation takes."""

    epoch: int = 0
    epoch_pos: int = 0
    step: int = 0
    epoch_losses: list = field(default_factory=list)
    epoch_est_losses: list = field(default_factory=list)
    history: list = field(default_factory=list)
    best_score: float = -math.inf
    minutes: float = 0.0
    val_seconds: float = 0.0

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> "RunState":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: ckpt[k] for k in names if k in ckpt})


def payload(state: RunState, cfg, model: nn.Module, eval_model: nn.Module, optimizer, ema, speed, device,
            parameters: int, steps_asked: int, shared=None, world_size: int = 1) -> dict:
    """The checkpoint of a run in ``state``: ``eval_model``'s weights (EMA when on) to grade, the raw
    weights, optimiser, EMA, loss scaler and RNG states to continue; ``shared``: every rank's RNG
    states and losses (distributed.rank_states) under torchrun."""
    extra = {} if shared is None else {"world_size": world_size, "rank_states": shared}
    s = dataclasses.asdict(state)
    s["epoch_losses"], s["epoch_est_losses"] = list(state.epoch_losses), list(state.epoch_est_losses)
    return {**extra, "format": CHECKPOINT_FORMAT, "model": cfg.model, "model_kwargs": dict(cfg.model_kwargs),
            "weights": eval_model.state_dict(), "raw_weights": model.state_dict(),
            "optimizer": optimizer.state_dict(), "ema_state": ema.state_dict() if ema else None,
            "scaler": speed.state_dict(), "rng_state": torch.get_rng_state(),
            "cuda_rng_state": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
            **s, "steps_asked": steps_asked, "parameters": parameters,
            "config": json.loads(json.dumps(dataclasses.asdict(cfg)))}


def resume(ckpt: dict, cfg, model: nn.Module, optimizer, ema, speed, ranks, device, last_path) -> RunState:
    """Load ``ckpt`` (from ``payload``) into the model, optimiser, EMA, scaler and RNG; its RunState.
    Under torchrun each rank takes its own RNG states and partial-epoch losses."""
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
    state = RunState.from_checkpoint(ckpt)
    if ranks.distributed and ckpt.get("rank_states"):  # this rank's own partial epoch
        mine = ckpt["rank_states"][ranks.rank]
        state.epoch_losses, state.epoch_est_losses = list(mine["epoch_losses"]), list(mine["epoch_est_losses"])
    return state


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
        raise FileNotFoundError(f"checkpoint {path} does not exist: check the path, or train one (notebook 02 "
                                "writes runs/<ours>/best.pt; outside a clone `deblur prepare` then `deblur train "
                                "--recipe ours --out-dir runs/ours`, about 7 minutes on 2 CPU cores, README.md)")
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
