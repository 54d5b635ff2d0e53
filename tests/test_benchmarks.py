"""The benchmark scripts end to end on the CI parameter set (tiny data, seconds of training): quality.py
(comparison, seeds, ablation), ablation.py (every study), course_scale.py, gpu_check.py (on the CPU)."""
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from deblur_utils import params
from deblur_utils.runtime import paths

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def one_fake_photo(tmp_path, monkeypatch, table: str, name: str, file: str, size):
    """Stands one generated photo in for real_photos' `table` (PHOTOS or TRAIN_PHOTOS), installed in a
    fake package under tmp_path; returns the CI parameter set, selected for the scripts too."""
    from test_real_photos import fake_package

    from deblur_utils.data import real_photos

    monkeypatch.setattr(real_photos, table, (real_photos.Photo(name, "t", file, "x"),))
    monkeypatch.setattr(real_photos, "SYSTEM_ROOT", tmp_path / "nothing-installed")
    monkeypatch.setattr(real_photos, "external_dir", lambda: tmp_path / "debian")
    fake_package(tmp_path / "debian", "t", [file], size=size)
    monkeypatch.setenv("DEBLUR_PARAMS", "ci")
    return params.load_params("ci")


def test_quality_and_every_ablation_study_on_the_ci_set(tmp_path, monkeypatch, capsys):
    q = load_script("quality")
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
    P = params.load_params("ci")
    assert saved["seeds"]["psnr_db"]["1"]["checkpoint"] == str(paths.runs_dir() / "benchmarks" / "seed1" / "best.pt")
    summary, ckpt = q.reusable_run(P, 1)
    assert ckpt == paths.runs_dir() / "benchmarks" / "seed1" / "best.pt" and summary["steps"] > 0
    assert q.reusable_run(P, 0)[1] != ckpt and q.reusable_run(P, 7) is None
    assert q.reusable_run(params.override(P, ours={"lr": 0.5}), 1) is None  # another recipe
    summary_file = ckpt.parent / "summary.json"  # a run cut off after its checkpoint: no finished summary
    os.utime(summary_file, (summary_file.stat().st_mtime - 60,) * 2)
    assert q.reusable_run(P, 1) is None

    a = load_script("ablation")
    # gate: the same checkpoints with the gate read both ways; the thresholds from the validation frames
    gated = a.main(["gate", "--param-set", "ci", "--splits", "test"])["test"]
    assert set(gated) == {"notebook 02", "seed1"}
    assert gated["notebook 02"]["identity"] == rows[("identity", "a")]["psnr_db"]
    assert gated["notebook 02"]["sharpest_tile"] == rows[("ours_blind_wiener", "a")]["psnr_db"]  # the default
    for r in gated.values():
        assert r["largest_sharpest_estimate"] <= r["largest_median_estimate"]
    assert set(a.main(["gate", "--param-set", "ci", "--thresholds"])["notebook 02"]) == {"sets", "gate_lo", "keep_below"}
    # estimate: the same checkpoints on b, blind, told the true sigma, given the pooled estimate
    est = a.main(["estimate", "--param-set", "ci", "--presets", "b"])["b"]
    assert set(est["checkpoints"]) == {"notebook 02", "seed1"} and est["true_sigma"] == 1.0
    mine = est["checkpoints"]["notebook 02"]
    assert mine["own_estimate"] == pytest.approx(rows[("ours_blind_wiener", "b")]["psnr_db"])
    assert mine["log_error_sd"] >= 0
    assert est["spread_db"]["told_true_sigma"] == pytest.approx(
        abs(mine["told_true_sigma"] - est["checkpoints"]["seed1"]["told_true_sigma"]))
    seed1 = paths.runs_dir() / "benchmarks" / "seed1" / "best.pt"
    alone = a.main(["estimate", "--param-set", "ci", "--presets", "b", "--checkpoints", str(seed1)])["b"]["checkpoints"]
    assert set(alone) == {"seed1"} and alone["seed1"]["told_true_sigma"] == est["checkpoints"]["seed1"]["told_true_sigma"]
    # tiles: the same checkpoints on validation frames, the tile statistic varied
    tiles = a.main(["tiles", "--param-set", "ci", "--quantiles", "0", "0.5", "--set-quantiles", "0", "0.5",
                    "--multiples", "0.8", "1.2", "--json", str(tmp_path / "t.json")])
    assert json.loads((tmp_path / "t.json").read_text())["study"] == "tiles"
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
    # floor: each checkpoint's floor at fixed strengths and as it learned it; the strength reaches the output
    floor = a.main(["floor", "--param-set", "ci", "--balances", "1e-4", "1e-5"])
    assert set(floor) == {"notebook 02", "seed1"}
    for name, per in floor.items():
        assert set(per) == {"learned", "0.0001", "1e-05"} and per["1e-05"]["embedded val"]["a"]["frames"] > 0
    assert floor["notebook 02"]["1e-05"]["embedded val"]["a"]["psnr_db"] != \
        floor["notebook 02"]["0.0001"]["embedded val"]["a"]["psnr_db"]
    # told: a known blur below the gate gets its own inverse (at sigma 0.5 far above the blind rules'
    # preset-a floor); at preset a's sigma the two are the same model
    told = a.main(["told", "--param-set", "ci", "--sigmas", "0.3", "0.5"])
    for per in told.values():
        known, rules = per["known"]["embedded val"], per["blind rules"]["embedded val"]
        assert known["s0.3"]["psnr_db"] == rules["s0.3"]["psnr_db"] and known["s0.5"]["frames"] > 0
        assert known["s0.5"]["psnr_db"] > rules["s0.5"]["psnr_db"] + 3
    # views: notebook 02's checkpoint with the refiner's views averaged
    viewed = a.main(["views", "--param-set", "ci", "--views", "1", "8"])
    one, eight = viewed["1"]["embedded val"]["b"], viewed["8"]["embedded val"]["b"]
    assert set(viewed) == {"1", "8"} and one["frames"] == eight["frames"] > 0
    assert one["worst_gain_db"] <= one["gain_db"] and eight["seconds_per_frame"] > 0
    # tau: its estimator retrained alone per pinball quantile
    taus = a.main(["tau", "--param-set", "ci", "--taus", "0.5", "0.2", "--quantiles", "0.5", "0"])
    assert set(taus) == {"0.5", "0.2"} and set(taus["0.2"]) == {"0.5", "0.0"}
    for per_q in taus.values():
        low, median = per_q["0.0"]["embedded val"]["b"], per_q["0.5"]["embedded val"]["b"]
        assert low["log_error_mean"] <= median["log_error_mean"] and low["frames"] == median["frames"] > 0
    # refiner: a variant trained by its own recipe, graded on the test split
    refined = a.main(["refiner", "--param-set", "ci", "--variants", "default"])["default"]
    assert refined["steps"] > 0 and set(refined["test_psnr_db"]) == {"a", "b", "c"}


