"""Notebooks 02 and 03: the training runs a parameter set asks for, and training them.

``training_runs(P)`` is the one list of runs: notebook 02 trains its part (``train_02``: the faithful
SRCNN, the residual SRCNN, ours), notebook 03 its own (the report's small SRCNN per preset, and with
``told_runs`` ours told each preset's blur), and ``plan`` costs the same list. Each run is a recipe
of the parameter set (``Params.train_config``), a run folder named after its configuration, and the
method name notebook 04 grades it as (recorded in runs/methods.json by ``registry``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..data.blur import get_preset
from ..params import Params
from ..runtime import distributed, paths
from ..training.config import TrainConfig
from ..training.loop import train
from . import registry

RUNS_02 = ("faithful", "residual", "ours")


@dataclass(frozen=True)
class TrainingRun:
    """One training run: the notebook that trains it, its name (``faithful``, ``small b``...), the method
    notebook 04 grades it as, its TrainConfig, and the prefix of its run folder."""

    notebook: str
    name: str
    method: str
    config: TrainConfig
    prefix: str = ""

    @property
    def run_dir(self) -> Path:
        return paths.runs_dir() / run_name(self.config, self.prefix)


def run_name(cfg: TrainConfig, prefix: str = "") -> str:
    """Experiment names that encode the configuration, e.g. ``srcnn_width64`` or ``small_srcnn_width76_b``."""
    kw = "_".join(f"{k}{v}" for k, v in sorted(cfg.model_kwargs.items()) if k != "fixed_sigma")
    presets = "" if list(cfg.presets) == ["a", "b", "c"] else "_" + "".join(cfg.presets)
    return f"{prefix}{cfg.model}_{kw}{presets}"


def ours_method(P: Params) -> str:
    """Notebook 04's name for our model: ``ours_<model>``, e.g. ``ours_blind_wiener``."""
    return f"ours_{P.recipe('ours')['model']}"


def told_method(P: Params) -> str:
    return f"{ours_method(P)}_told_blur"


def runs_02(P: Params) -> list[TrainingRun]:
    """Notebook 02's runs that ``train_02`` names, in the order 02 trains them."""
    unknown = [r for r in P.train_02 if r not in RUNS_02]
    if unknown:
        raise ValueError(f"train_02 names unknown run(s) {unknown}: choose from {list(RUNS_02)}")
    methods = {"faithful": "srcnn_faithful", "residual": "residual_srcnn", "ours": ours_method(P)}
    return [TrainingRun("02", r, methods[r], P.train_config(r)) for r in RUNS_02 if r in P.train_02]


def small_runs(P: Params) -> list[TrainingRun]:
    """Notebook 03's ~30K-parameter SRCNNs, one per preset, each on its own preset."""
    return [TrainingRun("03", f"small {p}", "srcnn_small_per_blur", P.train_config("small", presets=[p]), "small_")
            for p in P.presets]


def told_runs(P: Params) -> list[TrainingRun]:
    """Notebook 03's runs of ours told the blur (``told_runs``), one per preset: sigma fixed to the
    preset's, trained on that preset's Set B only; none unless the set asks for them."""
    if not P.told_runs:
        return []
    out = []
    for p in P.presets:
        preset = get_preset(p)
        kwargs = {**P.recipe("told").get("model_kwargs", {}), "fixed_sigma": preset.sigma}
        cfg = P.train_config("told", model_kwargs=kwargs, presets=[preset.name], blur_sampling="sets")
        out.append(TrainingRun("03", f"told {preset.name}", told_method(P), cfg, "told_"))
    return out


def training_runs(P: Params) -> list[TrainingRun]:
    """Every training run of notebooks 02 and 03, in the order they train."""
    return runs_02(P) + small_runs(P) + told_runs(P)


def train_run(run: TrainingRun, nproc: int = 1, progress: bool = True) -> dict:
    """Train ``run`` into its run folder and record its checkpoint for notebook 04 to grade.

    ``nproc`` > 1 trains data-parallel in that many processes started by torchrun (distributed.launch)."""
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be an integer >= 1 (processes per training run), got {nproc!r}")
    if nproc > 1:
        summary = distributed.launch(dataclasses.asdict(run.config), paths.processed_dir(), run.run_dir, nproc)
    else:
        summary = train(run.config, paths.processed_dir(), run.run_dir, progress=progress)
    if (run.run_dir / "best.pt").exists():
        registry.register(run.method, run.config.presets, run.run_dir / "best.pt")
    return summary


def train_02(P: Params, name: str, progress: bool = True) -> dict | None:
    """Notebook 02's run ``name`` (faithful, residual or ours) when ``train_02`` names it, else None (a
    width sweep trains only the swept model)."""
    if name not in RUNS_02:
        raise ValueError(f"notebook 02 trains {list(RUNS_02)}, not {name!r}")
    run = next((r for r in runs_02(P) if r.name == name), None)
    return None if run is None else train_run(run, P.nproc, progress)


def train_small(P: Params, progress: bool = True) -> dict:
    """Notebook 03's small SRCNNs: {preset: summary}."""
    return {r.config.presets[0]: train_run(r, progress=progress) for r in small_runs(P)}


def train_told(P: Params, progress: bool = True, log=print) -> dict:
    """Notebook 03's runs of ours told the blur, {preset: summary}, when ``told_runs`` asks for them.
    Else none, and told runs an earlier parameter set recorded are taken off runs/methods.json (their
    checkpoints stay in runs/), so that notebook 04 grades what this set trains: 02's checkpoint
    given the true sigma stands in for them."""
    runs = told_runs(P)
    if runs:
        return {r.config.presets[0]: train_run(r, progress=progress) for r in runs}
    if registry.unregister(told_method(P)):
        log("told_runs is off: the told runs recorded earlier are no longer graded (their checkpoints stay in runs/)")
    return {}
