"""The report's steps end to end in the CI configuration: metrics.json has the promised shape and
its identity row is the course PSNR of the blurred test frames, computed here independently."""
import json

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from deblur_utils import params
from deblur_utils.data.cache import load_cached
from deblur_utils.data.imageio import read_rgb
from deblur_utils.networks.blind import GivenSigma
from deblur_utils.runtime import paths
from deblur_utils.steps import evaluate, prepare, records, registry, runs
from deblur_utils.training.checkpoint import model_from_checkpoint
from deblur_utils.training.config import pick_device
from deblur_utils.training.inference import predict_uint8


def test_ci_pipeline_writes_metrics_json_in_the_documented_shape():
    P = params.load_params("ci")
    prepare.prepare(P, progress=False)
    runs.train_02(P, "ours", progress=False)  # one learned method; the others were never trained
    metrics = evaluate.evaluate(P, progress=False)
    on_disk = json.loads(paths.metrics_path().read_text())
    assert on_disk["methods"].keys() == metrics["methods"].keys()
    assert {"identity", "wiener", "richardson_lucy", "ours_blind_wiener"} <= set(on_disk["methods"])
    for name, per in on_disk["methods"].items():
        assert set(per) == {"a", "b", "c", "all"}, name
        for entry in per.values():
            assert set(entry) == {"psnr_db", "ssim", "n_images", "n_infinite"}
    worst = on_disk["worst_frames"]["test"]  # each method's worst frame against doing nothing
    assert set(worst) == set(on_disk["methods"]) and worst["identity"]["c"]["worst_gain_db"] == 0
    assert set(worst["ours_blind_wiener"]) == {"a", "b", "c"}
    assert on_disk["training"]["ours_blind_wiener"] == {"steps_done": 8, "steps_asked": 8, "stopped_by": "steps",
                                                        "portable": True}
    assert on_disk["best_method"] == "ours_blind_wiener"
    assert on_disk["best_checkpoint"].endswith("best.pt")
    assert "srcnn_faithful" not in on_disk["methods"]

    # the same checkpoint given each preset's true sigma: its own row, never the "best learned" one
    given = on_disk["method_info"]["ours_blind_wiener_true_sigma"]
    assert given["from_checkpoint"] == on_disk["best_checkpoint"] and given["given_sigma_of"] == "ours_blind_wiener"
    test = load_cached(paths.processed_dir(), "test", ["b"], P.test_max_frames)
    device = pick_device(P.device)  # where evaluate() ran: the same roundings
    model, _ = model_from_checkpoint(on_disk["best_checkpoint"], device)
    pred = predict_uint8(GivenSigma(model, 1.0), np.asarray(test["b"]), device)
    assert on_disk["methods"]["ours_blind_wiener_true_sigma"]["b"]["psnr_db"] == pytest.approx(
        np.mean([peak_signal_noise_ratio(s, q) for s, q in zip(np.asarray(test["sharp"]), pred)]), rel=1e-12)
    # ... and given one blur for the set: the median of its frames' own estimates (the tiles'
    # set_quantile), every frame given it
    one = on_disk["method_info"]["ours_blind_wiener_one_blur"]
    own = [model.estimator.estimate(torch.from_numpy(np.array(f)).permute(2, 0, 1)[None].float().to(device) / 255,
                                    model.set_quantile)[0].item() for f in np.asarray(test["b"])]
    assert one["sigma"]["b"] == pytest.approx(float(np.exp(np.median(np.log(own)))), rel=1e-6)
    assert one["views"] == P.one_blur_views == 8  # the refiner's views averaged in this row alone
    pred = predict_uint8(GivenSigma(model, one["sigma"]["b"], views=8, known=False), np.asarray(test["b"]), device)
    assert on_disk["methods"]["ours_blind_wiener_one_blur"]["b"]["psnr_db"] == pytest.approx(
        np.mean([peak_signal_noise_ratio(s, q) for s, q in zip(np.asarray(test["sharp"]), pred)]), rel=1e-12)

    # identity on preset c, recomputed from the Set A / Set B PNGs of the test split
    splits = json.loads(paths.splits_path().read_text())
    sharp_files = sorted(f for s in splits["test"] for f in (paths.sharp_dir() / s).glob("*.png"))[: P.test_max_frames]
    expected = np.mean([peak_signal_noise_ratio(read_rgb(f), read_rgb(paths.blur_dir("c") / f.relative_to(paths.sharp_dir())))
                        for f in sharp_files])
    assert on_disk["methods"]["identity"]["c"]["psnr_db"] == pytest.approx(expected, rel=1e-12)
    assert on_disk["methods"]["identity"]["c"]["n_images"] == len(sharp_files)