def test_course_scale_measures_prepare_cache_and_loader_and_extrapolates(tmp_path, capsys):
    """benchmarks/course_scale.py on a tiny REDS-shaped folder: each step in its own process, figures printed."""
    cs = load_script("course_scale")
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
    g = load_script("gpu_check")
    out = g.main(["--device", "cpu", "--quick", "--json", str(tmp_path / "g.json")])
    assert out["srcnn"]["achieved_tflops"] > 0
    assert out["ours_images_per_second"]["float32"] > 0
    assert out["torchrun"]["returncode"] == 0 and out["torchrun"]["world_size"] == 1, out["torchrun"]["output_tail"]
    assert set(out["inference_150"]) == {"off", "auto"}


def test_the_photos_study_trains_without_the_training_photos_and_grades_both(tmp_path, monkeypatch, capsys):
    """ablation.py photos: the same recipe on the training split less the training photos (a linked view
    of the processed folder), graded beside notebook 02's run on the validation frames."""
    from deblur_utils.data.sets import load_splits
    from deblur_utils.steps.prepare import prepare
    from deblur_utils.steps.runs import train_02

    P = one_fake_photo(tmp_path, monkeypatch, "TRAIN_PHOTOS", "kde_one",
                       "/usr/share/wallpapers/One/contents/images/2560x1600.jpg", (800, 1400))
    assert P.training_photos is True
    prepare(params.override(P, real_photos=False), progress=False)
    train_02(P, "ours", progress=False)
    out = load_script("ablation").main(["photos", "--param-set", "ci", "--json", str(tmp_path / "tp.json")])
    assert set(out) == {"with the training photos (default)", "without them"}
    view = paths.runs_dir() / "benchmarks" / "without_training_photos_data"
    assert "kde_one" in load_splits(paths.processed_dir())["train"]
    assert "kde_one" not in load_splits(view)["train"] and (view / "sharp").is_symlink()
    for per_set in out.values():
        r = per_set["embedded val"]["b"]
        assert r["frames"] > 0 and r["worst_gain_db"] <= r["gain_db"]
    assert "frames > 0.5 dB below" in capsys.readouterr().out
    assert json.loads((tmp_path / "tp.json").read_text())["results"].keys() == out.keys()


