"""deblur on the pictures people have: a file or a folder; grey, RGBA, 16-bit, JPEG, EXIF-rotated, palette;
each written back in kind; large pictures in tiles within one grey level of the whole; a size-invariant
gate; and a report of what was done to each."""
import json

import cv2
import numpy as np
import pytest
import torch
from helpers import natural_like
from PIL import Image

from deblur_utils.cli import main
from deblur_utils.data.blur import blur_uint8
from deblur_utils.data.imageio import encode_png
from deblur_utils.data.pictures import read_picture
from deblur_utils.networks.estimator import tile_quantile
from deblur_utils.networks.registry import build_model
from deblur_utils.training import pictures
from deblur_utils.training.checkpoint import CHECKPOINT_FORMAT, save_checkpoint

KWARGS = {"width": 8, "blocks": 1, "est_tile": 32, "gate_lo": 0.6, "keep_below": 0.7}


def blind_checkpoint(path, reads: float):
    """A blind Wiener network whose estimator reads ``reads`` on every tile (its last bias), refiner
    untrained (the output is the Wiener deconvolution at that sigma, gated)."""
    torch.manual_seed(0)
    model = build_model("blind_wiener", **KWARGS)
    for head in (model.estimator.mlp, *model.estimator.more):
        torch.nn.init.zeros_(head[-1].weight)
        torch.nn.init.constant_(head[-1].bias, float(np.log(reads)))
    save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "model": "blind_wiener", "model_kwargs": KWARGS,
                           "weights": model.state_dict(), "parameters": 1, "config": {"sigma_range": [0.25, 2.4]}})
    return model


@pytest.fixture
def inputs(tmp_path, rng):
    """A folder of the kinds of pictures people have, each blurred at b."""
    d = tmp_path / "in"
    d.mkdir()
    rgb = blur_uint8(natural_like(rng, 60, 80), "b")
    Image.fromarray(rgb[..., 0]).save(d / "grey.png")
    Image.fromarray(np.dstack([rgb, np.arange(60 * 80, dtype=np.uint8).reshape(60, 80)])).save(d / "rgba.png")
    sixteen = (rgb.astype(np.uint16) * 257 + rng.integers(0, 257, rgb.shape).astype(np.uint16))
    cv2.imwrite(str(d / "deep.png"), sixteen[..., ::-1])
    Image.fromarray(rgb).save(d / "photo.jpg", quality=95)
    rotated = Image.fromarray(rgb)
    exif = rotated.getexif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    rotated.save(d / "phone.jpg", exif=exif.tobytes(), quality=95)
    Image.fromarray(rgb).convert("P").save(d / "anim.gif")
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk")
    return d, rgb, sixteen


def test_each_kind_comes_back_in_kind_and_what_cannot_is_said_once(inputs, tmp_path, capsys):
    d, rgb, sixteen = inputs
    blind_checkpoint(tmp_path / "m.pt", reads=1.0)
    out = tmp_path / "out"
    assert main(["deblur", "--checkpoint", str(tmp_path / "m.pt"), str(d), str(out),
                 "--report", str(tmp_path / "r.json")]) == 1  # one picture skipped: the broken PNG
    printed = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["anim.png", "deep.png", "grey.png", "phone.jpg", "photo.jpg",
                                                     "rgba.png"]
    grey = Image.open(out / "grey.png")
    assert grey.mode == "L" and grey.size == (80, 60)
    rgba = read_picture(out / "rgba.png")
    assert np.array_equal(rgba.alpha, np.arange(60 * 80, dtype=np.uint8).reshape(60, 80))  # the alpha untouched
    assert not np.array_equal(rgba.rgb, rgb)  # the colour deblurred
    deep = read_picture(out / "deep.png")
    assert deep.bits == 16 and deep.rgb.shape == sixteen.shape
    assert np.any(deep.rgb % 257)  # deblurred in floating point: not 8-bit values scaled up
    assert Image.open(out / "photo.jpg").format == "JPEG"
    phone = Image.open(out / "phone.jpg")
    assert phone.size == (60, 80) and phone.getexif().get(0x0112, 1) == 1  # turned upright, said so in the tag
    assert printed.out.count("anim.gif: GIF is written as PNG") == 1
    assert "skipped:" in printed.err and "broken.png" in printed.err
    assert "6 deblurred (0 of them read as sharp" in printed.out and "1 skipped" in printed.out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["counts"] == {"deblurred": 6, "sharp": 0, "unchanged": 0, "skipped": 1}
    done = {r["input"].rsplit("/", 1)[-1]: r for r in report["pictures"]}
    assert done["deep.png"]["sigma"] == pytest.approx(1.0, rel=1e-4) and done["deep.png"]["gate"] == 1.0
    assert done["deep.png"]["picture"] == "80x60 RGB, 16-bit PNG"
    # --format png: every picture as PNG, 16 bits kept
    assert main(["deblur", "--checkpoint", str(tmp_path / "m.pt"), str(d / "photo.jpg"), str(tmp_path / "one"),
                 "--format", "png"]) == 0
    assert Image.open(tmp_path / "one" / "photo.png").format == "PNG"