def test_the_told_runs_train_only_when_asked():
    """The default trains no told runs (04 grades ours given the true sigma instead): train_told is empty
    and the plan of the run's cost leaves them out; asked for, the plan has one per preset."""
    off = params.load_params("ci", told_runs=False)
    assert runs.train_told(off, progress=False) == {}
    # told runs an earlier set recorded are no longer graded (their checkpoints are not touched)
    ckpt = paths.runs_dir() / "told_x" / "best.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"x")
    registry.register("ours_blind_wiener_told_blur", ["b"], ckpt)
    registry.register("ours_blind_wiener", ["a", "b", "c"], ckpt)
    said = []
    assert runs.train_told(off, progress=False, log=said.append) == {}
    assert set(registry.learned(off.presets)) == {"ours_blind_wiener"} and ckpt.exists()
    assert "no longer graded" in said[0]
    assert not [r.name for r in runs.training_runs(off) if r.name.startswith("told")]
    on = params.load_params("ci", told_runs=True)
    told = [r for r in runs.training_runs(on) if r.name.startswith("told")]
    assert [r.name for r in told] == ["told a", "told b", "told c"]
    assert [r.config.model_kwargs["fixed_sigma"] for r in told] == [0.3, 1.0, 1.6]
    assert evaluate.given_sigma_methods(off) == {"ours_blind_wiener_true_sigma": "true_sigma",
                                                 "ours_blind_wiener_one_blur": "one_blur"}
    assert evaluate.given_sigma_methods(params.load_params("ci", ours={"model": "residual_srcnn"})) == {}


def test_how_far_training_got_is_stated_per_method():
    from deblur_utils.report import tables

    one = {"steps": {p: 1267 for p in "abc"}}
    assert tables.how_far(one, {"steps_done": 412, "steps_asked": 768, "stopped_by": "max_minutes"}) == \
        "412 of 768 steps (stopped by the time cap)"
    assert tables.how_far(one, {"steps_done": 768, "steps_asked": 768, "stopped_by": "steps"}) == "768 of 768 steps"
    per = {"steps": {"a": 5, "b": 9}}
    assert tables.how_far(per) == "a: 5 steps; b: 9 steps"
    runs = {"steps_done": 14, "steps_asked": 16, "stopped_by": "max_minutes", "runs": {"a": {}, "b": {}}}
    assert tables.how_far(per, runs) == "14 of 16 steps in 2 runs (stopped by the time cap)"