def test_compare_runs_counts_every_number_and_names_those_that_differ(tmp_path, capsys):
    """benchmarks/compare_runs.py: two reports/ folders, number for number; timings left aside."""
    metrics = {"methods": {"ours": {"b": {"psnr_db": 37.96, "n_images": 32}}},
               "method_info": {"wiener": {"seconds_per_frame": {"b": 0.03}, "balance": {"b": 0.001}}}}
    for name, changes in (("old", {}), ("same", {"seconds_per_frame": 0.05}), ("other", {"psnr_db": 37.99})):
        m = json.loads(json.dumps(metrics))
        m["method_info"]["wiener"]["seconds_per_frame"]["b"] = changes.get("seconds_per_frame", 0.03)
        m["methods"]["ours"]["b"]["psnr_db"] = changes.get("psnr_db", 37.96)
        if name == "same":  # a timing the older run did not keep yet is a timing, not a number in one file only
            m["grading_seconds"] = {"test": {"ours": 9.8}}
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(m))
    cr = load_script("compare_runs")
    assert cr.main([str(tmp_path / "old"), str(tmp_path / "same")]) == 0
    printed = capsys.readouterr().out
    assert "3 numbers compared, 0 differ" in printed and "2 timings left aside" in printed
    assert "0 numbers in one file only" in printed
    assert cr.main([str(tmp_path / "old"), str(tmp_path / "other"), "--json", str(tmp_path / "c.json")]) == 1
    assert "methods/ours/b/psnr_db: 37.96 -> 37.99" in capsys.readouterr().out
    saved = json.loads((tmp_path / "c.json").read_text())["metrics.json"]
    assert saved["compared"] == 3 and saved["timings_compared"] == 1 and len(saved["differ"]) == 1


