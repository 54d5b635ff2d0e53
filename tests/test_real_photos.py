"""The real-photo test set: where each photo comes from, how it becomes 256x448 frames, and its licence."""
import json

import numpy as np
from PIL import Image

from deblur_utils.data import ladder, real_photos
from deblur_utils.data.blur import EVAL_BLURS, blur_uint8

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: some-wallpapers

Files: *
Copyright: 2010 Somebody <a@b.c>
License: GPL-2+

Files: 16.04/photo_by_Someone.jpg
Copyright: Someone Else <x@y.z>, 2018
License: CC-BY-4.0

Files: nature/Storm.jpg
       nature/Other.jpg
Copyright: 2008, Sergey
License: GPL-2+
Comment: see AUTHORS
"""


def fake_package(root, name, files, size=(1300, 2200)):
    """A package unpacked as dpkg-deb -x leaves it: the photos, its copyright file, and the VERSION
    file that fetch writes."""
    rng = np.random.default_rng(0)
    pkg = root / name
    for f in files:
        path = pkg / f.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 256, (size[0] // 50 + 1, size[1] // 50 + 1, 3)).astype(np.uint8)
        Image.fromarray(base).resize(size[::-1], Image.Resampling.BICUBIC).save(path, quality=95)
    doc = pkg / "usr/share/doc" / name
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    (pkg / "VERSION").write_text("1.2-3\n")
    return pkg


def test_licences_come_from_the_packages_copyright_file(tmp_path):
    pkg = fake_package(tmp_path, "p", [])
    assert real_photos.licence_of(pkg, "p", "/usr/share/backgrounds/photo_by_Someone.jpg") == \
        {"licence": "CC-BY-4.0", "copyright": "Someone Else, 2018"}  # moved by the package: matched by name
    assert real_photos.licence_of(pkg, "p", "/usr/share/backgrounds/mate/nature/Other.jpg")["licence"] == "GPL-2+"
    assert real_photos.licence_of(pkg, "p", "/usr/share/backgrounds/unlisted.jpg") == \
        {"licence": "GPL-2+", "copyright": "2010 Somebody"}  # the catch-all stanza; e-mail addresses dropped


def test_views_keep_the_frames_aspect_and_the_first_is_the_whole_photo():
    boxes = real_photos.views(np.empty((2448, 4352, 0)), 3, 256, 448)
    y, x, h, w = boxes[0]
    assert (h, w) == (2448, round(2448 * 448 / 256)) and x == (4352 - w) // 2
    for y, x, h, w in boxes[1:]:
        assert abs(w / h - 448 / 256) < 0.01 and (h, w) == (boxes[0][2] // 2, boxes[0][3] // 2)
        assert 0 <= y <= 2448 - h and 0 <= x <= 4352 - w


def test_build_writes_downscaled_frames_their_blurs_and_the_manifest(tmp_path, monkeypatch):
    photos = (real_photos.Photo("one", "p", "/usr/share/backgrounds/photo_by_Someone.jpg", "test"),
              real_photos.Photo("two", "q", "/usr/share/backgrounds/mate/nature/Storm.jpg", "test"),
              real_photos.Photo("gone", "r", "/usr/share/backgrounds/missing.jpg", "test"))
    monkeypatch.setitem(real_photos.SETS, "test", photos)
    monkeypatch.setattr(real_photos, "SYSTEM_ROOT", tmp_path / "nothing-installed")
    src = tmp_path / "debian"
    fake_package(src, "p", [photos[0].file])
    fake_package(src, "q", [photos[1].file], size=(1400, 2100))
    manifest = real_photos.build(frames_per_photo=2, source=src, progress=False)
    assert [e["photo"] for e in manifest["photos"]] == ["one", "two"] and manifest["missing"] == ["gone"]
    assert manifest["photos"][0]["licence"] == "CC-BY-4.0" and manifest["photos"][1]["version"] == "1.2-3"
    assert manifest["photos"][1]["original_size"] == [1400, 2100]
    data = real_photos.load()
    assert data["sharp"].shape == (4, 256, 448, 3) and data["sharp"].dtype == np.uint8
    for b, blur in EVAL_BLURS.items():  # each blur exactly the 8-bit OpenCV Gaussian of the sharp frame
        assert np.array_equal(data[b][1], blur_uint8(data["sharp"][1], blur))
    photo = np.asarray(Image.open(src / "p" / photos[0].file.lstrip("/")).convert("RGB"))
    y, x, h, w = manifest["photos"][0]["frames"][0]["crop"]
    expected = real_photos.downscale(photo, (y, x, h, w), 256, 448)
    assert np.array_equal(data["sharp"][0], expected)
    stamp = (real_photos.real_dir() / "sharp" / data["files"][0]).stat().st_mtime_ns
    again = real_photos.build(frames_per_photo=2, source=src, progress=False)  # a rerun rewrites nothing
    assert again == manifest and (real_photos.real_dir() / "sharp" / data["files"][0]).stat().st_mtime_ns == stamp
    assert json.loads((real_photos.real_dir() / "manifest.json").read_text())["note"].startswith("test only")


def test_without_the_packages_there_is_no_set(tmp_path, monkeypatch):
    monkeypatch.setattr(real_photos, "SYSTEM_ROOT", tmp_path / "nothing-installed")
    assert real_photos.build(source=tmp_path / "empty", progress=False) is None
    assert real_photos.load() is None


def test_the_grading_blur_between_presets_is_7x7_sigma_1_2():
    import cv2

    frame = np.random.default_rng(5).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    ref = cv2.GaussianBlur(frame, (7, 7), 1.2, borderType=cv2.BORDER_REFLECT_101)
    assert np.abs(blur_uint8(frame, "s1.2").astype(int) - ref).max() <= 1
    assert list(EVAL_BLURS) == ["a", "b", "c", "s1.2"]


def test_training_photos_become_sequences_of_the_training_split_with_their_source(tmp_path, monkeypatch):
    photos = (real_photos.Photo("kde_one", "t", "/usr/share/wallpapers/One/contents/images/2560x1600.jpg", "x"),
              real_photos.Photo("kde_gone", "t", "/usr/share/wallpapers/Gone/contents/images/2560x1600.jpg", "x"))
    monkeypatch.setattr(real_photos, "SYSTEM_ROOT", tmp_path / "nothing-installed")
    src = tmp_path / "debian"
    fake_package(src, "t", [photos[0].file], size=(1600, 2560))
    raw = tmp_path / "raw"
    got = real_photos.write_training_sequences(raw, 3, source=src, photos=photos)
    assert got["missing"] == ["kde_gone"]
    assert got["photos"] == [{"sequence": "kde_one", "split": "train", "package": "t", "version": "1.2-3",
                              "file": photos[0].file, "kind": "x", "licence": "GPL-2+", "copyright": "2010 Somebody"}]
    frames = sorted((raw / "kde_one").glob("*.png"))
    assert [f.name for f in frames] == ["00000000.png", "00000001.png", "00000002.png"]
    photo = np.asarray(Image.open(src / "t" / photos[0].file.lstrip("/")).convert("RGB"))
    boxes = ladder.spread(photo.shape, 3, 256, 448)  # 1x, 2.4x, 5.7x: never enlarged
    assert [b[2] for b in boxes] == [256, 612, 1463]
    for f, box in zip(frames, boxes):  # the same reduction as the real-photo sets'
        assert np.array_equal(np.asarray(Image.open(f)), real_photos.downscale(photo, box, 256, 448))
    stamp = frames[0].stat().st_mtime_ns
    assert real_photos.write_training_sequences(raw, 3, source=src, photos=photos) == got  # a rerun writes nothing
    assert frames[0].stat().st_mtime_ns == stamp


def test_every_training_photo_comes_from_a_package_no_graded_or_validation_photo_comes_from():
    graded = {p.package for p in real_photos.PHOTOS + real_photos.VAL_PHOTOS}
    assert real_photos.TRAIN_PHOTOS and not graded & {p.package for p in real_photos.TRAIN_PHOTOS}
    assert set(real_photos.PACKAGES) >= {p.package for p in real_photos.TRAIN_PHOTOS}  # fetch unpacks it
