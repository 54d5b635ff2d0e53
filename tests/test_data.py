"""Set A / Set B writing: layout, idempotence, atomicity, bad input, and the split by sequence."""
import json

import numpy as np
import pytest
import torch
from helpers import make_raw, natural_like
from PIL import Image

from deblur_utils.data.blur import blur_uint8
from deblur_utils.data.cache import load_cached
from deblur_utils.data.dataset import PairedFrames
from deblur_utils.data.imageio import ImageReadError, encode_png, read_rgb, write_png_atomic
from deblur_utils.data.sets import make_splits, prepare_sets, save_splits
from deblur_utils.runtime import paths


def test_prepare_writes_set_a_resized_and_set_b_blurred(tmp_path, rng):
    raw = make_raw(tmp_path / "raw", rng)
    out = tmp_path / "proc"
    summary = prepare_sets(raw, out, progress=False)
    assert summary.n_frames == 6 and summary.written == 24
    sharp = read_rgb(out / "sharp" / "s1" / "000.png")
    assert sharp.shape == (256, 448, 3)
    for p in "abc":
        np.testing.assert_array_equal(read_rgb(out / f"blur_{p}" / "s1" / "000.png"), blur_uint8(sharp, p))


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (6, 9, 1), (33, 17, 3), (4, 3, 4), (256, 448, 3)])
def test_png_encoder_is_lossless_and_readable_by_pillow_and_scikit_image(tmp_path, rng, shape):
    import skimage.io

    image = rng.integers(0, 256, shape, dtype=np.uint8)
    image[0] = 255  # the first row is stored as is, the others as differences that wrap around
    path = tmp_path / "x.png"
    write_png_atomic(path, image)
    with Image.open(path) as img:
        img.load()
        assert img.size == (shape[1], shape[0]) and img.format == "PNG"
        np.testing.assert_array_equal(np.asarray(img).reshape(shape), image)
    np.testing.assert_array_equal(skimage.io.imread(path).reshape(shape), image)
    assert not list(tmp_path.glob(".*"))


def test_png_encoder_compresses_photos_and_refuses_what_png_cannot_hold(tmp_path, rng):
    from deblur_utils.data import embedded

    photo = read_rgb(embedded.photo_path(*next(iter(embedded.PHOTOS.values()))))
    assert len(encode_png(photo)) < 0.8 * photo.nbytes
    for bad, what in ((photo.astype(np.float32), "uint8"), (np.dstack([photo, photo[..., :2]]), "shape"),
                      (photo[:0], "shape")):
        with pytest.raises(ValueError, match=what):
            write_png_atomic(tmp_path / "bad.png", bad)
    assert not (tmp_path / "bad.png").exists()


def test_rerun_skips_finished_files_and_completes_missing_ones(tmp_path, rng):
    raw = make_raw(tmp_path / "raw", rng)
    out = tmp_path / "proc"
    prepare_sets(raw, out, progress=False)
    victim = out / "blur_c" / "s2" / "001.png"
    mtime = (out / "sharp" / "s1" / "000.png").stat().st_mtime_ns
    victim.unlink()
    summary = prepare_sets(raw, out, progress=False)
    assert summary.written == 1 and victim.exists()
    assert (out / "sharp" / "s1" / "000.png").stat().st_mtime_ns == mtime
    assert not list(out.rglob("*.tmp"))