def test_pictures_runs_each_measurement_on_the_ci_set(tmp_path, monkeypatch, capsys):
    """benchmarks/pictures.py at a small scale: mosaics of the CI test frames, one picture tiled and
    whole in a process of its own (equal within a grey level), a real photo at full resolution, frames
    saved as JPEG."""
    from deblur_utils.steps.prepare import prepare
    from deblur_utils.steps.runs import train_02

    P = one_fake_photo(tmp_path, monkeypatch, "PHOTOS", "one", "/usr/share/backgrounds/one.jpg", (600, 900))
    prepare(params.override(P, real_photos=False), progress=False)
    train_02(P, "ours", progress=False)
    out = load_script("pictures").main(["--param-set", "ci", "--mosaics", "1", "2", "--megapixels", "0.3",
                                        "--real", "1", "--jpeg-frames", "2", "--work", str(tmp_path / "work"),
                                        "--json", str(tmp_path / "p.json")])
    assert [r["mosaic"] for r in out["mosaics"]] == ["1x1", "2x2"]
    assert all(0 < r["sigma"] and 0 <= r["gate"] <= 1 and r["deblurred_psnr_db"] > 0 for r in out["mosaics"])
    (mp,) = out["megapixels"]
    assert mp["tiled"]["exit"] == mp["whole"]["exit"] == 0 and mp["tiled"]["peak_rss_gb"] > 0
    assert mp["tile_vs_whole_max_grey_levels"] <= 1
    assert [r["photo"] for r in out["real"]] == ["one"] and out["real"][0]["size"] == "900x600"
    assert [r["saved as"] for r in out["jpeg"]][0] == "PNG (lossless)" and all(r["frames"] == 2 for r in out["jpeg"])
    assert all(r["worst_gain_db"] <= r["gain_db"] and r["told_worst_gain_db"] <= r["told_gain_db"] for r in out["jpeg"])
    assert "peak memory (GB)" in capsys.readouterr().out
    assert json.loads((tmp_path / "p.json").read_text())["megapixels"][0]["size"] == mp["size"]
    # benchmarks/estimator.py on the same checkpoint: the embedded validation photos at 1x (the real
    # validation photos are not installed here), 2x finds none large enough and is left out
    ladder = load_script("estimator").main(["--param-set", "ci", "--factors", "1", "2", "--sigmas", "1.0", "1.6",
                                            "--views-per-photo", "1", "--views", "2", "--test",
                                            "--json", str(tmp_path / "e.json")])
    assert list(ladder["ladder"]) == ["1"] and ladder["frames"]["1"] == ["gravel/0", "rocket/0"]
    assert ladder["views"] == 2
    for r in ladder["ladder"]["1"].values():
        assert r["frames"] == 2 and r["set_sigma"] > 0 and 0 <= r["frames_within"] <= 1
        assert abs(r["set_error"] - (r["set_sigma"] / r["true_sigma"] - 1)) < 1e-12 and r["told_psnr_db"] > 0
        assert r["photos"] == 2 and r["photo_spread"] >= 0 and r["set_se"] >= 0
    # --test: the embedded test split at b and c (the real-photo test set is not built here)
    assert list(ladder["test"]) == ["embedded test"] and list(ladder["test"]["embedded test"]) == ["b", "c"]
    for blur, r in ladder["test"]["embedded test"].items():
        assert r["true_sigma"] == {"b": 1.0, "c": 1.6}[blur] and r["told_psnr_db"] > r["blurred_psnr_db"]
    printed = capsys.readouterr().out
    assert "set estimate within" in printed and "## the test sets (2 views)" in printed


def test_blocks_times_each_refiner_design_against_the_default(capsys):
    """benchmarks/blocks.py at one round of one step: the default first, every ratio against it, and the
    multiply-adds of a plain block counted as its convolutions' (a 2x2-unshuffled design's per pixel / 4)."""
    out = load_script("blocks").main(["--repeats", "1", "--steps", "1", "--designs", "gated w32 b4",
                                      "res w48 b4 on 2x2"])
    designs = out["designs"]
    assert list(designs) == ["res w24 b3", "gated w32 b4", "res w48 b4 on 2x2"]
    assert designs["res w24 b3"]["macs_per_pixel"] == 9 * (13 * 24 + 6 * 24 * 24 + 24 * 3)
    assert designs["res w48 b4 on 2x2"]["macs_per_pixel"] == 9 * (52 * 48 + 8 * 48 * 48 + 48 * 12) / 4
    assert all(d["train_step_ms"] > 0 and d["frame_ms"] > 0 and d["parameters"] > 0 for d in designs.values())
    assert "refiner designs on this CPU" in capsys.readouterr().out


def test_faults_kills_and_reruns_to_the_same_bytes(tmp_path):
    """benchmarks/faults.py on 3 x 2 frames: prepare and the cache build killed (or finished first: the
    frames are few) and run again, every file equal to the uninterrupted run's; the disk faults where a
    tmpfs can be mounted (as root)."""
    out = load_script("faults").main(["--sequences", "3", "--frames", "2", "--source", "embedded",
                                      "--work", str(tmp_path), "--json", str(tmp_path / "f.json")])
    for fault in ("prepare_killed", "cache_killed"):
        assert out[fault]["rerun_exit"] == 0 and out[fault]["identical"] is True, out[fault]
        assert out[fault]["temporary_files_after"] == 0
    assert set(out["cache_killed"]["finished_arrays_kept"]) <= set(out["cache_killed"]["left"]["arrays"])
    disk = out["disk_full"]
    if "skipped" not in disk:
        assert disk["too_small"]["exit"] == 2 and "not enough space" in disk["too_small"]["message"]
        assert disk["too_small"]["pngs"] == 0 and disk["identical"] is True
    assert json.loads((tmp_path / "f.json").read_text())["sequences"] == 3


