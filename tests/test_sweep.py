"""A width sweep runs notebooks 02 and 04 per configuration with papermill, each in its own folder,
goes on past a failed configuration (exit 1, named), skips finished ones on a rerun, and draws
PSNR per preset against parameter count and training time, with a table."""
import json

import pytest

from deblur_utils import cli, params
from deblur_utils.networks.registry import build_model, count_parameters
from deblur_utils.report import sweep
from deblur_utils.runtime import paths
from deblur_utils.steps.prepare import prepare
from deblur_utils.steps.records import graded_learned


def test_sweep_over_two_widths_writes_table_and_figure_and_reports_a_failure(isolated_workdir, capsys):
    prepare(params.load_params("ci"), progress=False)  # shared by the configurations (else 01 runs first)
    # width 6 fails before its notebooks run: its folder already holds a data/ folder of its own
    (sweep.sweep_dir() / "srcnn_width6" / "data").mkdir(parents=True)
    rc = cli.main(["sweep", "--widths", "4", "6", "8", "--params", "ci"])
    out = capsys.readouterr().out
    assert rc == 1 and "FAILED srcnn_width6" in out and "is a folder of its own" in out

    result = json.loads((sweep.sweep_dir() / "sweep.json").read_text())
    assert [f["width"] for f in result["failed"]] == [6]
    rows = {r["width"]: r for r in result["rows"]}
    assert sorted(rows) == [4, 8]
    for w, r in rows.items():
        assert r["method"] == "srcnn_faithful"
        assert r["parameters"] == count_parameters(build_model("srcnn", width=w))  # 3*81*w+w + w*w+w + w*25*3+3
        assert r["train_minutes"] > 0 and r["steps"] > 0
        assert set(r["psnr_db"]) == {"a", "b", "c", "all"} and all(0 < v < 100 for v in r["psnr_db"].values())
        cfg_dir = sweep.sweep_dir() / f"srcnn_width{w}"
        assert (cfg_dir / "02_train_srcnn.ipynb").exists() and (cfg_dir / "04_psnr_eval.ipynb").exists()
        assert graded_learned(json.loads((cfg_dir / "reports" / "metrics.json").read_text())) == ["srcnn_faithful"]
    assert not paths.metrics_path().exists(), "a sweep must not overwrite the report's metrics.json"
    figure = paths.figures_dir() / f"{sweep.FIGURE}.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (sweep.sweep_dir() / "sweep.md").read_text()
    assert table.count("\n| srcnn | ") == 2 and "PSNR b (dB)" in table

    # a rerun skips what is finished
    assert cli.main(["sweep", "--widths", "4", "8", "--params", "ci"]) == 0
    out = capsys.readouterr().out
    assert out.count("finished before, skipped") == 2 and "02_train_srcnn" not in out


def test_sweep_outside_a_clone_says_so_before_it_writes_anything(isolated_workdir, monkeypatch):
    """Installed without the repository there are no notebooks to run: the sweep says so and leaves no
    empty folder behind."""
    monkeypatch.setattr(paths, "checkout_root", lambda: None)
    with pytest.raises(FileNotFoundError, match="the notebooks are not installed with the package"):
        sweep.run_sweep([8])
    assert not sweep.sweep_dir().exists()
