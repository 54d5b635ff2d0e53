"""The course metric is scikit-image's PSNR on uint8; infinite PSNRs are counted; baselines help."""
import math

import numpy as np
import pytest
from helpers import natural_like
from skimage.metrics import peak_signal_noise_ratio

from deblur_utils.data.blur import blur_uint8
from deblur_utils.data.imageio import write_png_atomic
from deblur_utils.evaluation.classical import beyond_grid, richardson_lucy_deblur, tune_classical, wiener_deblur
from deblur_utils.evaluation.metrics import evaluate_dirs, psnr_db, summarize
from deblur_utils.runtime.parallel import map_frames


def test_psnr_is_skimages_on_uint8(rng):
    a = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert psnr_db(a, b) == pytest.approx(peak_signal_noise_ratio(a, b))
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    assert psnr_db(a, b) == pytest.approx(10 * math.log10(255**2 / mse))


def test_identical_images_are_counted_not_averaged():
    s = summarize([30.0, float("inf"), 40.0])
    assert s == {"psnr_db": 35.0, "ssim": None, "n_images": 3, "n_infinite": 1}
    assert summarize([float("inf")])["psnr_db"] is None


def test_evaluate_dirs_matches_a_hand_computed_mean(tmp_path, rng):
    sharp = [natural_like(rng) for _ in range(3)]
    pred = [blur_uint8(s, "b") for s in sharp]
    for i, (s, p) in enumerate(zip(sharp, pred)):
        write_png_atomic(tmp_path / "sharp" / "seq" / f"{i}.png", s)
        write_png_atomic(tmp_path / "pred" / "seq" / f"{i}.png", p)
    r = evaluate_dirs(tmp_path / "pred", tmp_path / "sharp")
    assert r["n_images"] == 3
    assert r["psnr_db"] == pytest.approx(np.mean([peak_signal_noise_ratio(s, p) for s, p in zip(sharp, pred)]))


def test_evaluate_dirs_names_missing_files(tmp_path, rng):
    img = natural_like(rng)
    write_png_atomic(tmp_path / "sharp" / "x.png", img)
    write_png_atomic(tmp_path / "sharp" / "y.png", img)
    write_png_atomic(tmp_path / "pred" / "x.png", img)
    with pytest.raises(FileNotFoundError, match="1 sharp image.*no deblurred copy.*y.png"):
        evaluate_dirs(tmp_path / "pred", tmp_path / "sharp")


@pytest.mark.parametrize("deblur,knob", [(wiener_deblur, 0.01), (richardson_lucy_deblur, 20)])
def test_classical_baselines_with_the_true_kernel_beat_doing_nothing_on_b(deblur, knob, rng):
    from skimage import data
    from skimage.transform import resize

    sharp = (resize(data.astronaut(), (128, 128), anti_aliasing=True) * 255).round().astype(np.uint8)
    blurred = blur_uint8(sharp, "b")
    assert psnr_db(sharp, deblur(blurred, "b", knob)) > psnr_db(sharp, blurred) + 1.0


def test_classical_baselines_on_threads_match_one_thread_in_order(rng):
    sharp = [natural_like(rng, 40, 56) for _ in range(5)]
    blurred = [blur_uint8(s, "b") for s in sharp]
    deblur = lambda b: richardson_lucy_deblur(b, "b", 3)  # noqa: E731
    one = map_frames(deblur, blurred, workers=1)
    many = map_frames(deblur, iter(blurred), workers=3)  # any iterable, more threads than cores here
    assert len(many) == 5 and all(np.array_equal(a, b) for a, b in zip(one, many))
    assert not np.array_equal(many[0], many[1])  # in order: each frame's own result
    best, scores = tune_classical("wiener", blurred, sharp, "b", [1e-4, 1e-2])
    assert best in scores and scores[best] == max(scores.values())
    assert map_frames(deblur, []) == []


def test_a_tuned_optimum_at_the_grids_end_is_flagged_only_while_the_score_still_rises():
    grid = [1e-6, 1e-5, 1e-4]
    assert beyond_grid(grid, 1e-6, {1e-6: 40.5, 1e-5: 40.0, 1e-4: 39.0})  # still rising at the end
    assert not beyond_grid(grid, 1e-6, {1e-6: 40.005, 1e-5: 40.0, 1e-4: 39.0})  # flat: saturated
    assert beyond_grid(grid, 1e-4, {1e-6: 39.0, 1e-5: 40.0, 1e-4: 40.5})  # the other end
    assert not beyond_grid(grid, 1e-5, {1e-6: 39.0, 1e-5: 40.0, 1e-4: 39.5})  # inside
    assert not beyond_grid([20], 20, {20: 30.0})  # one value: no grid to widen


def test_richardson_lucy_in_float32_matches_float64_within_a_grey_level():
    """The baseline runs scikit-image's Richardson-Lucy in float32 (2.5x faster): after rounding to uint8
    it stays within one grey level of the float64 result, on a few pixels in 10,000 at most."""
    from skimage import data
    from skimage.restoration import richardson_lucy
    from skimage.transform import resize

    from deblur_utils.evaluation.classical import _deconvolve

    sharp = (resize(data.astronaut(), (96, 160), anti_aliasing=True) * 255).round().astype(np.uint8)
    for preset in ("b", "c"):
        blurred = blur_uint8(sharp, preset)
        got = richardson_lucy_deblur(blurred, preset, 20)
        f64 = _deconvolve(blurred, preset, lambda ch, psf: richardson_lucy(ch, psf, num_iter=20, clip=True))
        diff = np.abs(got.astype(int) - f64)
        assert diff.max() <= 1 and (diff > 0).mean() < 5e-4