def test_one_picture_to_a_file_and_what_the_gate_did_is_said(tmp_path, rng, capsys):
    sharp = natural_like(rng, 60, 80)
    Image.fromarray(sharp).save(tmp_path / "sharp.png")
    Image.fromarray(np.full((60, 80, 3), 128, np.uint8)).save(tmp_path / "flat.png")
    blind_checkpoint(tmp_path / "low.pt", reads=0.3)
    assert main(["deblur", "--checkpoint", str(tmp_path / "low.pt"), str(tmp_path / "sharp.png"),
                 str(tmp_path / "res" / "done.png")]) == 0
    said = capsys.readouterr().out
    assert (tmp_path / "res" / "done.png").exists() and "sharp (read as sharp (sigma 0.30 below the gate's 0.6)" in said
    assert main(["deblur", "--checkpoint", str(tmp_path / "low.pt"), str(tmp_path / "flat.png"),
                 str(tmp_path / "res")]) == 0
    said = capsys.readouterr().out
    assert "unchanged (preset a's blur leaves it unchanged" in said and "1 unchanged" in said
    assert np.array_equal(np.asarray(Image.open(tmp_path / "res" / "flat.png")), np.full((60, 80, 3), 128, np.uint8))
    assert main(["deblur", "--checkpoint", str(tmp_path / "low.pt"), str(tmp_path / "res"),
                 str(tmp_path / "res" / "x")]) == 2
    assert "must not be IN" in capsys.readouterr().err


def test_a_16_bit_picture_returned_unchanged_is_bit_for_bit_itself(tmp_path, capsys):
    flat = np.full((40, 50), 40000, np.uint16)
    cv2.imwrite(str(tmp_path / "flat16.png"), flat)
    blind_checkpoint(tmp_path / "low.pt", reads=0.3)
    assert main(["deblur", "--checkpoint", str(tmp_path / "low.pt"), str(tmp_path / "flat16.png"),
                 str(tmp_path / "out")]) == 0
    assert np.array_equal(cv2.imread(str(tmp_path / "out" / "flat16.png"), cv2.IMREAD_UNCHANGED), flat)


def test_a_16_bit_picture_is_read_at_8_bits_and_deblurred_at_16(tmp_path, rng, monkeypatch):
    """The estimate learned blur from 8-bit frames: read at 16 bits, a clean picture lacks the rounding floor of
    their spectrum and reads a stronger blur (1.55 for 1.0). It reads the picture rounded to 8 bits."""
    blurred = blur_uint8(natural_like(rng, 60, 80), "b")
    deep = blurred.astype(np.uint16) * 257 + rng.integers(0, 257, blurred.shape).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep[..., ::-1])
    blind_checkpoint(tmp_path / "m.pt", reads=1.0)
    seen, real = [], pictures.tile_log_sigmas
    monkeypatch.setattr(pictures, "tile_log_sigmas", lambda model, picture, device: seen.append(picture) or
                        real(model, picture, device))
    for flags in ([], ["--one-blur"]):
        seen.clear()
        assert main(["deblur", "--checkpoint", str(tmp_path / "m.pt"), *flags, str(tmp_path / "deep.png"),
                     str(tmp_path / "out")]) == 0
        assert seen and all(np.array_equal(p * 255, np.rint(deep / 257.0)) for p in seen)  # the 8-bit rounding
        out = read_picture(tmp_path / "out" / "deep.png")
        assert out.bits == 16 and np.any(out.rgb % 257)  # the 16 bits deblurred


