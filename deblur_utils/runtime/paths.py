"""Where every file lives: the one home of the project's paths.

Generated artifacts go under the *work directory*: the folder the environment variable
``DEBLUR_WORKDIR`` names, else the project's checkout (the folder holding ``notebooks/`` and
``pyproject.toml`` beside this package), else, for a package installed without a checkout
(``pip install git+...``), the current directory. The test suite sets ``DEBLUR_WORKDIR`` so it never
overwrites the report's figures::

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

PACKAGE_DIR = Path(__file__).resolve().parent.parent   # deblur_utils/
PACKAGE_PARENT = PACKAGE_DIR.parent                     # what a child process puts on its path to import it
# The report's notebooks, in the order they run.
NOTEBOOKS = ("01_blur_dataset", "02_train_srcnn", "03_per_blur_small_models", "04_psnr_eval", "05_qualitative")


def checkout_root() -> Path | None:
    """The project's checkout when this package runs from one (an editable install, a clone), else None."""
    root = PACKAGE_PARENT
    return root if (root / "notebooks").is_dir() and (root / "pyproject.toml").is_file() else None


def project_root() -> Path:
    """The checkout, or the current directory for an installed package: where ``data/external/`` (the
    unpacked Debian photo packages, shared by every work directory) and the default work directory are."""
    return checkout_root() or Path.cwd().resolve()


def notebooks_dir() -> Path:
    """``notebooks/`` of the checkout; an error with the fix when the package was installed without one."""
    root = checkout_root()
    if root is None:
        raise FileNotFoundError(f"the notebooks are not installed with the package ({PACKAGE_DIR}): the report "
                                "runs from a clone of the repository (git clone ...; pip install -e .)")
    return root / "notebooks"


def workdir() -> Path:
    """The folder that holds data/, runs/, reports/ and figures/ (env DEBLUR_WORKDIR, else ``project_root``)."""
    return Path(os.environ.get("DEBLUR_WORKDIR") or project_root()).resolve()


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


def manifest_path() -> Path:
    """data/processed/manifest.json: where every photo of every split and of the real-photo sets comes from."""
    return processed_dir() / "manifest.json"


def runs_dir() -> Path:
    return workdir() / "runs"


def methods_path() -> Path:
    """runs/methods.json: the checkpoints of the latest training of each learned method (what 04 grades)."""
    return runs_dir() / "methods.json"


def reports_dir() -> Path:
    return workdir() / "reports"


def figures_dir() -> Path:
    return workdir() / "figures"


def metrics_path() -> Path:
    return reports_dir() / "metrics.json"


def real_photos_path() -> Path:
    return reports_dir() / "real_photos.json"


def sweep_path() -> Path:
    return reports_dir() / "sigma_sweep.json"


def predictions_dir() -> Path:
    """reports/predictions/<method>/<preset>/<frame>.png: what notebook 04 graded, for notebook 05."""
    return reports_dir() / "predictions"


def resolve(path) -> Path:
    """A user path: absolute as given, relative to the work directory otherwise."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else workdir() / p
