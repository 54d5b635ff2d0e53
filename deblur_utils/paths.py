"""Where every file lives: the one home of the project's paths.

Generated artifacts go under the *work directory*, which is the project root
unless the environment variable ``DEBLUR_WORKDIR`` names another folder (the
test suite uses that so it never overwrites the report's figures)::

    data/raw/embedded/<seq>/<frame>.png     built from photos shipped in wheels
    data/processed/sharp/<seq>/<frame>.png  Set A, 256x448 uint8
    data/processed/blur_<p>/<seq>/...       Set B, one folder per preset
    data/processed/splits.json              train/val/test by sequence
    data/processed/cache/                   uint8 .npy arrays, memory-mapped
    runs/<name>/                            checkpoints, history, config
    reports/                                executed notebooks, HTML, metrics.json
    figures/                                report figures (PNG)
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
# The report's notebooks, in the order they run.
NOTEBOOKS = ("01_blur_dataset", "02_train_srcnn", "03_per_blur_small_models", "04_psnr_eval", "05_qualitative")
PARAMS_DIR = PROJECT_ROOT / "params"


def workdir() -> Path:
    """The folder that holds data/, runs/, reports/ and figures/ (env DEBLUR_WORKDIR, else the project root)."""
    return Path(os.environ.get("DEBLUR_WORKDIR") or PROJECT_ROOT).resolve()


def data_dir() -> Path:
    return workdir() / "data"


def embedded_raw_dir() -> Path:
    return data_dir() / "raw" / "embedded"


def processed_dir() -> Path:
    return data_dir() / "processed"


def sharp_dir(processed: Path | None = None) -> Path:
    return Path(processed or processed_dir()) / "sharp"


def blur_dir(preset_name: str, processed: Path | None = None) -> Path:
    return Path(processed or processed_dir()) / f"blur_{preset_name}"


def splits_path(processed: Path | None = None) -> Path:
    return Path(processed or processed_dir()) / "splits.json"


def cache_dir(processed: Path | None = None) -> Path:
    return Path(processed or processed_dir()) / "cache"


def runs_dir() -> Path:
    return workdir() / "runs"


def reports_dir() -> Path:
    return workdir() / "reports"


def figures_dir() -> Path:
    return workdir() / "figures"


def metrics_path() -> Path:
    return reports_dir() / "metrics.json"


def resolve(path) -> Path:
    """A user path: absolute as given, relative to the work directory otherwise."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else workdir() / p