def test_a_large_picture_in_tiles_is_the_whole_within_one_grey_level(rng, monkeypatch):
    """Tiles share the reading of the whole picture; the memory budget sets their side. Within 32 pixels of the
    picture's own border a strong blur's Wiener inverse (reflection, then the FFT's wrap) differs between
    the whole and a tile (scoring the same, docs/running.md): compared inside that border."""
    torch.manual_seed(0)  # the refiner's weights, whatever ran before
    model = build_model("blind_wiener", **KWARGS).eval()
    torch.nn.init.normal_(model.tail.weight, std=0.01)
    picture = blur_uint8(natural_like(rng, 300, 520), "c").astype(np.float32) / 255
    whole, reading = pictures.deblur_picture(model, picture, "cpu", tile=0, progress=False)
    monkeypatch.setattr(pictures, "free_memory", lambda device: 4 * pictures.bytes_per_pixel(model) * 300 ** 2)
    assert pictures.tile_side(model, "cpu") == 300  # a quarter of the free memory: 300 x 300 pixels
    windows = list(pictures._windows(300, 520, 300, 64))
    tiled, tiled_reading = pictures.deblur_picture(model, picture, "cpu", progress=False)
    assert len(windows) == 8 and float(tiled_reading.sigma) == float(reading.sigma)
    a, b = np.rint(whole * 255)[32:-32, 32:-32], np.rint(tiled * 255)[32:-32, 32:-32]
    assert np.abs(a - b).max() <= 1 and (a != b).mean() < 0.01


def test_the_gate_reads_a_quantile_so_a_pictures_size_does_not_shut_it(monkeypatch):
    """On a frame's 8 tiles the gate's statistic is the sharpest tile; on a picture of hundreds of tiles
    drawn from the same content it stays where a frame's sharpest is, where the minimum falls."""
    gen = torch.Generator().manual_seed(0)
    frame = torch.randn(1, 8, generator=gen) * 0.1
    assert tile_quantile(frame, 0.0625) == frame.min()
    frames = torch.randn(500, 8, generator=gen) * 0.1
    big = frames.reshape(1, -1)
    typical_sharpest = frames.min(1).values.median()
    assert abs(float(tile_quantile(big, 0.0625) - typical_sharpest)) < 0.05
    assert float(big.min()) < float(typical_sharpest) - 0.15


