"""benchmarks/quality.py end to end on the CI parameter set (tiny data, seconds of training)."""
import importlib.util
import json
import os
from pathlib import Path

import pytest

from deblur_utils import config, paths

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "quality.py"


def load_quality(path=BENCH):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quality_benchmark_prints_gains_seeds_and_ablation(tmp_path, monkeypatch, capsys):
    q = load_quality()
    monkeypatch.setattr(q, "ABLATIONS", {"ours (as configured)": {}, "MSE loss": {"loss": "mse"}})
    out = q.main(["--param-set", "ci", "--seeds", "0", "1", "--ablation", "--ablation-minutes", "0.05",
                  "--json", str(tmp_path / "q.json"), "--no-progress"])
    printed = capsys.readouterr().out
    assert "vs best classical" in printed and "spread (max - min)" in printed and "ablation" in printed
    saved = json.loads((tmp_path / "q.json").read_text())
    learned = {"srcnn_faithful", "residual_srcnn", "ours_blind_wiener"}  # what --train-less main() trains
    assert saved["best_method"] == out["best_method"] and saved["best_method"] in learned
    assert learned <= {r["method"] for r in saved["comparison"]}
    rows = {(r["method"], r["preset"]): r for r in saved["comparison"]}
    ident, wiener = rows[("identity", "b")], rows[("wiener", "b")]
    assert ident["gain_vs_identity_db"] == 0
    assert abs(wiener["gain_vs_identity_db"] - (wiener["psnr_db"] - ident["psnr_db"])) < 1e-9
    assert set(saved["seeds"]["spread_db"]) == {"a", "b", "c"}
    assert all(v >= 0 for v in saved["seeds"]["spread_db"].values())
    # ... and each seed's one-blur row: seed 0 is notebook 02's checkpoint, graded as notebook 04 did
    assert set(saved["seeds"]["one_blur_spread_db"]) == {"a", "b", "c"} and "one blur per set" in printed
    for p in ("a", "b", "c"):
        assert saved["seeds"]["psnr_db"]["0"]["one_blur"][p] == pytest.approx(rows[("ours_blind_wiener_one_blur", p)]["psnr_db"])
    assert set(saved["ablation"]) == {"ours (as configured)", "MSE loss"}
    # a rerun regrades finished seed runs of the same recipe instead of training them again
    P = config.load_params("ci")
    assert saved["seeds"]["psnr_db"]["1"]["checkpoint"] == str(paths.runs_dir() / "benchmarks" / "seed1" / "best.pt")
    summary, ckpt = q.reusable_run(P, 1)
    assert ckpt == paths.runs_dir() / "benchmarks" / "seed1" / "best.pt" and summary["steps"] > 0
    assert q.reusable_run(P, 0)[1] != ckpt and q.reusable_run(P, 7) is None
    assert q.reusable_run({**P, "ours": {**P["ours"], "lr": 0.5}}, 1) is None  # another recipe
    summary_file = ckpt.parent / "summary.json"  # a run cut off after its checkpoint: no finished summary
    os.utime(summary_file, (summary_file.stat().st_mtime - 60,) * 2)
    assert q.reusable_run(P, 1) is None
    # benchmarks/gate.py grades the same checkpoints with the gate read both ways
    g = load_quality(BENCH.parent / "gate.py")
    gated = g.main(["--param-set", "ci", "--splits", "test"])["test"]
    assert set(gated) == {"notebook 02", "seed1"}
    assert gated["notebook 02"]["identity"] == rows[("identity", "a")]["psnr_db"]
    assert gated["notebook 02"]["sharpest_tile"] == rows[("ours_blind_wiener", "a")]["psnr_db"]  # the default
    for r in gated.values():
        assert r["largest_sharpest_estimate"] <= r["largest_median_estimate"]
    # benchmarks/estimator.py: the same checkpoints on b, blind, told the true sigma, given the pooled estimate
    e = load_quality(BENCH.parent / "estimator.py")
    est = e.main(["--param-set", "ci", "--presets", "b"])["b"]
    assert set(est["checkpoints"]) == {"notebook 02", "seed1"} and est["true_sigma"] == 1.0
    # benchmarks/tile_statistic.py: the same checkpoints on validation frames, the tile statistic varied
    t = load_quality(BENCH.parent / "tile_statistic.py")
    tiles = t.main(["--param-set", "ci", "--quantiles", "0", "0.5", "--set-quantiles", "0", "0.5",
                    "--multiples", "0.8", "1.2"])
    assert set(tiles) == {"notebook 02", "seed1"}
    for per_q in tiles.values():
        # one sigma per set: the median of the frames' readings, so a lower tile quantile reads no higher
        set_low, set_median = per_q["set 0.0"]["embedded val"]["b"], per_q["set 0.5"]["embedded val"]["b"]
        assert set_low["log_error_mean"] <= set_median["log_error_mean"]
        assert set_low["frames"] == set_median["frames"] > 0 and set_low["worst_gain_db"] <= set_low["gain_db"]
        assert set(per_q["told_multiples"]["embedded val"]["b"]) == {0.8, 1.2}
        low, median = per_q["0.0"]["embedded val"]["b"], per_q["0.5"]["embedded val"]["b"]
        assert low["log_error_mean"] <= median["log_error_mean"]  # the sharpest tile never reads above the median
        assert low["frames"] == median["frames"] > 0 and low["worst_gain_db"] <= low["gain_db"]
    # benchmarks/views.py: notebook 02's checkpoint with the refiner's views averaged
    v = load_quality(BENCH.parent / "views.py")
    viewed = v.main(["--param-set", "ci", "--views", "1", "8"])
    one, eight = viewed["1"]["embedded val"]["b"], viewed["8"]["embedded val"]["b"]
    assert set(viewed) == {"1", "8"} and one["frames"] == eight["frames"] > 0
    assert one["worst_gain_db"] <= one["gain_db"] and eight["seconds_per_frame"] > 0
    # benchmarks/estimator_tau.py: its estimator retrained alone per pinball quantile
    k = load_quality(BENCH.parent / "estimator_tau.py")
    taus = k.main(["--param-set", "ci", "--taus", "0.5", "0.2", "--quantiles", "0.5", "0"])
    assert set(taus) == {"0.5", "0.2"} and set(taus["0.2"]) == {"0.5", "0.0"}
    for per_q in taus.values():
        low, median = per_q["0.0"]["embedded val"]["b"], per_q["0.5"]["embedded val"]["b"]
        assert low["log_error_mean"] <= median["log_error_mean"] and low["frames"] == median["frames"] > 0
    mine = est["checkpoints"]["notebook 02"]
    assert mine["own_estimate"] == pytest.approx(rows[("ours_blind_wiener", "b")]["psnr_db"])
    assert mine["log_error_sd"] >= 0
    assert est["spread_db"]["told_true_sigma"] == pytest.approx(
        abs(mine["told_true_sigma"] - est["checkpoints"]["seed1"]["told_true_sigma"]))
    seed1 = paths.runs_dir() / "benchmarks" / "seed1" / "best.pt"
    alone = e.main(["--param-set", "ci", "--presets", "b", "--checkpoints", str(seed1)])["b"]["checkpoints"]
    assert set(alone) == {"seed1"} and alone["seed1"]["told_true_sigma"] == est["checkpoints"]["seed1"]["told_true_sigma"]


