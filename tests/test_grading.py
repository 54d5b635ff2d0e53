"""The one grading loop: any method behind the one interface, on any frame set, rows of one shape whose
numbers are scikit-image's PSNR and SSIM of the very frames (from arrays or from the PNGs the course
grades), a model per preset standing in at the nearest preset where a set allows it, a method that
cannot grade a set skipped with its reason."""
import numpy as np
import pytest
import torch
from helpers import natural_like
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from deblur_utils.data.blur import EVAL_BLURS, PRESETS, blur_uint8
from deblur_utils.data.imageio import write_png_atomic
from deblur_utils.evaluation.frame_sets import FrameSet, ValidationFrames
from deblur_utils.evaluation.grading import by_method, grade, pool, worst_frames
from deblur_utils.evaluation.methods import (
    KINDS,
    Classical,
    GivenSigmaRow,
    Identity,
    Learned,
    Method,
    Models,
    NotGraded,
)
from deblur_utils.networks.registry import build_model
from deblur_utils.training.checkpoint import CHECKPOINT_FORMAT, save_checkpoint


class Brighter(Method):
    """A method the package does not know: every frame one grey level brighter (adding a method is one class)."""

    name, kind, description = "brighter", "classical", "one grey level up"

    def deblur(self, frames):
        return np.clip(frames.blurred.astype(int) + 1, 0, 255).astype(np.uint8), {"offset": 1}


class Refuses(Method):
    name, kind, description = "refuses", "learned", "cannot grade anything"

    def deblur(self, frames):
        raise NotGraded("no model for these frames")


@pytest.fixture
def frames(rng):
    sharp = np.stack([natural_like(rng, 48, 64) for _ in range(3)])
    files = [f"s/{k}.png" for k in range(3)]
    val = ValidationFrames(np.stack([natural_like(rng, 48, 64) for _ in range(2)]))
    return {b: FrameSet("test", b, EVAL_BLURS[b], sharp, np.stack([blur_uint8(s, b) for s in sharp]), files, val,
                        stand_in=True) for b in ("b", "c", "s1.2")}


def test_rows_hold_skimages_psnr_and_ssim_of_every_frame_and_pool_weights_by_frames(frames):
    rows = grade([Identity(), Brighter()], frames.values(), progress=False)
    assert [(r.method, r.blur) for r in rows] == [(m, b) for m in ("identity", "brighter") for b in ("b", "c", "s1.2")]
    for r in rows:
        f = frames[r.blur]
        out = f.blurred if r.method == "identity" else np.clip(f.blurred.astype(int) + 1, 0, 255).astype(np.uint8)
        assert r.psnr_db == pytest.approx([peak_signal_noise_ratio(s, o) for s, o in zip(f.sharp, out)], rel=1e-12)
        assert r.ssim == pytest.approx([structural_similarity(s, o, channel_axis=-1, data_range=255)
                                        for s, o in zip(f.sharp, out)], rel=1e-12)
        assert r.kind in KINDS and r.files == f.files and r.seconds >= 0
    assert by_method(rows)["brighter"]["b"].notes == {"offset": 1}
    every = [v for r in rows if r.method == "identity" for v in r.psnr_db]
    assert pool(r.summary for r in rows if r.method == "identity")["psnr_db"] == pytest.approx(np.mean(every))
    worst = worst_frames(rows)
    assert worst["identity"]["c"]["worst_gain_db"] == 0 and set(worst["brighter"]) == {"b", "c", "s1.2"}


def test_graded_from_pngs_the_numbers_are_those_of_the_arrays(frames, tmp_path):
    """A set with ``save_to`` writes each method's frames as PNGs and grades them back like the course's
    script: PNG is lossless, so the rows equal those graded from the arrays."""
    f = frames["b"]
    on_disk = FrameSet(f.name, f.blur, f.kernel, f.sharp, f.blurred, f.files, f.val, save_to=tmp_path)
    for rel, s in zip(f.files, f.sharp):
        write_png_atomic(tmp_path / "_sharp" / rel, s)
    a, b = grade([Brighter()], [f], progress=False)[0], grade([Brighter()], [on_disk], progress=False)[0]
    assert (tmp_path / "brighter" / "b" / "s" / "0.png").exists()
    assert a.psnr_db == b.psnr_db and a.ssim == b.ssim and a.files == b.files


def test_a_method_that_cannot_grade_a_set_gets_no_row_and_its_reason_is_kept(frames):
    skipped = {}
    rows = grade([Refuses(), Identity()], [frames["b"]], progress=False, skipped=skipped)
    assert [r.method for r in rows] == ["identity"] and skipped == {"refuses": "no model for these frames"}


def test_a_model_per_preset_stands_in_at_the_nearest_preset_only_where_the_set_allows(frames, tmp_path):
    ckpts = {}
    for p in ("b", "c"):
        torch.manual_seed(0)
        model = build_model("resnet", width=4, blocks=1)
        ckpts[p] = tmp_path / f"{p}.pt"
        save_checkpoint(ckpts[p], {"format": CHECKPOINT_FORMAT, "model": "resnet", "model_kwargs": {"width": 4, "blocks": 1},
                                   "weights": model.state_dict(), "parameters": 1, "minutes": 0.0, "epoch": 0, "step": 0})
    per_preset = Learned("per_preset", ckpts, Models("cpu"), ["b", "c"])
    rows = by_method(grade([per_preset], frames.values(), progress=False))["per_preset"]
    assert set(rows) == {"b", "c", "s1.2"} and rows["s1.2"].notes["stand_in"] == "b"
    assert rows["s1.2"].notes["checkpoint"] == str(ckpts["b"]) and "stand_in" not in rows["b"].notes
    strict = FrameSet("sweep", "1.2", EVAL_BLURS["s1.2"], frames["b"].sharp, frames["s1.2"].blurred, frames["b"].files)
    assert not per_preset.covers(strict)  # the sweep grades models of every preset only
    with pytest.raises(NotGraded, match="not a blind Wiener network"):
        GivenSigmaRow("given", per_preset, "true_sigma").deblur(frames["b"])


def test_a_classical_method_tunes_its_knob_once_per_kernel_on_the_validation_frames(frames):
    wiener = Classical("wiener", "wiener", [0.001, 0.01, 0.1])
    near = Classical("wiener_nearest", "wiener", [0.001, 0.01, 0.1], told="nearest_preset")
    rows = by_method(grade([wiener, near], frames.values(), progress=False))
    assert rows["wiener"]["b"].notes["balance"] in (0.001, 0.01, 0.1)
    assert rows["wiener_nearest"]["s1.2"].notes["told"] == "b"  # sigma 1.2 is nearest preset b's 1.0
    assert rows["wiener_nearest"]["s1.2"].notes["balance"] == rows["wiener"]["b"].notes["balance"]
    assert set(wiener._tuned) == {(PRESETS[p].kernel_size, PRESETS[p].sigma) for p in ("b", "c")} | {(7, 1.2)}