def test_names_with_dots_keep_them_and_two_pictures_never_share_an_output(tmp_path, rng, capsys):
    """Only the suffix is replaced ("shot.v2.png" stays "shot.v2"); "a.png" and "a.gif" both go out as
    PNG, the second in order ("a.png") under a name of its own, said in a note."""
    d = tmp_path / "in"
    d.mkdir()
    for name in ("shot.v2.png", "a.png", "a.gif"):
        Image.fromarray(natural_like(rng, 60, 80)).save(d / name)
    blind_checkpoint(tmp_path / "m.pt", reads=1.0)
    assert main(["deblur", "--checkpoint", str(tmp_path / "m.pt"), str(d), str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "a_png.png", "shot.v2.png"]
    assert "written as a_png.png: a.png is another picture's" in capsys.readouterr().out
    assert main(["deblur", "--checkpoint", str(tmp_path / "m.pt"), str(d / "shot.v2.png"), str(tmp_path / "o2")]) == 0
    assert [p.name for p in (tmp_path / "o2").iterdir()] == ["shot.v2.png"]


def test_what_people_have_that_a_frame_is_not(tmp_path, rng, capsys):
    """A lossless WebP stays lossless; a colour profile stays in a PNG; a CMYK JPEG comes back RGB without
    its CMYK profile; 16-bit grey + alpha stays grey + alpha; the frames after an animation's first are
    said to be dropped; a picture with a side under MIN_SIDE, and one returned unchanged, is the file
    itself, copied; and none of these stops the folder."""
    from PIL import ImageCms

    d = tmp_path / "in"
    d.mkdir()
    rgb = blur_uint8(natural_like(rng, 60, 80), "b")
    Image.fromarray(rgb).save(d / "lossless.webp", lossless=True)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(rgb).save(d / "tagged.png", icc_profile=srgb)
    cmyk_header = bytes(36) + b"acsp" + bytes(88)  # a CMYK profile no transform can be built from
    cmyk_header = len(cmyk_header).to_bytes(4, "big") + cmyk_header[4:16] + b"CMYK" + cmyk_header[20:]
    Image.fromarray(rgb).convert("CMYK").save(d / "print.jpg", quality=95, icc_profile=cmyk_header)
    grey_alpha = np.dstack([rgb[..., 0].astype(np.uint16) * 257, np.full((60, 80), 50000, np.uint16)])
    (d / "ga16.png").write_bytes(encode_png(grey_alpha))
    frames = [Image.fromarray(np.full((60, 80, 3), v, np.uint8)).convert("P") for v in (10, 200, 90)]
    frames[0].save(d / "moving.gif", save_all=True, append_images=frames[1:])
    Image.fromarray(rgb[:5, :7]).save(d / "tiny.png")
    Image.fromarray(rgb[:6, :6]).save(d / "pair.gif")  # both tiny; pair.png is copied under a name of its own
    Image.fromarray(rgb[:6, :6]).save(d / "pair.png")
    blind_checkpoint(tmp_path / "m.pt", reads=1.0)
    out = tmp_path / "out"
    assert main(["deblur", "--checkpoint", str(tmp_path / "m.pt"), str(d), str(out),
                 "--report", str(tmp_path / "r.json")]) == 0
    said = capsys.readouterr().out
    assert b"VP8L" in (out / "lossless.webp").read_bytes()[:64]
    assert Image.open(out / "tagged.png").info.get("icc_profile") == srgb
    printed = Image.open(out / "print.jpg")
    assert printed.mode == "RGB" and not printed.info.get("icc_profile")
    assert "print.jpg: CMYK is written as RGB, its colour profile unusable (dropped)" in said
    ga = cv2.imread(str(out / "ga16.png"), cv2.IMREAD_UNCHANGED)  # OpenCV gives grey + alpha as 4 channels
    assert ga.dtype == np.uint16 and np.array_equal(ga[..., 3], grey_alpha[..., 1])
    assert np.array_equal(ga[..., 0], ga[..., 1]) and np.array_equal(ga[..., 1], ga[..., 2])
    assert (out / "ga16.png").read_bytes()[25] == 4  # PNG colour type 4: grey + alpha
    assert "moving.gif: only the first of its 3 frames is deblurred and written" in said
    report = {r["input"].rsplit("/", 1)[-1]: r for r in json.loads((tmp_path / "r.json").read_text())["pictures"]}
    assert report["tiny.png"]["status"] == "unchanged" and "too small to deblur (7x5" in report["tiny.png"]["reason"]
    assert (out / "tiny.png").read_bytes() == (d / "tiny.png").read_bytes()  # the file itself
    assert (out / "pair_png.png").read_bytes() == (d / "pair.png").read_bytes()
    assert report["pair.png"]["notes"] == ["written as pair_png.png: pair.png is another picture's"]
    Image.fromarray(np.full((60, 80, 3), 128, np.uint8)).save(tmp_path / "flat.jpg", quality=80)
    blind_checkpoint(tmp_path / "low.pt", reads=0.3)  # a fixed point of preset a's blur, read below keep_below
    assert main(["deblur", "--checkpoint", str(tmp_path / "low.pt"), str(tmp_path / "flat.jpg"), str(out)]) == 0
    assert "unchanged (preset a's blur leaves it unchanged" in capsys.readouterr().out
    assert (out / "flat.jpg").read_bytes() == (tmp_path / "flat.jpg").read_bytes()  # not encoded again
    # OUT above IN, where IN/in/x.png would be written over IN/x.png: refused before anything is written
    (d / "in").mkdir()
    Image.fromarray(rgb).save(d / "in" / "tagged.png")
    before = (d / "tagged.png").read_bytes()
    assert main(["deblur", "--checkpoint", str(tmp_path / "m.pt"), str(d), str(tmp_path)]) == 2
    assert "into IN, as" in capsys.readouterr().err
    assert (d / "tagged.png").read_bytes() == before


def test_a_16_bit_colour_png_without_opencv_names_what_to_install(tmp_path, monkeypatch):
    """The file is fine, OpenCV is missing: the message says what to install, not to replace the file."""
    import sys

    from deblur_utils.data.imageio import ImageReadError

    (tmp_path / "deep.png").write_bytes(encode_png(np.full((20, 30, 3), 40000, np.uint16)))
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 raises ImportError
    with pytest.raises(ImageReadError) as err:
        read_picture(tmp_path / "deep.png")
    assert "pip install opencv-python-headless" in str(err.value) and "Replace or delete" not in str(err.value)


def test_a_phones_mpo_is_a_jpeg_an_animated_lossless_webp_is_lossless_and_16_bit_cmyk_is_refused(tmp_path):
    import tifffile

    from deblur_utils.data.imageio import ImageReadError

    frames = [Image.fromarray(np.full((40, 50, 3), v, np.uint8)) for v in (30, 160)]
    frames[0].save(tmp_path / "phone.jpg", format="MPO", save_all=True, append_images=frames[1:])
    assert Image.open(tmp_path / "phone.jpg").format == "MPO"
    phone = read_picture(tmp_path / "phone.jpg")
    assert phone.format == "JPEG" and phone.notes == []
    frames[0].save(tmp_path / "moving.webp", save_all=True, append_images=frames[1:], lossless=True)
    moving = read_picture(tmp_path / "moving.webp")
    assert moving.lossless and moving.notes == ["only the first of its 2 frames is deblurred and written"]
    tifffile.imwrite(tmp_path / "print.tif", np.full((20, 30, 4), 30000, np.uint16), photometric="separated")
    with pytest.raises(ImageReadError, match="a 16-bit CMYK TIFF, which is not read here"):
        read_picture(tmp_path / "print.tif")


def test_the_resolution_and_exif_are_kept_and_what_is_not_is_said(tmp_path, rng, capsys):
    from PIL import PngImagePlugin

    blurred = blur_uint8(natural_like(rng, 40, 56), "b")
    d = tmp_path / "in"
    d.mkdir()
    text = PngImagePlugin.PngInfo()
    text.add_text("Title", "a test")
    Image.fromarray(blurred).save(d / "scan.png", dpi=(300, 300), pnginfo=text)
    photo = Image.fromarray(blurred)
    exif = photo.getexif()
    exif[0x010F] = "a camera maker"
    photo.save(d / "photo.jpg", dpi=(72, 144), exif=exif.tobytes(), quality=95)
    Image.fromarray(blurred).save(d / "page.tif", dpi=(600, 600), description="a page")
    blind_checkpoint(tmp_path / "m.pt", reads=1.0)
    for flags, out in (([], tmp_path / "out"), (["--format", "png"], tmp_path / "png")):
        assert main(["deblur", "--checkpoint", str(tmp_path / "m.pt"), *flags, str(d), str(out)]) == 0
        said = capsys.readouterr().out
        assert "scan.png: its PNG text (Title) is not kept" in said
        assert "page.tif: its TIFF tags ImageDescription are not kept" in said
        for name, dpi in (("scan", (300, 300)), ("photo", (72, 144)), ("page", (600, 600))):
            written = Image.open(next(out.glob(name + ".*")))
            assert tuple(round(v) for v in written.info["dpi"]) == dpi
        assert Image.open(next(out.glob("photo.*"))).getexif()[0x010F] == "a camera maker"  # in PNG too (eXIf)


def test_a_name_cut_for_its_temporary_file_keeps_whole_characters():
    import os

    from deblur_utils.runtime.atomic import NAME_MAX, temporary_prefix

    name = "写真" * 60 + ".png"  # 364 bytes: more than a temporary name may hold
    prefix = temporary_prefix(name, ".png")
    assert len(os.fsencode(prefix)) + 8 + 4 <= NAME_MAX and prefix.encode("utf-8")  # valid UTF-8
    assert name.startswith(prefix[1:-1]) and temporary_prefix("a.png", ".png") == ".a.png."