def test_jpeg_flat_folder_grey_rgba_palette_16bit_are_converted(tmp_path, rng):
    raw = tmp_path / "raw"
    raw.mkdir()
    rgb = natural_like(rng, 120, 200)
    Image.fromarray(rgb).save(raw / "photo.jpg", quality=95)
    Image.fromarray(rgb[..., 0]).save(raw / "grey.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])).save(raw / "rgba.png")
    Image.fromarray(rgb).convert("P").save(raw / "palette.png")
    Image.fromarray((rgb[..., 0].astype(np.uint16) * 257)).save(raw / "deep.png")
    out = tmp_path / "proc"
    summary = prepare_sets(raw, out, presets=["b"], progress=False)
    assert summary.n_frames == 5 and not summary.skipped
    assert read_rgb(raw / "deep.png")[..., 0].tolist() == rgb[..., 0].tolist()  # 16-bit v*257 -> v
    assert (out / "sharp" / "photo.png").exists()


def test_bad_files_are_skipped_and_listed_or_refused(tmp_path, rng):
    raw = make_raw(tmp_path / "raw", rng, seqs=("s1",), frames=1)
    (raw / "s1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    good = (raw / "s1" / "000.png").read_bytes()
    (raw / "s1" / "truncated.png").write_bytes(good[: len(good) // 2])
    summary = prepare_sets(raw, tmp_path / "proc", presets=["a"], progress=False)
    skipped = dict(summary.skipped)
    assert summary.n_frames == 1
    assert any("broken.png" in p for p in skipped) and any("truncated.png" in p for p in skipped)
    assert "broken.png" in str(summary)
    with pytest.raises(ImageReadError, match=r"broken.png: not a readable image.*on_bad_image='skip'"):
        prepare_sets(raw, tmp_path / "proc2", presets=["a"], on_bad_image="error", progress=False)


def test_worker_processes_write_the_same_files_and_list_bad_ones_in_order(tmp_path, rng):
    raw = make_raw(tmp_path / "raw", rng, seqs=("s1", "s2", "s3", "s4"), frames=5, size=(90, 160))
    (raw / "s2" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    one = prepare_sets(raw, tmp_path / "one", presets=["a", "c"], height=64, width=112, progress=False, workers=1)
    two = prepare_sets(raw, tmp_path / "two", presets=["a", "c"], height=64, width=112, progress=False, workers=2)
    assert (two.n_frames, two.written, two.frames, two.skipped) == (20, 60, one.frames, one.skipped)
    assert len(two.skipped) == 1 and two.skipped[0][0].endswith("broken.png")
    for f in (tmp_path / "one").rglob("*.png"):
        assert f.read_bytes() == (tmp_path / "two" / f.relative_to(tmp_path / "one")).read_bytes()
    (tmp_path / "two" / "blur_c" / "s3" / "002.png").unlink()
    again = prepare_sets(raw, tmp_path / "two", presets=["a", "c"], height=64, width=112, progress=False, workers=2)
    assert (again.written, again.already_done) == (1, 59)
    with pytest.raises(ImageReadError, match=r"broken.png: not a readable image.*on_bad_image='skip'"):
        prepare_sets(raw, tmp_path / "three", presets=["a"], height=64, width=112, on_bad_image="error",
                     progress=False, workers=2)
    with pytest.raises(ValueError, match="prepare_workers"):
        prepare_sets(raw, tmp_path / "four", workers=0, progress=False)


@pytest.mark.parametrize("setup,message", [
    ("missing", "does not exist"),
    ("empty", "holds no images"),
    ("only_text", "holds no images"),
])
def test_empty_or_missing_data_folder_is_named(tmp_path, setup, message):
    raw = tmp_path / "raw"
    if setup != "missing":
        raw.mkdir()
    if setup == "only_text":
        (raw / "notes.txt").write_text("hello")
    with pytest.raises((FileNotFoundError, NotADirectoryError), match=message) as err:
        prepare_sets(raw, tmp_path / "proc", progress=False)
    assert str(raw) in str(err.value)


def test_unknown_preset_is_refused_before_writing(tmp_path, rng):
    raw = make_raw(tmp_path / "raw", rng, seqs=("s1",), frames=1)
    with pytest.raises(ValueError, match="unknown blur preset 'z'"):
        prepare_sets(raw, tmp_path / "proc", presets=["z"], progress=False)
    assert not (tmp_path / "proc").exists()


def test_split_is_by_sequence_and_reproducible():
    seqs = [f"{i:03d}" for i in range(20)]
    a, b = make_splits(seqs, 0.15, 0.15, seed=3), make_splits(seqs, 0.15, 0.15, seed=3)
    assert a == b
    assert sorted(a["train"] + a["val"] + a["test"]) == seqs  # every sequence in exactly one split
    assert len(a["test"]) == 3 and len(a["val"]) == 3
    with pytest.raises(ValueError, match="only 2 sequence.*need at least 3"):
        make_splits(["only", "two"])


def test_paired_dataset_pairs_each_frame_with_each_blur(tmp_path, rng):
    raw = make_raw(tmp_path / "raw", rng, seqs=("s1", "s2", "s3"), frames=2)
    out = tmp_path / "proc"
    prepare_sets(raw, out, progress=False)
    save_splits(out, {"train": ["s1", "s2"], "val": ["s3"], "test": []})
    arrays = load_cached(out, "train")
    assert arrays["sharp"].shape == (4, 256, 448, 3) and arrays["sharp"].dtype == np.uint8
    ds = PairedFrames(arrays)
    assert len(ds) == 4 * 3
    blurred, sharp, p = ds[5]  # frame 1, preset c
    assert p == 2 and blurred.dtype == sharp.dtype == torch.uint8  # floats are made on the training device
    np.testing.assert_array_equal(blurred.permute(1, 2, 0).numpy(), arrays["c"][1])
    np.testing.assert_array_equal(sharp.permute(1, 2, 0).numpy(), arrays["sharp"][1])
    crops = PairedFrames(arrays, crop_size=48, augment=True)
    assert crops[0][0].shape == (3, 48, 48)
    with pytest.raises(ValueError, match="crop_size 300 is larger than the 256x448 frames"):
        PairedFrames(arrays, crop_size=300)


def test_cache_is_rebuilt_when_a_png_changes(tmp_path, rng):
    raw = make_raw(tmp_path / "raw", rng, seqs=("s1", "s2", "s3"), frames=1)
    out = tmp_path / "proc"
    prepare_sets(raw, out, progress=False)
    save_splits(out, {"train": ["s1"], "val": [], "test": []})
    first = np.array(load_cached(out, "train")["sharp"])
    write_png_atomic(out / "sharp" / "s1" / "000.png", 255 - first[0])
    np.testing.assert_array_equal(load_cached(out, "train")["sharp"][0], 255 - first[0])


def test_missing_blurred_copy_is_named(tmp_path, rng):
    raw = make_raw(tmp_path / "raw", rng, seqs=("s1", "s2", "s3"), frames=1)
    out = tmp_path / "proc"
    prepare_sets(raw, out, progress=False)
    save_splits(out, {"train": ["s1"], "val": [], "test": []})
    (out / "blur_b" / "s1" / "000.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"Set B \(b\) are missing.*blur_b/s1/000.png.*rerun notebook 01"):
        load_cached(out, "train")


def test_embedded_default_builds_offline_with_disjoint_photo_splits():
    from deblur_utils import params
    from deblur_utils.data.embedded import SPLITS
    from deblur_utils.steps.prepare import prepare

    P = params.load_params("ci")
    result = prepare(P, progress=False)
    splits = json.loads(paths.splits_path().read_text())
    assert set(splits["test"]).isdisjoint(splits["train"]) and set(splits["val"]).isdisjoint(splits["train"])
    assert splits["test"] == SPLITS["test"]
    frames = sorted((paths.sharp_dir() / "astronaut").glob("*.png"))
    assert len(frames) == P.frames_per_sequence and read_rgb(frames[0]).shape == (256, 448, 3)
    assert result["summary"].n_frames == len(list(paths.embedded_raw_dir().rglob("*.png")))


def test_a_processed_folder_refuses_frames_made_with_other_settings(tmp_path, rng):
    raw = make_raw(tmp_path / "raw", rng, seqs=("s1",), frames=1)
    other = make_raw(tmp_path / "other", rng, seqs=("t1",), frames=1)
    prepare_sets(raw, tmp_path / "proc", presets=["b"], progress=False)
    with pytest.raises(ValueError, match=r"built with other settings .*raw_dir.*make clean"):
        prepare_sets(other, tmp_path / "proc", presets=["b"], progress=False)
    with pytest.raises(ValueError, match=r"built with other settings .*'height': \(256, 128\)"):
        prepare_sets(raw, tmp_path / "proc", presets=["b"], height=128, progress=False)


def test_training_photos_join_the_training_split_and_a_missing_one_is_flagged(tmp_path, monkeypatch):
    """The recipe's Debian training photos become training sequences with their source in the manifest;
    one not found is recorded, and the report's title page says the numbers are below the recipe's."""
    from test_real_photos import fake_package

    from deblur_utils import params
    from deblur_utils.data import real_photos
    from deblur_utils.report import title
    from deblur_utils.steps.prepare import prepare, training_photos_missing

    photos = (real_photos.Photo("kde_one", "t", "/usr/share/wallpapers/One/contents/images/2560x1600.jpg", "x"),
              real_photos.Photo("kde_gone", "t", "/usr/share/wallpapers/Gone/contents/images/2560x1600.jpg", "x"))
    monkeypatch.setattr(real_photos, "TRAIN_PHOTOS", photos)
    monkeypatch.setattr(real_photos, "SYSTEM_ROOT", tmp_path / "nothing-installed")
    monkeypatch.setattr(real_photos, "external_dir", lambda: tmp_path / "debian")
    fake_package(tmp_path / "debian", "t", [photos[0].file], size=(800, 1400))
    P = params.load_params("ci", training_photos=True, real_photos=False)
    result = prepare(P, progress=False)
    assert "kde_one" in result["splits"]["train"] and "kde_one" not in result["splits"]["val"] + result["splits"]["test"]
    assert len(list((paths.sharp_dir() / "kde_one").glob("*.png"))) == P.training_views_per_photo
    row = [r for r in result["manifest"]["training_validation_test"] if r["sequence"] == "kde_one"]
    assert row and row[0]["package"] == "t" and row[0]["licence"] == "GPL-2+" and row[0]["split"] == "train"
    assert training_photos_missing() == ["kde_gone"]
    page = title.title_markdown({"methods": {}, "presets": ["a"], "param_set": "default",
                                 "training_photos_missing": training_photos_missing()}, {}, [])
    assert "Trained without 1 of the recipe's training photos** (kde_gone" in page and "below the recipe's" in page
    assert "Trained without" not in title.title_markdown({"methods": {}, "presets": ["a"], "param_set": "default"},
                                                         {}, [])


def test_embedded_training_frames_are_reduced_never_enlarged_and_a_stale_recipe_is_rebuilt(tmp_path):
    from deblur_utils.data import embedded, ladder

    raw = tmp_path / "raw"
    (raw / "camera").mkdir(parents=True)
    (raw / "camera" / "00000000.png").write_bytes(b"a frame cut another way")
    embedded.build_embedded_raw(raw, 2, 256, 448, sequences=["camera", "coins", "gravel"])
    camera = read_rgb(embedded.photo_path(*embedded.PHOTOS["camera"]))
    y, x, h, w = ladder.spread(camera.shape, 2)[0]
    assert (h, w) == (256, 448)  # the photo's own pixels first
    assert np.array_equal(read_rgb(raw / "camera" / "00000000.png"), camera[y:y + h, x:x + w])
    assert not (raw / "coins").exists()  # 303x384: smaller than a frame, never enlarged
    assert len(list((raw / "gravel").glob("*.png"))) == 2  # validation: the zooming sequence as before
    assert (raw / ".recipe").read_text().strip() == embedded.RECIPE
    rows = {r["sequence"]: r["split"] for r in embedded.manifest()}
    assert rows["coins"].startswith("unused") and rows["camera"] == "train"
