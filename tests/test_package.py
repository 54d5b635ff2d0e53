"""The package as `pip install .` or `pip install git+...` delivers it: the built wheel holds every
subpackage and every file the package reads (the parameter sets, the report's chapter of differences),
and installed without the checkout, the `deblur` console script and `python -m deblur_utils plan` work."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "deblur_utils"


def _setuptools_here() -> bool:
    """Whether this environment's setuptools can build the wheel itself (else pip fetches one to build with)."""
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 64


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    isolation = ["--no-build-isolation"] if _setuptools_here() else []
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *isolation, "-w", str(out),
                           str(ROOT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return next(out.glob("deblur_utils-*.whl"))


def test_the_wheel_holds_every_subpackage_and_the_files_the_package_reads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    source = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*") if p.is_file()
              and "__pycache__" not in p.parts and p.suffix in (".py", ".yaml", ".md")}
    missing = sorted(source - names)
    assert not missing, f"the wheel lacks {missing}: list them in pyproject.toml's [tool.setuptools]"
    packages = {p.parent.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("__init__.py")}
    assert {"deblur_utils/params", "deblur_utils/training", "deblur_utils/evaluation"} <= packages


def test_installed_without_the_checkout_the_commands_work(wheel, tmp_path):
    """Installed into a folder of its own (its dependencies from this environment), run from elsewhere:
    the console script answers, the parameter sets ship with it, and a YAML path still overrides."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, text=True)
    env = {**os.environ, "PYTHONPATH": str(site), "DEBLUR_WORKDIR": str(tmp_path / "work")}
    env.pop("DEBLUR_PARAMS", None)

    def run(*cmd):
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert "deblur" in run(str(site / "bin" / "deblur"), "--help")
    where = run(sys.executable, "-c", "import deblur_utils; print(deblur_utils.__file__)")
    assert where.startswith(str(site)), where
    assert "fits one session" in run(sys.executable, "-m", "deblur_utils", "plan", "--params", "full")
    mine = tmp_path / "mine.yaml"
    mine.write_text("ours:\n  epochs: 1\n")
    assert "| 02 | ours | 512 |" in run(sys.executable, "-m", "deblur_utils", "plan", "--params", str(mine),
                                           "--frames", "2400")
