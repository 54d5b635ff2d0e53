"""CPU arithmetic that is the same on every x86 machine: the kernels and the thread count a CPU
training run computes with.

A recipe is defined in steps (``training/config.py``), yet on the CPU the float sums inside a step
still depend on the machine: oneDNN picks its convolution kernels by the widest instruction set the
CPU has (AVX2, AVX-512, AMX), and the weight gradient of a convolution is summed over the batch in
one order per thread count. Each difference is in the last bit, but thousands of steps grow it into
another model: the default recipe trained on an AVX2 CPU and on an AVX-512 one differed by 0.13 dB
at preset b (docs/results.md, "The same numbers elsewhere"). So:

- oneDNN is held to its AVX2 kernels (``ONEDNN_MAX_CPU_ISA=AVX2``), which x86-64 CPUs have had
  since 2013 (Intel) and 2015 (AMD);
- MKL (the FFTs of the Wiener layer, the estimator's matrix products) to its AVX2 code path on Intel
  and AMD alike (``MKL_CBWR=AVX2``, MKL's conditional numerical reproducibility);
- a single-process CPU training run computes with ``cpu_threads`` threads (``TrainConfig``, 2 in
  every parameter set), whatever the machine has.

ATen's own vectorised kernels (``ATEN_CPU_CAPABILITY``) stay at the CPU's best: held to AVX2 on an
AVX-512 CPU they changed neither the weights after 40 training steps nor one pixel of ours'
predictions of the test split.

Both libraries read their variable when they first compute, so ``pin_cpu_kernels`` runs when
``deblur_utils`` is imported (before a notebook computes anything with torch) and the processes it
starts (papermill's kernels, torchrun's workers) inherit it. A value already in the environment
wins: ``ONEDNN_MAX_CPU_ISA=ALL MKL_CBWR=AUTO`` gives back the CPU's widest kernels (ours'
3,072-step recipe in 3.6 minutes instead of 4.4 on a 2-core AVX-512 CPU,
``benchmarks/cross_cpu.py --isa native``), at the price of numbers that differ from machine to machine by about a seed's spread.
GPU runs are not affected: cuDNN computes there, and a GPU's numbers are its own.
Two CPUs with the same pins can still part: an Intel Xeon and an AMD EPYC trained ours' mean PSNRs within 0.2 dB
of each other, ATen held to AVX2 on both (docs/results.md, "The same numbers elsewhere");
``benchmarks/fingerprint.py`` digests each kind of arithmetic and the first steps, to find which.
"""
from __future__ import annotations

import contextlib
import os

# What the kernels are held to, and the variables that hold them (read once, at the library's first use).
PINNED = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
CPU_THREADS = 2  # the thread count of a CPU training run unless its recipe says otherwise


def pin_cpu_kernels(environ=os.environ) -> dict:
    """Set every variable of ``PINNED`` that ``environ`` does not already set; returns the values in force."""
    for name, value in PINNED.items():
        environ.setdefault(name, value)
    return {name: environ[name] for name in PINNED}


def cpu_kernels() -> dict:
    """The pins in force in this process, for a run's summary: {"ONEDNN_MAX_CPU_ISA": ..., "MKL_CBWR": ...}."""
    return {name: os.environ.get(name) for name in PINNED}


def portable(summary: dict) -> bool | None:
    """Whether a run's numbers are every x86 CPU's: a CPU run with the pinned kernels and a fixed thread
    count (its summary's ``cpu_kernels`` and ``cpu_threads_fixed``); None for a run that does not say
    (a GPU run, or one trained before the summaries recorded it)."""
    if "cpu_kernels" not in summary:
        return None
    return summary["cpu_kernels"] == PINNED and bool(summary.get("cpu_threads_fixed"))


@contextlib.contextmanager
def cpu_threads(threads: int | None):
    """torch computes with ``threads`` intra-op threads inside the block (0 or None: as it is)."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)