def test_course_scale_measures_prepare_cache_and_loader_and_extrapolates(tmp_path, capsys):
    """benchmarks/course_scale.py on a tiny REDS-shaped folder: each step in its own process, figures printed."""
    cs = load_quality(BENCH.parent / "course_scale.py")
    out = cs.main(["--sequences", "3", "--frames", "12", "--work", str(tmp_path / "cs"), "--skip-recipe",
                   "--json", str(tmp_path / "cs.json")])
    printed = capsys.readouterr().out
    assert out["generate"]["frames"] == 36 and "minutes at 240 sequences" in printed
    one, every = out["prepare_1_process"], out[f"prepare_{out['cores']}_processes"]
    assert one["frames"] == every["frames"] == 36 and one["files_written"] == 36 * 4
    assert every["cpu_seconds_per_frame"] > 0 and out["prepare_speedup"] > 0
    assert out["cache"]["bytes"] >= out["cache"]["train_frames"] * 256 * 448 * 3 * 4
    assert out["loader"]["whole_frame_pairs_per_second"] > 0 and out["loader"]["crops128_per_second"] > 0
    assert json.loads((tmp_path / "cs.json").read_text())["sequences"] == 3


def test_gpu_check_runs_its_code_paths_on_the_cpu(tmp_path, capsys):
    """benchmarks/gpu_check.py --device cpu --quick: every measurement runs (a GPU gives the figures)."""
    g = load_quality(BENCH.parent / "gpu_check.py")
    out = g.main(["--device", "cpu", "--quick", "--json", str(tmp_path / "g.json")])
    assert out["srcnn"]["achieved_tflops"] > 0
    assert out["ours_images_per_second"]["float32"] > 0
    assert out["torchrun"]["returncode"] == 0 and out["torchrun"]["world_size"] == 1, out["torchrun"]["output_tail"]
    assert set(out["inference_150"]) == {"off", "auto"}


def test_training_photos_benchmark_trains_without_them_and_grades_both(tmp_path, monkeypatch, capsys):
    """benchmarks/training_photos.py: the same recipe on the training split less the training photos
    (a linked view of the processed folder), graded beside notebook 02's run on the validation frames."""
    from test_real_photos import fake_package

    from deblur_utils import data, real_photos, workflow

    photos = (real_photos.Photo("kde_one", "t", "/usr/share/wallpapers/One/contents/images/2560x1600.jpg", "x"),)
    monkeypatch.setattr(real_photos, "TRAIN_PHOTOS", photos)
    monkeypatch.setattr(real_photos, "SYSTEM_ROOT", tmp_path / "nothing-installed")
    monkeypatch.setattr(real_photos, "external_dir", lambda: tmp_path / "debian")
    fake_package(tmp_path / "debian", "t", [photos[0].file], size=(800, 1400))
    monkeypatch.setenv("DEBLUR_PARAMS", "ci")
    P = config.load_params("ci")
    assert P["training_photos"] is True
    workflow.prepare({**P, "real_photos": False}, progress=False)
    workflow.train_ours(P, progress=False)
    tp = load_quality(BENCH.parent / "training_photos.py")
    out = tp.main(["--param-set", "ci", "--json", str(tmp_path / "tp.json")])
    assert set(out) == {"with the training photos (default)", "without them"}
    view = paths.runs_dir() / "benchmarks" / "without_training_photos_data"
    assert "kde_one" in data.load_splits(paths.processed_dir())["train"]
    assert "kde_one" not in data.load_splits(view)["train"] and (view / "sharp").is_symlink()
    for per_set in out.values():
        r = per_set["embedded val"]["b"]
        assert r["frames"] > 0 and r["worst_gain_db"] <= r["gain_db"]
    assert "frames > 0.5 dB below" in capsys.readouterr().out
    assert json.loads((tmp_path / "tp.json").read_text()).keys() == out.keys()