def test_a_run_the_cap_cut_is_recorded_and_flagged_on_the_title_page(tmp_path):
    """metrics.json's "training" names each method's steps done and asked and what stopped it; the title
    page carries the banner whenever the cap cut a run."""
    from deblur_utils.report import title

    for name, summary in (("done", {"steps": 768, "steps_asked": 768, "stopped_by": "steps"}),
                          ("cut", {"steps": 412, "steps_asked": 768, "stopped_by": "max_minutes"}),
                          ("old", {"steps": 90, "stopped_by": "epochs"})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    assert records.run_record(tmp_path / "done") == {"steps_done": 768, "steps_asked": 768, "stopped_by": "steps"}
    assert records.run_record(tmp_path / "old")["stopped_by"] == "steps"
    per = records.training_record({"a": str(tmp_path / "done" / "best.pt"), "b": str(tmp_path / "cut" / "best.pt")})
    assert (per["steps_done"], per["steps_asked"], per["stopped_by"]) == (1180, 1536, "max_minutes")
    metrics = {"methods": {}, "presets": ["a"], "param_set": "default",
               "training": {"ours": records.training_record({"a": str(tmp_path / "cut" / "best.pt")})}}
    page = title.title_markdown(metrics, {}, [])
    assert "Training stopped by the time cap** (ours at step 412 of 768)" in page
    assert "below the recipe's" in page
    metrics["training"]["ours"] = records.training_record({"a": str(tmp_path / "done" / "best.pt")})
    assert "time cap" not in title.title_markdown(metrics, {}, [])


def test_the_title_page_shows_the_one_blur_row_beside_the_best_learned_model():
    """When notebook 04 graded the best learned model's one-blur row, the title page gives its own
    headline table (and its real-photo one), with the views it averaged; without that row, none."""
    from deblur_utils.report import title

    def row(a, b):
        return {p: {"psnr_db": v, "n_images": 4, "n_infinite": 0} for p, v in (("a", a), ("b", b), ("all", (a + b) / 2))}

    metrics = {"presets": ["a", "b"], "param_set": "default", "best_method": "ours",
               "methods": {"identity": row(70.0, 30.0), "wiener": row(80.0, 38.0), "ours": row(76.0, 38.0),
                           "ours_one_blur": row(76.0, 39.5)},
               "method_info": {"ours": {"kind": "learned"},
                               "ours_one_blur": {"given": "one_blur", "given_sigma_of": "ours", "views": 8}}}
    page = title.title_markdown(metrics, {}, [])
    assert "**one blur per set** (`ours_one_blur`)" in page and "8 flipped and transposed views" in page
    one_line = next(ln for ln in page.splitlines()[page.splitlines().index(next(
        ln for ln in page.splitlines() if "| ours_one_blur |" in ln)):] if ln.startswith("| b |"))
    assert one_line.split("|")[4].strip() == "39.50" and one_line.split("|")[6].strip() == "+1.50"
    del metrics["method_info"]["ours_one_blur"]
    assert "one blur per set" not in title.title_markdown(metrics, {}, [])


def test_a_cpu_run_without_the_pins_is_flagged_on_the_title_page(tmp_path):
    """A CPU run records its kernels and whether its threads were fixed; metrics.json's "training" says
    whether any x86 CPU trains the same model ("portable"), and the title page warns when one did not."""
    from deblur_utils.report import title

    pinned = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
    for name, extra in (("pinned", {"cpu_threads": 2, "cpu_threads_fixed": True, "cpu_kernels": pinned}),
                        ("own_kernels", {"cpu_threads": 2, "cpu_threads_fixed": True,
                                         "cpu_kernels": {"ONEDNN_MAX_CPU_ISA": "ALL", "MKL_CBWR": "AUTO"}}),
                        ("every_core", {"cpu_threads": 16, "cpu_threads_fixed": False, "cpu_kernels": pinned}),
                        ("gpu", {})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps({"steps": 8, "steps_asked": 8, "stopped_by": "steps",
                                                                  **extra}))
    record = {n: records.run_record(tmp_path / n) for n in ("pinned", "own_kernels", "every_core", "gpu")}
    assert [record[n].get("portable") for n in record] == [True, False, False, None]
    both = records.training_record({"a": str(tmp_path / "pinned" / "best.pt"),
                                     "b": str(tmp_path / "every_core" / "best.pt")})
    assert both["portable"] is False
    metrics = {"methods": {}, "presets": ["a"], "param_set": "default",
               "training": {"ours": record["own_kernels"], "srcnn": record["pinned"], "gpu_model": record["gpu"]}}
    page = title.title_markdown(metrics, {}, [])
    assert "this CPU's own kernels or thread count** (ours)" in page
    metrics["training"]["ours"] = record["pinned"]
    assert "own kernels" not in title.title_markdown(metrics, {}, [])
