"""What a parameter set costs before it runs: minutes per notebook and per training run on one GPU.

The estimate counts floating-point operations (``torch.utils.flop_counter``: convolutions and
matrix products, forward and backward; FFTs not counted) of every optimiser step, every validation
and every frame graded, and divides by a planning rate: ``PLAN_TFLOPS`` = 5 TFLOP/s, what one T4
or P100 sustains in float32 (their peaks are 8.1 and 9.3). Work that runs on the CPU whatever the
device (notebook 01's frames, the classical baselines of 04) is counted in CPU seconds per frame at
``cores`` processes. With mixed precision on a T4's tensor cores the GPU part runs faster; the plan
is meant to err long.

A parameter set fits one session when the estimate fits and so does the worst case, where every run
is cut by its cap (``max_minutes``) and nothing else shrinks; a cap below its run's estimate would cut
the recipe on the planning GPU. ``check`` names whatever fails.

    python -m deblur_utils plan --params full --frames 24000
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..data.blur import EVAL_BLURS
from ..data.real_photos import PHOTOS
from ..networks.registry import build_model
from ..params import Params
from ..report.tables import markdown_table
from .evaluate import given_sigma_methods
from .runs import training_runs

PLAN_TFLOPS = 5.0            # sustained float32 TFLOP/s of one T4 or P100: the planning rate
SESSION_HOURS = 9.0          # what the full recipe must fit (Kaggle ends sessions after 9-12 hours)
# CPU seconds, measured on a 2-core AVX2 CPU (benchmarks/course_scale.py, figures in benchmarks/README.md; 04's classical
# baselines at the default parameters): decode + resize + blur + write of one 1280x720 frame (a camera
# PNG of 1.6 MB), decoding one Set A/B PNG into the cache, one Wiener deconvolution, one
# Richardson-Lucy iteration.
PREPARE_CPU_S = 0.068
CACHE_CPU_S = 0.0036
WIENER_CPU_S = 0.03
RL_ITERATION_CPU_S = 0.03
COUNT_SCALE = 4              # FLOPs are counted on frames 4x smaller per side, then scaled by the pixels


@dataclass
class Run:
    """One training run of the plan: its notebook, steps, FLOPs and minutes at the planning rate."""

    notebook: str
    name: str
    steps: int
    validations: int
    step_tflop: float
    validation_tflop: float
    cap_minutes: float | None

    @property
    def minutes(self) -> float:
        return (self.steps * self.step_tflop + self.validations * self.validation_tflop) / PLAN_TFLOPS / 60


def _counted(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


_FORWARD: dict = {}


def forward_tflop(model_name: str, model_kwargs: dict, height: int = 256, width: int = 448) -> float:
    """TFLOP of one forward pass over one frame of height x width (counted smaller, scaled by pixels)."""
    key = (model_name, json.dumps(model_kwargs, sort_keys=True), height, width)
    if key not in _FORWARD:
        _FORWARD[key] = _forward_tflop(model_name, model_kwargs, height, width)
    return _FORWARD[key]


def _forward_tflop(model_name: str, model_kwargs: dict, height: int, width: int) -> float:
    torch.manual_seed(0)
    model = build_model(model_name, **model_kwargs).eval()
    h, w = max(32, height // COUNT_SCALE), max(32, width // COUNT_SCALE)
    with torch.no_grad():
        flops = _counted(lambda: model(torch.rand(1, 3, h, w)))
    return flops * (height * width) / (h * w) / 1e12


def step_tflop(cfg, frame=(256, 448)) -> float:
    """TFLOP of one optimiser step of a ``TrainConfig``: forward and backward over its batch of crops
    (or whole frames), and for a blind model its estimator's batch."""
    torch.manual_seed(0)
    model = build_model(cfg.model, **cfg.model_kwargs)
    side_h, side_w = (cfg.crop_size, cfg.crop_size) if cfg.crop_size else frame
    h, w = max(32, side_h // COUNT_SCALE), max(32, side_w // COUNT_SCALE)
    x = torch.rand(1, 3, h, w)
    blind = getattr(model, "blind", False)

    def one():
        y = model(x, sigma=torch.ones(1)) if blind else model(x)
        y.float().mean().backward()

    flops = _counted(one) * (side_h * side_w) / (h * w) * cfg.batch_size
    if blind:  # the estimator's own crops, at their size: no scaling
        tile = model.estimator.tile
        flops += _counted(lambda: model.estimator.loss(torch.rand(cfg.estimator_batch, 3, tile, tile),
                                                       torch.ones(cfg.estimator_batch)).backward())
    return flops / 1e12


def runs(P: Params, frames: int) -> list[Run]:
    """Every training run of notebooks 02 and 03 (``runs.training_runs``) for a data folder of ``frames`` frames."""
    n_train = round(frames * (1 - P.val_fraction - P.test_fraction))
    n_train = min(n_train, P.train_max_frames or n_train)
    n_val = max(1, round(frames * P.val_fraction))
    n_val = min(n_val, P.val_max_frames or n_val)
    out = []
    for run in training_runs(P):
        cfg = run.config
        samples = cfg.epoch_samples or n_train * len(cfg.presets)
        steps = max(1, samples // cfg.batch_size) * cfg.epochs
        out.append(Run(run.notebook, run.name, steps, cfg.epochs, step_tflop(cfg),
                       n_val * len(cfg.presets) * forward_tflop(cfg.model, cfg.model_kwargs), cfg.max_minutes))
    return out


def plan(P: Params, frames: int, cores: int = 2) -> dict:
    """Minutes per notebook (and per run) of parameter set ``P`` on ``frames`` raw frames."""
    train_runs = runs(P, frames)
    n_test = max(1, round(frames * P.test_fraction))
    n_test = min(n_test, P.test_max_frames or n_test)
    n_tune = P.tune_max_frames
    presets = len(P.presets)
    n_train = round(frames * (1 - P.val_fraction - P.test_fraction))
    cpu = {"01": frames * PREPARE_CPU_S / cores / 60,
           "02": n_train * (1 + presets) * CACHE_CPU_S / 60}  # the training cache, built once
    real = (P.real_frames_per_photo * (P.real_max_photos or len(PHOTOS)) * len(EVAL_BLURS)
            if P.real_photos else 0)  # the real-photo test set's frames, at every blur
    # 04: every learned model on the test split (the per-preset ones at their preset), the sweep with the
    # best, the real-photo set; the classical baselines tuned on validation frames, then graded.
    configs = [(run.name, run.config) for run in training_runs(P)]
    per_frame = {name: forward_tflop(cfg.model, cfg.model_kwargs) for name, cfg in configs}
    gpu04 = sum(per_frame[name] * n_test * len(cfg.presets) for name, cfg in configs)
    gpu04 += per_frame.get("ours", 0) * (len(P.sweep_sigmas) * (P.sweep_max_frames or n_test) + real)
    # ours' checkpoint graded again per given-sigma row (the one-blur row's estimates cost little beside it)
    gpu04 += len(given_sigma_methods(P)) * per_frame.get("ours", 0) * (n_test * presets + real)
    rl = sum(P.rl_iterations) * RL_ITERATION_CPU_S
    cpu04 = presets * (n_tune * (len(P.wiener_balances) * WIENER_CPU_S + rl)
                       + n_test * (WIENER_CPU_S + max(P.rl_iterations) * RL_ITERATION_CPU_S)) / 60
    notebooks = {"01": cpu["01"], "02": cpu["02"], "03": 0.0, "04": gpu04 / PLAN_TFLOPS / 60 + cpu04, "05": 0.5}
    for r in train_runs:
        notebooks[r.notebook] += r.minutes
    capped = sum((r.cap_minutes or r.minutes) for r in train_runs)
    worst = notebooks["01"] + cpu["02"] + notebooks["04"] + notebooks["05"] + capped
    return {"frames": frames, "cores": cores, "tflops": PLAN_TFLOPS, "runs": train_runs, "notebooks": notebooks,
            "total_minutes": sum(notebooks.values()), "worst_case_minutes": worst,
            "session_minutes": SESSION_HOURS * 60}


def check(result: dict) -> list[str]:
    """What keeps the plan from fitting one session; empty when it fits."""
    problems = []
    limit = result["session_minutes"]
    if result["total_minutes"] > limit:
        problems.append(f"the estimate, {result['total_minutes']:.0f} minutes, is over the session's {limit:.0f}")
    if result["worst_case_minutes"] > limit:
        problems.append(f"with every run stopped by its cap it takes {result['worst_case_minutes']:.0f} minutes, "
                        f"over the session's {limit:.0f}: lower the max_minutes caps")
    for r in result["runs"]:
        if r.cap_minutes is not None and r.cap_minutes < r.minutes:
            problems.append(f"{r.name}: its cap of {r.cap_minutes:g} minutes is below its estimate of "
                            f"{r.minutes:.0f}: the recipe would be cut on the planning GPU")
    return problems


def table(result: dict) -> str:
    """The plan as two markdown tables: each run, then each notebook."""
    runs_md = markdown_table(
        ["notebook", "run", "steps", "TFLOP / step", "validations", "minutes", "cap (minutes)"],
        [[r.notebook, r.name, f"{r.steps:,}", f"{r.step_tflop:.3f}", r.validations, f"{r.minutes:.1f}",
          "none" if r.cap_minutes is None else f"{r.cap_minutes:g}"] for r in result["runs"]])
    nb = markdown_table(["notebook", "minutes"],
                        [[n, f"{m:.0f}"] for n, m in result["notebooks"].items()] +
                        [["all", f"{result['total_minutes']:.0f}"],
                         ["all, every run stopped by its cap", f"{result['worst_case_minutes']:.0f}"]])
    head = (f"{result['frames']:,} frames; GPU work at {result['tflops']:g} TFLOP/s, CPU work on "
            f"{result['cores']} cores; session {result['session_minutes'] / 60:g} hours")
    return f"{head}\n\n{runs_md}\n\n{nb}"