def test_the_set_estimates_standard_error_comes_from_the_photos_not_the_frames():
    """Photos that read alike leave no error to a set of them however their frames scatter within; two
    photos that read 10% apart give a spread of that and a set's SE between 0 and the spread."""
    est = load_script("estimator")
    alike = est.photo_spread(np.log([1.0, 1.0, 1.0, 1.0]), ["a", "a", "b", "b"])
    assert alike == {"photos": 2, "photo_spread": 0.0, "set_se": 0.0}
    apart = est.photo_spread(np.log([1.0, 1.0, 1.1, 1.1]), ["a", "a", "b", "b"])
    assert apart["photo_spread"] == pytest.approx(np.expm1(np.std([0, np.log(1.1)], ddof=1)))
    assert 0 < apart["set_se"] < apart["photo_spread"]
    one_each = est.photo_spread(np.log([0.9, 1.1, 1.0]), [0, 1, 2])
    assert one_each["photos"] == 3 and one_each["set_se"] > 0


def test_fingerprint_digests_each_operation_and_the_first_steps_the_same_twice(tmp_path, capsys):
    """benchmarks/fingerprint.py on the CI set: every operation, oneDNN's convolution kernels and ours'
    first steps digested; a second run on the same machine compares equal row by row, and the steps'
    digests differ from one another (the weights move)."""
    from deblur_utils.steps.prepare import prepare

    prepare(params.override(params.load_params("ci"), real_photos=False), progress=False)
    fp = load_script("fingerprint")
    first = fp.main(["--param-set", "ci", "--steps", "2", "--json", str(tmp_path / "one.json")])
    assert len(first["operations"]) >= 10 and set(first["training"]) == {
        *(f"after step 1: {part}" for part in ("estimator", "wiener", "head", "blocks", "tail")),
        "after step 1: all weights", "after step 2: all weights"}
    assert first["training"]["after step 1: all weights"] != first["training"]["after step 2: all weights"]
    import torch
    if torch.backends.mkldnn.is_available():
        assert any(k.startswith("convolution ") for k in first["onednn"]), first["onednn"]
    empty = fp.digest()  # the digest of no bytes: a part whose name matched no weight
    assert empty not in first["training"].values() and empty not in first["operations"].values()
    assert not (paths.runs_dir() / "benchmarks" / "fingerprint").exists()  # the short run leaves nothing
    assert "recipe ends at step" not in capsys.readouterr().out  # stopped at step 2, not at the recipe's end
    second = fp.main(["--param-set", "ci", "--steps", "2", "--compare", str(tmp_path / "one.json")])
    assert second["operations"] == first["operations"] and second["training"] == first["training"]

    def verdicts():
        rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
        return {line.split("|")[1].strip(): line.split("|")[-2].strip() for line in rows[1:]}
    assert set(verdicts().values()) == {"same"}
    # another machine whose FFT and second step differ, and which digested one step more
    other = json.loads((tmp_path / "one.json").read_text())
    other["operations"]["rfft2 288x480"] = "0" * 16
    other["training"]["after step 2: all weights"] = "0" * 16
    other["training"]["after step 4: all weights"] = "1" * 16
    (tmp_path / "other.json").write_text(json.dumps(other))
    fp.main(["--param-set", "ci", "--steps", "2", "--compare", str(tmp_path / "other.json")])
    seen = verdicts()
    assert {k for k, v in seen.items() if v == "differs"} == {
        "rfft2 288x480", "after step 2: all weights", "after step 4: all weights"}, seen
    assert seen["after step 1: all weights"] == "same"
    # asked past the recipe's end: the recipe's last step is digested, and said
    longer = fp.main(["--param-set", "ci", "--steps", "4096"])
    assert "recipe ends at step" in capsys.readouterr().out
    assert "after step 4096: all weights" not in longer["training"] and len(longer["training"]) > len(first["training"])
