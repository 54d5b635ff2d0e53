"""The report's steps end to end in the CI configuration: metrics.json has the promised shape and
its identity row is the course PSNR of the blurred test frames, computed here independently."""
import json

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from deblur_utils import config, paths, workflow
from deblur_utils.imageio import read_rgb


def test_ci_pipeline_writes_metrics_json_in_the_documented_shape():
    P = config.load_params("ci")
    workflow.prepare(P, progress=False)
    workflow.train_ours(P, progress=False)  # one learned method; the others were never trained
    metrics = workflow.evaluate(P, progress=False)
    on_disk = json.loads(paths.metrics_path().read_text())
    assert on_disk["methods"].keys() == metrics["methods"].keys()
    assert {"identity", "wiener", "richardson_lucy", "ours_blind_wiener"} <= set(on_disk["methods"])
    for name, per in on_disk["methods"].items():
        assert set(per) == {"a", "b", "c", "all"}, name
        for entry in per.values():
            assert set(entry) == {"psnr_db", "ssim", "n_images", "n_infinite"}
    assert on_disk["best_method"] == "ours_blind_wiener"
    assert on_disk["best_checkpoint"].endswith("best.pt")
    assert "srcnn_faithful" not in on_disk["methods"]

    # identity on preset c, recomputed from the Set A / Set B PNGs of the test split
    splits = json.loads(paths.splits_path().read_text())
    sharp_files = sorted(f for s in splits["test"] for f in (paths.sharp_dir() / s).glob("*.png"))[: P["test_max_frames"]]
    expected = np.mean([peak_signal_noise_ratio(read_rgb(f), read_rgb(paths.blur_dir("c") / f.relative_to(paths.sharp_dir())))
                        for f in sharp_files])
    assert on_disk["methods"]["identity"]["c"]["psnr_db"] == pytest.approx(expected, rel=1e-12)
    assert on_disk["methods"]["identity"]["c"]["n_images"] == len(sharp_files)


def test_how_far_training_got_is_stated_per_method():
    from deblur_utils import tables

    one = {"steps": {p: 1267 for p in "abc"}, "epochs_done": {p: 1 for p in "abc"},
           "epochs_asked": {p: 1000 for p in "abc"}}
    assert tables.how_far(one) == "1,267 steps, 1/1000 epochs (stopped by the time budget)"
    per = {"steps": {"a": 5, "b": 9}, "epochs_done": {"a": 2, "b": 2}, "epochs_asked": {"a": 2, "b": 3}}
    assert tables.how_far(per) == "a: 5 steps, 2/2 epochs; b: 9 steps, 2/3 epochs (stopped by the time budget)"
