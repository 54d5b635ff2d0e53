"""Data-parallel training over several processes with PyTorch's own engine (torch.distributed).

``torchrun`` starts one copy of the command per GPU (or per CPU worker) and tells each its place
through the environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)::

    python -m torch.distributed.run --standalone --nproc_per_node 2 -m deblur_utils train ...

``training.loop.train`` calls ``setup``, which joins the process group when those variables are there
(NCCL with one GPU per process, cuda:LOCAL_RANK; Gloo on the CPU) and otherwise returns the one
process it always was, touching nothing. In a group:

- the model is wrapped in ``DistributedDataParallel`` (``wrap``), which averages the gradients
  over the ranks during ``backward``, so every rank takes the same optimiser step;
- each rank trains on its own shard of every epoch (``training.order.RankShard``: positions rank, rank + N, ...
  of that epoch's ``EpochOrder``, a new permutation each epoch), or, for crops blurred on the
  device, on its own stream (``rank_seed``): still a pure function of (seed, epoch or step, rank);
- ``batch_size`` is per process: a step sees N x batch_size images and an epoch has 1/N the steps;
- rank 0 alone validates, logs and writes files; decisions taken on one clock (time budget,
  time-based checkpoints) are agreed by all ranks (``any_rank``), so no rank waits for another
  that has stopped;
- checkpoints carry every rank's RNG state and partial epoch losses (``rank_states``), so a run
  resumed with the same number of processes continues bit for bit like an uninterrupted one.

Resuming with a different number of processes works from an end-of-epoch checkpoint; a
mid-epoch one is refused (its position counts per-rank batches).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from . import paths
from .atomic import write_json_atomic

# Rank 0 validates while the others wait at their next collective: allow long validations.
TIMEOUT = timedelta(minutes=60)


@dataclass
class Ranks:
    """This process's place: rank among world_size (one process unless ``distributed``)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    distributed: bool = False
    owns_group: bool = False   # setup() created the process group, so teardown() destroys it
    comm_device: torch.device = torch.device("cpu")  # where collective tensors live (CUDA for NCCL)

    @property
    def main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """torchrun (torch.distributed.run) sets RANK and WORLD_SIZE for each process it starts."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device: torch.device) -> tuple[Ranks, torch.device]:
    """Join the process group when started by torchrun (or when one exists); else (one process, device).

    On CUDA each process takes GPU LOCAL_RANK and the backend is NCCL; on the CPU it is Gloo.
    """
    if not dist.is_available() or not (dist.is_initialized() or launched_by_torchrun()):
        return Ranks(), device
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device.type == "cuda":
        n = torch.cuda.device_count()
        if local_rank >= n:
            raise RuntimeError(f"process {local_rank} of this machine has no GPU of its own ({n} visible): "
                               f"start torchrun with --nproc_per_node {n} or fewer, or train on device='cpu'")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise RuntimeError(f"device {device.type!r}: torch.distributed has no backend for it. Train with "
                           "device='cpu' under torchrun, or in one process without torchrun")
    backend = "nccl" if device.type == "cuda" else "gloo"
    owns = not dist.is_initialized()
    if owns:  # env:// rendezvous: the variables torchrun set
        dist.init_process_group(backend, timeout=TIMEOUT)
    elif dist.get_backend() != backend:
        raise RuntimeError(f"the process group uses {dist.get_backend()} but training on {device} needs "
                           f"{backend}: initialise it with {backend!r}, or let train() do it (torchrun)")
    ranks = Ranks(dist.get_rank(), dist.get_world_size(), local_rank, True, owns,
                  device if backend == "nccl" else torch.device("cpu"))
    return ranks, device


def teardown(ranks: Ranks) -> None:
    if ranks.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ranks: Ranks) -> None:
    """Every rank waits here for the others (rank 0 has finished writing when the others return)."""
    if ranks.distributed:
        dist.barrier(device_ids=[ranks.comm_device.index] if ranks.comm_device.type == "cuda" else None)


def wrap(model: torch.nn.Module, speed, ranks: Ranks, find_unused: bool = False) -> torch.nn.Module:
    """``model`` in DistributedDataParallel (gradients averaged over ranks), laid out and compiled as
    ``speed`` says: layout before wrapping (DDP's buckets view the parameters), compile after."""
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)
    cuda = ranks.comm_device.type == "cuda"
    ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[ranks.comm_device.index] if cuda else None,
                                                    find_unused_parameters=find_unused)
    return torch.compile(ddp) if speed.compile else ddp


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s random streams: ``seed`` itself on rank 0 (one process is unchanged),
    far from any other rank's (streams are seeded with (seed * 1_000_003 + step) * 8 + k)."""
    return seed + rank * 1_000_000_007


def any_rank(flag: bool, ranks: Ranks) -> bool:
    """True on every rank when it is True on any: one decision for a time budget read on N clocks."""
    if not ranks.distributed:
        return flag
    t = torch.tensor([int(bool(flag))], device=ranks.comm_device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def rank_states(ranks: Ranks, device: torch.device, losses, est_losses) -> list | None:
    """Every rank's RNG states and partial epoch losses, gathered on every rank (what a checkpoint
    needs to resume each rank exactly); None in one process. A collective: all ranks call it."""
    if not ranks.distributed:
        return None
    mine = {"rng_state": torch.get_rng_state(),
            "cuda_rng_state": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "epoch_losses": list(losses), "epoch_est_losses": list(est_losses)}
    out = [None] * ranks.world_size
    dist.all_gather_object(out, mine)
    return out


def launch(cfg: dict, processed_dir, run_dir, nproc: int, log=print, threads: int | None = None) -> dict:
    """Train ``cfg`` (a TrainConfig as a dict) in ``nproc`` processes started by torchrun (``nproc`` 1: one
    plain child process), from a notebook, a sweep or the scaling measurement: the config goes to
    run_dir/launch_config.json, the children's output is relayed through ``log``; ``threads`` sets
    OMP_NUM_THREADS per process. Returns rank 0's summary with its history, like train()."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "launch_config.json"
    write_json_atomic(cfg_path, cfg)
    runner = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] if nproc > 1 else []
    cmd = [sys.executable, *runner, "-m", "deblur_utils", "train", "--config", str(cfg_path),
           "--data-dir", str(processed_dir), "--out-dir", str(run_dir)]
    package_root = str(paths.PACKAGE_PARENT)  # the children import this very deblur_utils
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
           "TQDM_MININTERVAL": "30", **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    tail = deque(maxlen=30)
    for line in proc.stdout:
        log(line.rstrip())
        tail.append(line)
    if proc.wait() != 0:
        raise RuntimeError(f"training in {nproc} processes into {run_dir} failed (exit {proc.returncode}); "
                           f"command: {' '.join(cmd)}\nlast lines:\n{''.join(tail)}"
                           "Lower nproc (1 trains in this process), or run the command in a terminal to see it all.")
    summary = json.loads((run_dir / "summary.json").read_text())
    history = run_dir / "history.json"  # absent when the budget ended it before one epoch
    summary["history"] = json.loads(history.read_text()) if history.exists() else []
    return summary
